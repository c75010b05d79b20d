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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.atomic import remove_stale_tmp
from data_pipeline.errors import DataPipelineError

if TYPE_CHECKING:
    from distributed import Client

    from data_pipeline.plan import ShardPlan
    from data_pipeline.recipe import ImageConfig, Recipe

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


#: Worker-side modules, imported once by the fork server (``worker_preload``) so workers start warm.
#: pandas is there because pyarrow imports it on the first table it builds (~0.45 s per process).
#: recipe and plan are there because unpickling a task's arguments imports them (pydantic: ~0.2 s),
#: pyarrow.dataset because ``pq.read_table`` imports it, the five Pillow plugins because the first
#: ``Image.open`` does (``Image.preinit``).
WORKER_MODULES = ("distributed", "PIL.Image", "PIL.ImageOps", "PIL.BmpImagePlugin", "PIL.GifImagePlugin",
                  "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "PIL.PpmImagePlugin", "urllib3",
                  "pyarrow.parquet", "pyarrow.dataset", "pandas", "data_pipeline.recipe", "data_pipeline.plan",
                  "data_pipeline.stages.ingest", "data_pipeline.stages.finalize", "data_pipeline.decode",
                  "data_pipeline.preflight", "data_pipeline.writers.sample_schema",
                  "data_pipeline.fetch", "data_pipeline.writers.shard", "data_pipeline.filters.aspect",
                  "data_pipeline.filters.size", "imagehash", "scipy.fftpack", "data_pipeline.fast_bilinear",
                  "data_pipeline.fast_jpeg", "simplejpeg")
#: What the fork server imports: the module that imports ``WORKER_MODULES`` and then freezes the GC.
WORKER_PRELOAD = "data_pipeline.worker_preload"


def local_start_method(opts: ClusterOptions) -> str | None:
    """How LocalCluster starts worker processes: ``forkserver`` where available (POSIX), else Dask's
    default (spawn). Why not plain ``fork``: the client is multi-threaded by then (Dask's IO loop),
    and a child forked from a multi-threaded process can inherit a lock held by another thread (one
    of our builds had a forked worker stall for ten minutes while starting a thread, consistent with
    that; it did not reproduce). The fork server is a fresh single-threaded
    interpreter that imports ``WORKER_MODULES`` once and forks each worker from that warm state."""
    import multiprocessing

    if opts.scheduler or opts.scheduler_file or not opts.processes:
        return None
    if opts.start_method:
        return opts.start_method
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None


def start_worker_server(opts: ClusterOptions, image: ImageConfig | None = None) -> None:
    """Start the fork server now, so it imports the worker-side modules on another core while this
    process imports Dask, reads the recipe and writes the plan (start-up is a visible share of a
    small build on 2 cores). Idempotent; a no-op unless the local cluster will use ``forkserver``.

    Dask's pre-spawn environment (``OMP_NUM_THREADS=1``, ...; not ``MALLOC_TRIM_THRESHOLD_``, see
    ``unified_bench.core.dask_workers``) is applied here because a fork server only passes on the
    environment it was started with.

    ``image``: the recipe's image settings; when its resize runs through torch (``fast_bilinear``), the
    fork server imports torch too (first, before ``worker_preload`` freezes the heap)."""
    if local_start_method(opts) != "forkserver":
        return
    import multiprocessing
    import os
    from multiprocessing import forkserver

    for key, value in _pre_spawn_environ().items():
        if value is not None:
            os.environ.setdefault(key, str(value))
    from data_pipeline.fast_bilinear import preload_modules

    multiprocessing.get_context("forkserver").set_forkserver_preload([*preload_modules(image), WORKER_PRELOAD])
    forkserver.ensure_running()


def _pre_spawn_environ() -> dict[str, Any]:
    """``distributed.nanny.pre-spawn-environ`` without importing distributed (~0.3 s, which the
    fork server is meant to take off this process): its packaged defaults, then the user's Dask
    config (loaded by ``import dask``) on top."""
    import importlib.util

    import dask
    import yaml

    spec = importlib.util.find_spec("distributed")
    defaults: dict[str, Any] = {}
    if spec is not None and spec.origin:
        packaged = yaml.safe_load(Path(spec.origin).with_name("distributed.yaml").read_text())
        defaults = packaged.get("distributed", {}).get("nanny", {}).get("pre-spawn-environ") or {}
    from unified_bench.core.dask_workers import without_unset

    return without_unset({**defaults, **(dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {})})


