"""Run one stage of a task over items in fixed batches, with caching, resume and progress.

Why fixed batches: sampling backends seed a whole batch at once, so a resumed run must see
exactly the batches (and seeds) an uninterrupted run would. Batch ``k`` always holds items
``k*B .. (k+1)*B-1`` of the stage's full item list; a batch whose items are all cached is
skipped, any other batch is recomputed whole and only its missing records are written.

Per-item failures are recorded (``status: failed`` with the error) instead of aborting the
run; a batch that raises is retried one item at a time so one bad item cannot sink its
neighbours. Failed records are retried on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from unified_bench.errors import UnifiedBenchError
from unified_bench.runner.progress import progress_bar
from unified_bench.runner.store import RecordStore

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class StageItem(Generic[T]):
    id: str
    key: str
    payload: T


#: compute(batch, batch_index) -> one value dict per item (same order). Raise to fail the batch.
ComputeFn = Callable[[Sequence[StageItem[Any]], int], list[dict[str, Any]]]


@dataclass
class StageSummary:
    name: str
    total: int
    cached: int
    computed: int
    failed: int


def _is_done(rec: dict[str, Any] | None, validate: Callable[[dict[str, Any]], bool] | None = None) -> bool:
    if rec is None or rec.get("status") != "ok":
        return False
    return validate(rec) if validate is not None else True


def run_stage(
    name: str,
    items: Sequence[StageItem[Any]],
    store: RecordStore,
    compute: ComputeFn,
    batch_size: int,
    show_progress: bool = True,
    validate: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[dict[str, dict[str, Any]], StageSummary]:
    """Return ``{item id: record}`` for every item, computing only what is not cached.

    ``validate`` re-checks a cached record against the disk (e.g. its image file still exists
    with the recorded sha256); a record that fails it is recomputed.
    """
    results: dict[str, dict[str, Any]] = {}
    cached = computed = failed = 0
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with progress_bar(total=len(items), desc=name, enabled=show_progress) as bar:
        for index, batch in enumerate(batches):
            existing = {it.id: store.get(it.id, it.key) for it in batch}
            done = {k: _is_done(rec, validate) for k, rec in existing.items()}  # validate reads files: once
            if all(done.values()):
                results.update(existing)  # type: ignore[arg-type]
                cached += len(batch)
                bar.update(len(batch))
                continue
            values = _compute_with_fallback(name, compute, batch, index)
            to_write = []
            for item, value in zip(batch, values, strict=True):
                if done[item.id]:
                    results[item.id] = existing[item.id]  # type: ignore[assignment]
                    cached += 1
                    continue
                record = {"id": item.id, "key": item.key, **value}
                record.setdefault("status", "ok")
                if record["status"] != "ok":
                    failed += 1
                    log.warning("%s failed for %s: %s", name, item.id, record.get("error"))
                computed += 1
                to_write.append(record)
                results[item.id] = record
            store.put_many(to_write)
            bar.update(len(batch))
    summary = StageSummary(name, len(items), cached, computed, failed)
    if items and failed == len(items):
        first = next(iter(results.values()))
        raise UnifiedBenchError(
            f"Stage '{name}' failed for every item; first error: {first.get('error')}",
            "This is not a per-sample problem: check the model, device and settings (see the log above).",
        )
    return results, summary


def _compute_with_fallback(
    name: str, compute: ComputeFn, batch: Sequence[StageItem[Any]], index: int
) -> list[dict[str, Any]]:
    try:
        values = compute(batch, index)
        if len(values) != len(batch):
            raise RuntimeError(f"{name}: backend returned {len(values)} results for {len(batch)} inputs")
        return values
    except UnifiedBenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded per item below, never swallowed
        if len(batch) == 1:
            return [{"status": "failed", "error": f"{type(exc).__name__}: {exc}"}]
        log.warning("%s batch %d failed (%s); retrying its items one by one", name, index, exc)
    out: list[dict[str, Any]] = []
    for item in batch:
        try:
            out.extend(compute([item], index))
        except UnifiedBenchError:
            raise
        except Exception as exc:  # noqa: BLE001
            out.append({"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    return out
