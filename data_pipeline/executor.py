"""Run a build on Dask: plan -> streamed (ingest -> dedup decisions -> finalize) -> manifest + card.

Why this shape: one Dask task per shard and phase (``submit`` with ``retries``) returning small
stats, so the client never holds images. The phases are streamed: ingest runs in a bounded window
in plan order, and shard k is deduplicated and finalized as soon as shards 0..k are staged (dedup is
"first in plan order wins", so its decisions are final then), so writing overlaps fetching and
target-count mode stops fetching early. Resume is owned here: committed shards (valid stats file)
are skipped, temp files of interrupted writes are removed, persisted dedup decisions are reused,
and a task whose worker died is retried by the scheduler and, being idempotent, rewrites its shard
from scratch. Target-count mode stops *issuing* tasks once enough samples are committed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.atomic import remove_stale_tmp
from data_pipeline.errors import DataPipelineError

if TYPE_CHECKING:
    from distributed import Client

    from data_pipeline.recipe import Recipe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterOptions:
    scheduler: str | None = None  # tcp://host:8786
    scheduler_file: str | None = None
    workers: int | None = None  # LocalCluster size (processes, 1 thread each)
    processes: bool = True
    retries: int = 2
    max_in_flight: int | None = None  # ingest tasks, and finalize tasks, in flight at once (default 2 per worker)
    start_method: str | None = None  # LocalCluster worker processes: fork (Linux default) | forkserver | spawn


@dataclass(frozen=True)
class BuildSummary:
    out_dir: str
    n_shards: int
    n_planned_shards: int
    n_inputs: int
    n_accepted: int
    resumed: bool
    skipped_shards: int
    reasons: dict[str, int]


#: Worker-side modules, imported once in the client before a fork start so every worker inherits them.
#: pandas is there because pyarrow imports it on the first table it builds (~0.45 s per process).
WORKER_MODULES = ("PIL.Image", "PIL.ImageOps", "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "urllib3",
                  "pyarrow.parquet", "pandas", "data_pipeline.stages.ingest", "data_pipeline.stages.finalize",
                  "data_pipeline.decode", "data_pipeline.fetch", "data_pipeline.writers.shard",
                  "data_pipeline.filters", "imagehash", "scipy.fftpack")


def _warm_imports(modules: tuple[str, ...]) -> None:
    """Why: with the ``fork`` start method a worker inherits the client's imported modules, so
    importing them once here replaces one import per worker process (about 0.5 s of CPU each for
    distributed + Pillow + pyarrow + scipy), which on a 2-core machine is a visible share of a build.
    A missing optional module is skipped: the worker will report it when it really needs it."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - optional extras
            log.debug("not pre-importing %s", name)