@contextlib.contextmanager
def dask_client(opts: ClusterOptions, image: ImageConfig | None = None) -> Iterator[Client]:
    """Connect to an existing scheduler, or start a LocalCluster that is closed on exit.
    ``image``: the recipe's image settings (what the fork server preloads: ``start_worker_server``).

    LocalCluster workers are forked by a fork server that pre-imported the worker-side libraries
    (``worker_preload``; see ``local_start_method``); ``--start-method spawn`` stays available.
    """
    if opts.scheduler or opts.scheduler_file:
        from distributed import Client

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

    start_worker_server(opts, image)  # no-op when already started by the CLI
    import dask
    from distributed import Client, LocalCluster

    from unified_bench.core.dask_workers import LOCAL_WORKER_CONFIG

    n = opts.workers or max(1, (os.cpu_count() or 2))
    method = local_start_method(opts)
    if method == "forkserver":
        _skip_dask_forkserver_preload()
    config = {"distributed.worker.multiprocessing-method": method} if method else {}
    # for the cluster's whole life: a worker that dies is replaced by a new Nanny reading the config then
    with dask.config.set({**config, **LOCAL_WORKER_CONFIG}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=opts.processes,
                               dashboard_address=":0", silence_logs=logging.WARNING)
        try:
            with Client(cluster) as client:
                log.info("Started LocalCluster with %d worker(s) (%s); dashboard: %s", n,
                         method or "default start", client.dashboard_link)
                yield client
        finally:
            cluster.close()


def _skip_dask_forkserver_preload() -> None:
    """Dask sets its own fork-server preload list on first use, importing numpy, pandas and lz4 in
    *this* process to do so (~0.2 s). Ours is already running with a superset, so mark Dask's as
    done. Harmless if the private flag moves: Dask then just imports those modules here."""
    try:
        import distributed.utils as dask_utils
    except ImportError:  # pragma: no cover
        return
    if hasattr(dask_utils, "_forkserver_preload_set"):
        dask_utils._forkserver_preload_set = True


def _progress(total: int, desc: str, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="shard", dynamic_ncols=True, leave=True)


def run_build(recipe: Recipe, out_dir: str | Path, opts: ClusterOptions | None = None,
              client: Client | None = None) -> BuildSummary:
    """Build (or resume) the data set described by ``recipe`` into ``out_dir``."""
    opts = opts or ClusterOptions()
    # Absolute: on a cluster every worker resolves a relative path against its own working directory.
    out = Path(out_dir).expanduser().resolve()
    t_start = time.perf_counter()
    from data_pipeline.card import preload_plotting
    from data_pipeline.locking import build_lock
    from data_pipeline.plan import prepare_plan
    from data_pipeline.preflight import check_workers

    out.mkdir(parents=True, exist_ok=True)
    finisher = ThreadPoolExecutor(1, thread_name_prefix="manifest")
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(build_lock(out))
            # The plan is read and written while the fork server is still importing (start_worker_server).
            plan, resumed = prepare_plan(recipe, out)
            threading.Thread(target=preload_plotting, name="preload-card", daemon=True).start()
            if client is None:
                client = stack.enter_context(dask_client(opts, recipe.image))
            check_workers(client, recipe, out, plan)  # shared folder, local sources, API key: before any ingest
            done = _run(recipe, out, plan, resumed, opts, client, t_start)
            # Shutting a LocalCluster down is mostly waiting for worker processes to exit: the
            # manifest and card (rebuilt from the committed stats files only) are written meanwhile
            # in a helper thread. The cluster is closed in this thread, the one that opened it
            # (Dask keeps the "current client" in a context variable only this thread may reset).
            finished = finisher.submit(_finish, recipe, plan, out)
        manifest = finished.result()
    finally:
        finisher.shutdown()
    t_plan, t_work, t_dedup, t_end = done.timings
    log.info("Timings: cluster+plan %.2fs, ingest+dedup+write (streamed) %.2fs of which client dedup %.2fs, "
             "cluster close + manifest/card %.2fs", t_plan, t_work, t_dedup, time.perf_counter() - t_end)
    target = recipe.target_accepted
    if done.deferred:
        log.warning("%d shard(s) were not committed because the captioner was unreachable (%s). They stay "
                    "staged: re-run the same command once the endpoint is back to caption them.",
                    len(done.deferred), done.outage)
    elif target and manifest["n_accepted"] < target:
        log.warning("Only %d accepted of the %d targeted: the sources ran out.", manifest["n_accepted"], target)
    return BuildSummary(str(out), manifest["n_shards"], plan.n_shards, manifest["n_inputs"],
                        manifest["n_accepted"], resumed, done.n_committed, manifest["reasons"])


