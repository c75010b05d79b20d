"""``evaluate(run, options)``: the one runner every task goes through.

Why one runner: the lifecycle of a run is the same for every benchmark and is where the hard
guarantees live (nothing half-written on bad input, a killed run resumes without recomputing
anything finished, the model is freed before scoring, every number traceable to its inputs).
Tasks declare requests and judge outputs (``unified_bench.tasks.base``); they never see any of this.

Order, and why:
1. resolve the task, its data set (validated) and the output folder (checked, nothing written);
2. load the model only if some stage needs one, check its capabilities, validate settings;
3. load the judges (a judge that cannot load fails here, still with nothing written; encoders are
   only described here and load their weights when scoring starts, after the model left);
4. create the run directory, run each stage in fixed batches through the executor
   (cache key = the producing component's identity + settings + inputs + seed + runtime),
   write generated images, re-validate cached ones on resume; after each stage release the weights
   no later stage needs (a composite's captioner before its generator loads); close the model;
5. judge the outputs in batches (cached the same way), close the judges;
6. build results (task's pure records and aggregation), task files, results.json, report,
   and finally ``COMPLETE``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unified_bench.core.atomic import atomic_write_bytes
from unified_bench.errors import SpecError
from unified_bench.models.base import Capability, ModelAdapter, check_capabilities
from unified_bench.results.build import build_results, stage_coverage
from unified_bench.results.schema import BenchmarkInfo, Results, SampleRecord, write_results
from unified_bench.runner.executor import (
    BatchCall,
    ConcurrentExecutor,
    Executor,
    LocalExecutor,
    check_lengths,
)
from unified_bench.runner.keys import cache_key, derive_seed
from unified_bench.runner.output_cache import OutputCache
from unified_bench.runner.run_dir import RunDir
from unified_bench.runner.stage import Pending, StageItem, StageSummary, run_stage
from unified_bench.specs import ExecutionOptions, RunSpec, RuntimeOptions
from unified_bench.tasks.base import Request, Stage, Task

log = logging.getLogger(__name__)

#: Builds the executor for a loaded adapter (a Dask executor plugs in here).
ExecutorFactory = Callable[[ModelAdapter, RunSpec], Executor]


@dataclass(frozen=True)
class Evaluation:
    """A finished run: where it lives and what it found."""

    run_dir: Path
    results: Results
    summaries: dict[str, StageSummary]


def _records_by_sample(records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for item_id, rec in records.items():
        out.setdefault(str(rec.get("sample_id", item_id)), {})[item_id] = rec
    return out


class _Outputs:
    """Stage outputs collected so far, looked up per sample (ok records only)."""

    def __init__(self) -> None:
        self.by_stage: dict[str, dict[str, dict[str, Any]]] = {}
        self._by_sample: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}

    def add(self, stage: str, records: Mapping[str, dict[str, Any]]) -> None:
        self.by_stage[stage] = dict(records)
        self._by_sample[stage] = _records_by_sample(records)

    def for_sample(self, sample_id: str, ok_only: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
        out = {}
        for stage, per_sample in self._by_sample.items():
            recs = per_sample.get(sample_id, {})
            out[stage] = {k: r for k, r in recs.items() if r.get("status") == "ok" or not ok_only}
        return out


def _image_on_disk(run_dir: Path) -> Callable[[dict[str, Any]], bool]:
    def valid(record: dict[str, Any]) -> bool:
        if "image" not in record:
            return True
        path = run_dir / record["image"]
        return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == record.get("sha256")

    return valid


def item_seed(base_seed: int, stage: str, item_id: str) -> int:
    """The seed of one request: a function of the run's seed, the stage and the item only.

    Why not the batch: adapters seed every item on its own (one generator per row), so an output
    never depends on batch size or neighbours, and a resumed run may use another batch size.
    """
    return derive_seed(base_seed, stage, item_id)


def producer_identity(adapter: ModelAdapter, kind: Capability) -> dict[str, Any]:
    """The identity of what produces ``kind``'s outputs, as it enters their cache keys.

    A component's ``role`` (unified / understanding / generation) is left out: it says how a
    checkpoint is used in this run, not what it computes, so Janus captioning on its own and Janus
    as the captioning half of ``Janus+SD`` share their captions (the captioner x generator matrix).
    """
    identity = adapter.identity_for(kind).to_dict()
    identity["components"] = [{k: v for k, v in c.items() if k != "role"} for c in identity["components"]]
    return identity


def _request_key(stage: Stage, req: Request, identity: dict[str, Any], runtime: RuntimeOptions) -> str:
    """Everything that changes this request's output, and nothing else (so outputs are shared).

    The batch size is not in it: outputs do not depend on it (per-item seeds)."""
    return cache_key(
        stage=stage.name,
        kind=stage.kind.value,
        model=identity,
        settings=stage.settings.to_dict(),
        images=[hashlib.sha256(b).hexdigest() for b in req.images],
        text=req.text,
        repeat=req.repeat,
        inputs=dict(req.key_parts),
        output_path=req.output_path,
        seed=runtime.seed,
        device=runtime.device.split(":")[0],
        dtype=runtime.dtype,
    )


def _stage_items(
    task: Task, stage: Stage, dataset: Any, outputs: _Outputs, identity: dict[str, Any], runtime: RuntimeOptions
) -> Iterator[StageItem[Request]]:
    for sample in dataset:
        for req in task.requests(stage, sample, outputs.for_sample(sample.id)):
            yield StageItem(
                req.item_id,
                _request_key(stage, req, identity, runtime),
                req,
                meta={"sample_id": req.sample_id, "repeat": req.repeat},
            )


def _run_model_stage(
    task: Task,
    stage: Stage,
    dataset: Any,
    outputs: _Outputs,
    executor: Executor,
    adapter: ModelAdapter,
    runtime: RuntimeOptions,
    run_dir: RunDir,
    show_progress: bool,
    shared: OutputCache | None = None,
) -> tuple[dict[str, dict[str, Any]], StageSummary]:
    identity = producer_identity(adapter, stage.kind)

    def call_for(batch: Sequence[StageItem[Request]]) -> BatchCall:
        seeds = tuple(item_seed(runtime.seed, stage.name, item.id) for item in batch)
        return BatchCall(stage.name, stage.kind, stage.settings, tuple(i.payload for i in batch), seeds)

    def store_outputs(batch: Sequence[StageItem[Request]], call: BatchCall, produced: list[dict[str, Any]]):
        check_lengths(call, produced)
        values = []
        for item, seed, out in zip(batch, call.seeds, produced, strict=True):
            value: dict[str, Any] = {"seed": seed}
            data = None
            if "png" in out:
                data = out["png"]
                rel = item.payload.output_path or f"{stage.name}/{item.id}.png"
                # Not fsynced: the fsynced record holds its sha256, checked on resume.
                atomic_write_bytes(run_dir.path / rel, data, durable=False)
                value.update(image=rel, sha256=hashlib.sha256(data).hexdigest(), size=out["size"])
            else:
                value["text"] = out["text"]
            if out.get("notes"):
                value["notes"] = out["notes"]
            if shared is not None:
                shared.put(_shared_key(item.key, seed), value, data)
            values.append(value)
        return values

    def compute(batch: Sequence[StageItem[Request]], index: int) -> list[dict[str, Any]]:
        call = call_for(batch)
        return store_outputs(batch, call, executor.run(call))

    submit = None
    if isinstance(executor, ConcurrentExecutor):
        concurrent = executor

        def submit(batch: Sequence[StageItem[Request]], index: int) -> Pending:
            call = call_for(batch)
            return _Stored(concurrent.submit(call), lambda produced: store_outputs(batch, call, produced))

    lookup = None
    if shared is not None:
        cache = shared

        def lookup(item: StageItem[Request]) -> dict[str, Any] | None:
            return cache.get(_shared_key(item.key, item_seed(runtime.seed, stage.name, item.id)), run_dir.path)

    return run_stage(
        stage.name,
        _stage_items(task, stage, dataset, outputs, identity, runtime),
        run_dir.store(stage.name),
        compute,
        runtime.batch_size,
        show_progress,
        validate=_image_on_disk(run_dir.path),
        total=len(dataset),
        submit=submit,
        max_in_flight=executor.max_in_flight if isinstance(executor, ConcurrentExecutor) else 1,
        lookup=lookup,
    )


def _shared_key(request_key: str, seed: int) -> str:
    """The shared cache's key: the request key plus the item's own seed. Why the seed: the request
    key names the inputs but not the item id, so two items with identical inputs (the same image
    twice in a data set) have one request key and different seeds, hence different outputs."""
    return cache_key(request=request_key, item_seed=seed)


class _Stored:
    """A submitted batch whose outputs are written (images, shared cache) when collected, by the
    client only: workers never touch the run directory."""

    def __init__(self, pending: Pending, store: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        self._pending = pending
        self._store = store

    def result(self) -> list[dict[str, Any]]:
        return self._store(self._pending.result())


def _release_done(
    executor: Executor, adapter: ModelAdapter, later: list[Stage], existing: Mapping[str, Any]
) -> None:
    """Tell the executor which capabilities no later model stage needs, so their weights leave now
    (a composite's captioner before its generator loads). Additive: an executor without
    ``release`` keeps the weights until ``close``."""
    release = getattr(executor, "release", None)
    pending = [s for s in later if existing.get(s.name) is None]
    if release is None or not pending:  # after the last model stage ``close`` frees everything at once
        return
    still_needed = {s.kind for s in pending}
    release(frozenset(adapter.capabilities - still_needed))


def _provenance_flags(executor: Executor | None, adapter: ModelAdapter | None) -> dict[str, str]:
    """The flags of whatever did the work: the executor's when it ran the batches elsewhere."""
    from_executor = getattr(executor, "provenance_flags", None)
    if from_executor is not None:
        return dict(from_executor())
    return adapter.provenance_flags() if adapter is not None else {}


def _warn_not_honoured(adapter: ModelAdapter, stages: list[Stage]) -> dict[str, dict[str, str]]:
    """Settings a backend cannot apply, warned once per stage and recorded in results.json."""
    notes: dict[str, dict[str, str]] = {}
    spec = adapter.identity().spec
    for stage in stages:
        if stage.kind is Capability.GENERATE:
            stage_notes = adapter.generation_notes(stage.settings)
            for setting, note in stage_notes.items():
                log.warning("%s: %s setting %s %s (recorded in results.json).", spec, stage.name, setting, note)
            if stage_notes:
                notes[stage.name] = stage_notes
    return notes


def _load_adapter(
    run: RunSpec, task: Task, stage_names: set[str], defer_weights: bool = False
) -> tuple[ModelAdapter, list[Stage]]:
    """Load the model, let the task fit its stages to it, and check everything before any work:
    capabilities, then every stage's settings against what the backend can run. ``defer_weights``:
    describe the model only (config, processor); its weights load on first use, if ever."""
    from unified_bench.models.loader import load_model

    if run.model is None:
        raise SpecError(
            f"Task '{task.name}' needs a model for its {', '.join(sorted(stage_names))} stage(s), but none was given.",
            "Pass --model SPEC (or, where the task supports it, point it at existing outputs).",
        )
    log.info("loading model %s on %s (%s)", run.model.raw, run.runtime.device, run.runtime.dtype)
    adapter = load_model(run.model, run.runtime, defer_weights=defer_weights)
    task.bind_model(adapter)
    stages = [s for s in task.stages() if s.name in stage_names]
    check_capabilities(adapter, frozenset(s.kind for s in stages), task.name)
    for stage in stages:
        adapter.validate_settings(stage.kind.value, stage.settings)
    return adapter, stages


def evaluate(
    run: RunSpec,
    options: ExecutionOptions,
    executor_factory: ExecutorFactory | None = None,
) -> Evaluation:
    """Run ``run`` into ``options.out``; resume whatever a previous attempt finished."""
    from unified_bench.runner.determinism import enable_deterministic, seed_everything
    from unified_bench.tasks import TASKS

    started = time.perf_counter()
    runtime = run.runtime.resolved()
    task: Task = TASKS.get(run.task)(run.task_config)
    dataset = task.load_dataset(run.data or task.default_data).limit(run.limit)
    dataset.validate()
    run_config = {
        "task": f"{task.name}@{task.version}",
        **{k: v for k, v in run.to_dict().items() if k != "task"},
        "runtime": asdict(runtime),
        "dataset": dataset.fingerprint(),
        "settings": task.settings_record(),
    }
    run_dir = RunDir(options.out)
    run_dir.check(run_config, force=options.force)
    if runtime.deterministic:
        enable_deterministic()
    seed_everything(runtime.seed)

    stages = task.stages()
    existing = {stage.name: task.existing_outputs(stage, dataset) for stage in stages}
    model_stage_names = {s.name for s in stages if existing[s.name] is None}
    adapter = None
    if model_stage_names:
        # Batches that run elsewhere (Dask workers, each loading its own copy) need only the model's
        # description here: loading the weights too would put a second copy on the client's device
        # (on a GPU box, GPU 0, beside worker 0's).
        remote = executor_factory is not None or options.cluster is not None
        adapter, model_stages = _load_adapter(run, task, model_stage_names, defer_weights=remote)
        stages = task.stages()  # as fitted to the model (e.g. its native image size)
    not_honoured = _warn_not_honoured(adapter, model_stages) if adapter is not None else {}
    model_identity = adapter.identity().to_dict() if adapter is not None else None
    prompt_layout = adapter.prompt_layout() if adapter is not None else None
    judges = task.load_judges(runtime)
    if executor_factory is None and options.cluster is not None:
        from unified_bench.runner.dask_executor import dask_executor_factory

        executor_factory = dask_executor_factory(options.cluster)
    try:  # a cluster that cannot start or has no fitting worker fails here, before anything is written
        executor = (executor_factory or (lambda a, _r: LocalExecutor(a)))(adapter, run) if adapter else None
    except BaseException:
        if adapter is not None:
            adapter.close()
        raise

    run_dir.prepare(run_config, force=options.force)
    outputs = _Outputs()
    summaries: dict[str, StageSummary] = {}
    totals: dict[str, int] = {}
    shared = OutputCache(options.output_cache) if options.output_cache is not None else None
    try:
        for index, stage in enumerate(stages):
            if existing[stage.name] is not None:
                records = existing[stage.name] or {}
                outputs.add(stage.name, records)
                totals[stage.name] = len(records)
                continue
            assert executor is not None and adapter is not None
            records, summary = _run_model_stage(
                task, stage, dataset, outputs, executor, adapter, runtime, run_dir, options.show_progress, shared
            )
            outputs.add(stage.name, records)
            summaries[stage.name] = summary
            totals[stage.name] = summary.total
            _release_done(executor, adapter, stages[index + 1 :], existing)
    finally:
        # Asked after the stages ran (e.g. a parameter the server refused), before the model is closed.
        provenance_flags = _provenance_flags(executor, adapter)
        if executor is not None:
            executor.close()  # the model leaves memory before the judges work

    scored, score_summary = _score(task, judges, dataset, outputs, run_dir, options.show_progress)
    summaries["score"] = score_summary
    for name, s in summaries.items():
        log.info("%s: %d items, %d cached, %d shared, %d computed, %d failed", name, s.total, s.cached, s.shared,
                 s.computed, s.failed)

    samples = []
    for sample in dataset:
        sample_outputs = outputs.for_sample(sample.id)
        rec = scored.get(sample.id)
        record = task.sample_record(sample, sample_outputs, rec if rec and rec.get("status") == "ok" else None)
        samples.append(_with_run_details(record, outputs.for_sample(sample.id, ok_only=False), rec))
    metrics = task.metrics(judges)
    task.close_judges(judges)
    settings = task.settings_record() | {"limit": run.limit} | task.output_summary(samples)
    if run.notice:
        settings["notice"] = run.notice
    if not_honoured:
        settings["not_honoured"] = not_honoured
    if prompt_layout is not None:
        settings["prompt_layout"] = prompt_layout
    if provenance_flags:
        settings["provenance_flags"] = provenance_flags
    results = build_results(
        benchmark=BenchmarkInfo(name=task.name, version=task.version, view=task.report_view),
        model=model_identity,
        dataset=dataset.fingerprint(),
        settings=settings,
        metrics=metrics,
        aggregation=type(task).aggregate(samples, metrics, settings, runtime.seed),
        samples=samples,
        stages={name: stage_coverage(outputs.by_stage[name], totals[name]) for name in outputs.by_stage},
        non_standard_reasons=task.non_standard_reasons(dataset, run.limit, runtime.seed),
        runtime=runtime,
        wall_time_s=0.0,
    )
    files = task.write_files(run_dir.path, results)
    prov = results.provenance.model_copy(update={"wall_time_s": round(time.perf_counter() - started, 3)})
    results = results.model_copy(update={"files": files, "provenance": prov})
    write_results(results, run_dir.results_json)
    if options.report:
        from unified_bench.report.html import write_report

        write_report(run_dir.path)
    run_dir.mark_complete()
    return Evaluation(run_dir.path, results, summaries)


def _with_run_details(
    record: SampleRecord, all_outputs: Mapping[str, Mapping[str, dict[str, Any]]], scored: dict[str, Any] | None
) -> SampleRecord:
    """Add what only the runner knows to a task's record: each output's seed, and for a failed
    sample the errors its requests and its scoring recorded (the task names the failed step)."""
    seeds = {f"{stage}:{rid}": int(r["seed"]) for stage, recs in all_outputs.items() for rid, r in recs.items()
             if "seed" in r}
    update: dict[str, Any] = {"seeds": seeds} if seeds else {}
    if record.status == "failed":
        errors = [f"{stage} {rid}: {r.get('error')}" for stage, recs in all_outputs.items()
                  for rid, r in recs.items() if r.get("status") != "ok"]
        if scored is not None and scored.get("status") != "ok":
            errors.append(f"score: {scored.get('error')}")
        if errors:
            update["error"] = f"{record.error or 'failed'} ({'; '.join(errors)})"
    return record.model_copy(update=update) if update else record


def _score(
    task: Task, judges: Any, dataset: Any, outputs: _Outputs, run_dir: RunDir, show_progress: bool
) -> tuple[dict[str, dict[str, Any]], StageSummary]:
    task.prepare_scoring(judges, dataset, run_dir.path, show_progress)
    judge_id = task.judge_identity(judges)
    bench = f"{task.name}@{task.version}"

    def items() -> Iterator[StageItem[Any]]:
        for sample in dataset:
            si = task.score_input(sample, outputs.for_sample(sample.id))
            if si is not None:
                key = cache_key(stage="score", benchmark=bench, inputs=dict(si.key_parts), judges=judge_id)
                yield StageItem(si.sample_id, key, si)

    def compute(batch: list[StageItem[Any]], index: int) -> list[dict[str, Any]]:
        return [{"scores": s} for s in task.score_batch(judges, [i.payload for i in batch], run_dir.path)]

    return run_stage(
        "score", items(), run_dir.store("scores"), compute, task.score_batch_size, show_progress, total=len(dataset)
    )