@contextlib.contextmanager
def dask_client(opts: ClusterOptions, preload: tuple[str, ...] = ()) -> Iterator[Client]:
    """Connect to an existing scheduler, or start a LocalCluster that is closed on exit.

    LocalCluster workers are forked on Linux (``start_method``): spawning a fresh interpreter per
    worker re-imports distributed and every worker-side library, about 1.5 s of CPU per build on 2
    cores. The cluster is started before the plan is built so forked workers do not inherit (and,
    through the garbage collector touching them, copy) a large plan. ``spawn`` stays available.
    """
    from distributed import Client, LocalCluster

    if opts.scheduler or opts.scheduler_file:
        try:
            client = Client(opts.scheduler, scheduler_file=opts.scheduler_file, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise DataPipelineError(f"Cannot connect to the Dask scheduler {opts.scheduler or opts.scheduler_file}: {exc}",
                                    "check the address / scheduler file, or omit it to start a local cluster") from None
        log.info("Connected to Dask scheduler %s; dashboard: %s", client.scheduler.address, client.dashboard_link)
        try:
            yield client
        finally:
            client.close()
        return
    import os
    import sys

    import dask

    n = opts.workers or max(1, (os.cpu_count() or 2))
    method = opts.start_method or ("fork" if sys.platform == "linux" and opts.processes else None)
    if method == "fork":
        _warm_imports(preload)
    config = {"distributed.worker.multiprocessing-method": method} if method else {}
    with dask.config.set(config), LocalCluster(n_workers=n, threads_per_worker=1, processes=opts.processes,
                                               dashboard_address=":0", silence_logs=logging.WARNING) as cluster, \
            Client(cluster) as client:
        log.info("Started LocalCluster with %d worker(s) (%s); dashboard: %s", n, method or "default start",
                 client.dashboard_link)
        yield client


def _progress(total: int, desc: str, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="shard", dynamic_ncols=True, leave=True)


def run_build(recipe: Recipe, out_dir: str | Path, opts: ClusterOptions | None = None,
              client: Client | None = None) -> BuildSummary:
    """Build (or resume) the data set described by ``recipe`` into ``out_dir``."""
    opts = opts or ClusterOptions()
    out = Path(out_dir)
    t_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if client is None:  # before the plan: forked workers start lean (see dask_client)
            client = stack.enter_context(dask_client(opts, preload=WORKER_MODULES))
        done = _run(recipe, out, opts, client, t_start)
        # Shutting a LocalCluster down is mostly waiting for worker processes to exit: do it in the
        # background while the manifest and card (rebuilt from the committed stats files only) are
        # written, instead of one after the other.
        shutdown = stack.pop_all()
    closer = threading.Thread(target=shutdown.close, name="dask-shutdown", daemon=True)
    closer.start()
    try:
        manifest = _finish(recipe, done.plan, out)
    finally:
        closer.join()
    t_plan, t_work, t_dedup, t_end = done.timings
    log.info("Timings: cluster+plan %.2fs, ingest+dedup+write (streamed) %.2fs of which client dedup %.2fs, "
             "cluster close + manifest/card %.2fs", t_plan, t_work, t_dedup, time.perf_counter() - t_end)
    target = recipe.target_accepted
    if target and manifest["n_accepted"] < target:
        log.warning("Only %d accepted of the %d targeted: the sources ran out.", manifest["n_accepted"], target)
    return BuildSummary(str(out), manifest["n_shards"], len(done.plan.shards), manifest["n_inputs"],
                        manifest["n_accepted"], done.resumed, done.n_committed, manifest["reasons"])


def _run(recipe: Recipe, out: Path, opts: ClusterOptions, client: Client, t_start: float) -> _Done:
    """Streamed phases: ingest tasks in a bounded window (plan order); each time the plan-order prefix
    of staged shards grows, the new shards' dedup decisions are computed (client side, carried state)
    and persisted, and their finalize tasks are issued. See README "Flow" for the bounds."""
    from distributed import as_completed

    from data_pipeline.plan import prepare_plan
    from data_pipeline.stages.dedup_pass import DEDUP_DIR, IncrementalDedup
    from data_pipeline.stages.finalize import finalize_shard
    from data_pipeline.stages.ingest import STAGE_DIR, ingest_shard, read_stage_stats
    from data_pipeline.writers.shard import read_committed_stats

    plan, resumed = prepare_plan(recipe, out)
    (out / STAGE_DIR).mkdir(exist_ok=True)
    n_tmp = sum(remove_stale_tmp(d) for d in (out, out / STAGE_DIR, out / STAGE_DIR / DEDUP_DIR) if d.exists())
    if n_tmp:
        log.info("Removed %d temp file(s) of interrupted writes", n_tmp)
    committed = {s.index: st for s in plan.shards if (st := read_committed_stats(out, s.index)) is not None}
    n_committed0 = len(committed)
    staged = {s.index for s in plan.shards if s.index not in committed and read_stage_stats(out, s.index)}
    to_ingest = deque(s.index for s in plan.shards if s.index not in committed and s.index not in staged)
    log.info("Plan: %d inputs in %d shards (%s); %d committed, %d staged, %d to ingest",
             plan.n_inputs, len(plan.shards), "resumed" if resumed else "new", len(committed), len(staged),
             len(to_ingest))
    target = recipe.target_accepted
    accepted = sum(st["n_accepted"] for st in committed.values())
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = opts.max_in_flight or 2 * n_workers  # ingest tasks in flight; also finalize tasks in flight
    max_open = 3 * window  # shards ingesting or staged but not committed: bounds disk use and target overshoot

    out_s, fp = str(out), plan.fingerprint[:8]
    dedup = IncrementalDedup(out, recipe.filters)
    ready: deque[tuple[int, dict]] = deque()  # decided, waiting for a finalize slot (plan order)
    ingesting: dict[str, int] = {}
    finalizing: dict[str, int] = {}
    t_dedup = 0.0

    def target_reached() -> bool:
        return bool(target) and accepted >= target

    def advance_dedup() -> None:
        """Decide every shard whose plan-order prefix is now staged (committed ones: replay only)."""
        nonlocal t_dedup
        t0 = time.perf_counter()
        while dedup.next_index < len(plan.shards):
            idx = dedup.next_index
            if idx in committed:
                if dedup.load(idx) is None and dedup.filters:
                    raise DataPipelineError(f"committed shard {idx:05d} has no persisted dedup decisions in {out}",
                                            "build into a fresh output folder (this one was changed by hand)")
                continue
            if idx not in staged:
                break
            dups = dedup.decide(idx)
            ids = {r.id for r in plan.shards[idx].records}
            ready.append((idx, {k: v for k, v in dups.items() if k in ids}))
        t_dedup += time.perf_counter() - t0

    def fill(ac: Any) -> None:
        while ready and len(finalizing) < window and not target_reached():
            idx, dups = ready.popleft()
            fut = client.submit(finalize_shard, idx, recipe, out_s, dups, retries=opts.retries, pure=False,
                                priority=1, key=f"finalize-{idx:05d}-{fp}")
            finalizing[fut.key] = idx
            ac.add(fut)
        n_open = len(ingesting) + len(staged)
        while to_ingest and len(ingesting) < window and n_open < max_open and not target_reached():
            shard = plan.shards[to_ingest.popleft()]
            fut = client.submit(ingest_shard, shard, recipe=recipe, out_dir=out_s, retries=opts.retries,
                                pure=False, key=f"ingest-{shard.name}-{fp}")
            ingesting[fut.key] = shard.index
            ac.add(fut)
            n_open += 1

    t_work0 = time.perf_counter()
    n_fetched = 0
    with _progress(len(plan.shards), "shards", len(committed)) as bar:
        if len(committed) < len(plan.shards):  # a finished job re-run has nothing to decide
            advance_dedup()
        pending = as_completed()
        fill(pending)
        for fut in pending:
            st = fut.result()
            if fut.key in ingesting:
                staged.add(ingesting.pop(fut.key))
                n_fetched += st["n_inputs"]
                advance_dedup()
            else:
                idx = finalizing.pop(fut.key)
                staged.discard(idx)
                committed[idx] = st
                accepted += st["n_accepted"]
                bar.update(1)
            bar.set_postfix(ingested=n_fetched, accepted=accepted, staged=len(staged), refresh=False)
            fill(pending)
    if target_reached() and staged:
        log.info("Target reached: %d staged shard(s) left uncommitted (a larger target resumes from them)",
                 len(staged))
    t_end = time.perf_counter()
    timings = (t_work0 - t_start, t_end - t_work0, t_dedup, t_end)
    return _Done(plan, resumed, n_committed0, timings)


@dataclass(frozen=True)
class _Done:
    plan: Any  # ShardPlan
    resumed: bool
    n_committed: int
    timings: tuple[float, ...]


def _finish(recipe: Recipe, plan: Any, out: Path) -> dict[str, Any]:
    """Rebuild the manifest from the committed stats files, then the card."""
    from data_pipeline.card import write_card
    from data_pipeline.writers.manifest import build_manifest, write_manifest
    from data_pipeline.writers.shard import read_committed_stats

    stats = [st for s in plan.shards if (st := read_committed_stats(out, s.index)) is not None]
    manifest = build_manifest(stats, recipe.to_dict(), plan.fingerprint, len(plan.shards), plan.n_inputs)
    write_manifest(out, manifest)
    write_card(out, manifest, [w for st in stats for w in st.get("caption_words", [])])
    return manifest