def _run(recipe: Recipe, out: Path, plan: ShardPlan, resumed: bool, opts: ClusterOptions, client: Client,
         t_start: float) -> _Done:
    """Streamed phases: ingest tasks in a bounded window (plan order); each time the plan-order prefix
    of staged shards grows, the new shards' dedup decisions are computed (client side, carried state)
    and persisted, and their finalize tasks are issued. See README "Flow" for the bounds.

    Only shard indices are held here: each ingest task reads its shard's records from the shard's plan
    file on its worker. A shard is ingested as pieces (``stages.ingest.PIECE_SIZE`` records each: its
    tasks), staged separately; it counts as staged once every piece is, and pieces staged by an
    interrupted build are not ingested again."""
    from distributed import as_completed

    from data_pipeline.stages.dedup_pass import DEDUP_DIR, IncrementalDedup
    from data_pipeline.stages.finalize import finalize_shard
    from data_pipeline.stages.ingest import (
        STAGE_DIR,
        ingest_shard,
        n_pieces,
        read_piece_stats,
        read_stage_stats,
    )
    from data_pipeline.writers.shard import read_committed_stats

    (out / STAGE_DIR).mkdir(exist_ok=True)
    n_tmp = sum(remove_stale_tmp(d) for d in (out, out / STAGE_DIR, out / STAGE_DIR / DEDUP_DIR) if d.exists())
    if n_tmp:
        log.info("Removed %d temp file(s) of interrupted writes", n_tmp)
    n_shards = plan.n_shards
    # shard -> its accepted count (not its stats: a committed shard's stats carry every caption's length)
    committed = {i: st["n_accepted"] for i in range(n_shards) if (st := read_committed_stats(out, i)) is not None}
    for idx in committed:  # a client killed between a commit and its stage removal
        remove_stage(out, idx)
    n_committed0 = len(committed)
    per_shard = recipe.sharding.samples_per_shard

    def pieces_of(idx: int) -> int:
        """Shard ``idx``'s ingest tasks: the plan cuts fixed-size shards, the last one holds the rest."""
        return n_pieces(min(per_shard, plan.n_inputs - idx * per_shard))

    staged = {i for i in range(n_shards) if i not in committed and read_stage_stats(out, i, pieces_of(i))}
    to_ingest = deque((i, k) for i in range(n_shards) if i not in committed and i not in staged
                      for k in range(pieces_of(i)) if read_piece_stats(out, i, k) is None)
    # shard -> its pieces not staged yet; and the dedup hashes of those this run ingests (a shard whose
    # pieces were all ingested here is decided from them, one with resumed pieces reads its stage back)
    missing: dict[int, int] = {}
    for i, _ in to_ingest:
        missing[i] = missing.get(i, 0) + 1
    piece_hashes: dict[int, dict[int, list[list[str]]]] = {}
    log.info("Plan: %d inputs in %d shards (%s); %d committed, %d staged, %d to ingest (%d task(s))",
             plan.n_inputs, n_shards, "resumed" if resumed else "new", len(committed), len(staged),
             len(missing), len(to_ingest))
    target = recipe.target_accepted
    accepted = sum(committed.values())

    def window() -> int:
        """Ingest tasks in flight, and finalize tasks in flight: 2 per worker registered *now*, so
        workers that join a running build (a batch queue granting nodes late) are used."""
        return opts.max_in_flight or 2 * current_workers(client)

    out_s, fp = str(out), plan.fingerprint[:8]
    dedup = IncrementalDedup(out, recipe.filters)
    try:  # the dedup index's SQLite connection closes here, never in a garbage collection at a random
        # moment (one finalised inside an in-process worker's profiler sample deadlocked CPython)
        ready: deque[tuple[int, dict]] = deque()  # decided, waiting for a finalize slot (plan order)
        ingesting: dict[str, tuple[int, int]] = {}  # task key -> (shard, piece)
        staged_hashes: dict[int, list[list[str]]] = {}  # from ingest results, until the shard is decided
        finalizing: dict[str, int] = {}
        deferred: list[int] = []  # finalize found the captioner down: shard stays staged for a re-run
        outage = ""
        t_dedup = 0.0

        def target_reached() -> bool:
            return bool(target) and accepted >= target

        def advance_dedup() -> None:
            """Decide every shard whose plan-order prefix is now staged (committed ones: replay only)."""
            nonlocal t_dedup
            t0 = time.perf_counter()
            while dedup.next_index < n_shards:
                idx = dedup.next_index
                if idx in committed:
                    if dedup.load(idx) is None and dedup.filters:
                        raise DataPipelineError(f"committed shard {idx:05d} has no persisted dedup decisions in {out}",
                                                "build into a fresh output folder (this one was changed by hand)")
                    continue
                if idx not in staged:
                    break
                # the decisions are about the hashes fed in, i.e. this shard's samples only
                # pieces: a shard staged before this run has no hashes here; they are read back from its pieces
                ready.append((idx, dedup.decide(idx, staged_hashes.pop(idx, None), pieces_of(idx))))
            t_dedup += time.perf_counter() - t0

        def fill(ac: Any) -> None:
            if outage:  # the captioner is down: issue nothing more, let what runs finish
                return
            w = window()
            max_open = 3 * w  # shards ingesting or staged but not committed: bounds disk use and target overshoot
            while ready and len(finalizing) < w and not target_reached():
                idx, dups = ready.popleft()
                fut = client.submit(finalize_shard, idx, recipe, out_s, dups, pieces_of(idx), retries=opts.retries,
                                    pure=False, priority=1, key=f"finalize-{idx:05d}-{fp}")
                finalizing[fut.key] = idx
                ac.add(fut)
            open_shards = {i for i, _ in ingesting.values()} | staged
            while to_ingest and len(ingesting) < w and not target_reached():
                idx, piece = to_ingest[0]  # the worker reads the shard's records from its plan file
                if idx not in open_shards and len(open_shards) >= max_open:
                    break
                to_ingest.popleft()
                fut = client.submit(ingest_shard, idx, recipe=recipe, out_dir=out_s, piece=piece,
                                    retries=opts.retries, pure=False, key=f"ingest-{idx:05d}-p{piece:03d}-{fp}")
                ingesting[fut.key] = (idx, piece)
                ac.add(fut)
                open_shards.add(idx)

        t_work0 = time.perf_counter()
        n_fetched = 0
        with _progress(n_shards, "shards", len(committed)) as bar:
            if len(committed) < n_shards:  # a finished job re-run has nothing to decide
                advance_dedup()
            pending = as_completed()
            fill(pending)
            for fut in pending:
                st = fut.result()
                fut.release()  # a consumed result must not be recomputed if the worker holding it dies
                if fut.key in ingesting:
                    idx, piece = ingesting.pop(fut.key)
                    piece_hashes.setdefault(idx, {})[piece] = st.pop("dedup_hashes", None)
                    n_fetched += st["n_inputs"]
                    missing[idx] -= 1
                    if not missing[idx]:  # its last piece: the shard is staged
                        del missing[idx]
                        staged.add(idx)
                        got = piece_hashes.pop(idx)
                        if len(got) == pieces_of(idx):  # else some were staged before: read back in decide
                            staged_hashes[idx] = [h for k in sorted(got) for h in got[k]]
                        advance_dedup()
                elif st.get("deferred"):
                    idx = finalizing.pop(fut.key)
                    deferred.append(idx)
                    outage = st["deferred"]
                    log.warning("Shard %05d deferred: %s", idx, outage)
                else:
                    idx = finalizing.pop(fut.key)
                    staged.discard(idx)
                    committed[idx] = st["n_accepted"]
                    accepted += st["n_accepted"]
                    # The stage is removed here, after the result is recorded, never by the task itself: a
                    # finalize recomputed after a worker died must still find its input (or the commit).
                    remove_stage(out, idx)
                    bar.update(1)
                bar.set_postfix(ingested=n_fetched, accepted=accepted, staged=len(staged), refresh=False)
                fill(pending)
        if target_reached() and staged:
            log.info("Target reached: %d staged shard(s) left uncommitted (a larger target resumes from them)",
                     len(staged))
        t_end = time.perf_counter()
        timings = (t_work0 - t_start, t_end - t_work0, t_dedup, t_end)
        return _Done(n_committed0, timings, tuple(sorted(deferred)), outage)
    finally:
        dedup.close()


@dataclass(frozen=True)
class _Done:
    n_committed: int
    timings: tuple[float, ...]
    deferred: tuple[int, ...] = ()
    outage: str = ""


def current_workers(client: Client) -> int:
    """Workers registered with the scheduler now (at least 1). ``n_workers=0``: the count only, not the
    per-worker details (asked after every finished task; a big cluster's details are large)."""
    info = client.scheduler_info(n_workers=0)
    return max(1, int(info.get("n_workers", len(info.get("workers", {})))))


def remove_stage(out: Path, index: int) -> None:
    """Drop a committed shard's staged pieces and stats (the dedup decisions stay: resume replays them)."""
    from data_pipeline.stages.ingest import shard_stage_files

    for p in shard_stage_files(out, index):
        p.unlink(missing_ok=True)


def _finish(recipe: Recipe, plan: ShardPlan, out: Path) -> dict[str, Any]:
    """Rebuild the manifest from the committed stats files, then the card. Caption lengths are
    gathered as 4-byte integers, not lists of Python ints (~36 bytes each: 0.7 GB at 10M samples)."""
    from array import array

    from data_pipeline.card import write_card
    from data_pipeline.writers.manifest import build_manifest, write_manifest
    from data_pipeline.writers.shard import read_committed_stats

    stats, words = [], array("I")
    for i in range(plan.n_shards):
        if (st := read_committed_stats(out, i)) is not None:
            words.extend(st.pop("caption_words", []))
            stats.append(st)
    manifest = build_manifest(stats, recipe.to_dict(), plan.fingerprint, plan.n_shards, plan.n_inputs,
                              recipe.transport())
    write_manifest(out, manifest)
    write_card(out, manifest, words)
    return manifest
