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

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from unified_bench.errors import UnifiedBenchError
from unified_bench.runner.progress import progress_bar
from unified_bench.runner.store import RecordStore

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class StageItem(Generic[T]):
    """One item of a stage: its id, cache key, what to compute it from, and record fields.

    ``meta`` is copied into the item's record whether it succeeds or fails (e.g. the sample it
    belongs to and its seed), so a failed record is as traceable as a finished one.
    """

    id: str
    key: str
    payload: T
    meta: dict[str, Any] = field(default_factory=dict)


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


def fixed_batches(items: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """Consecutive batches of ``batch_size`` (the last may be shorter), drawn lazily from ``items``."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


def run_stage(
    name: str,
    items: Iterable[StageItem[Any]],
    store: RecordStore,
    compute: ComputeFn,
    batch_size: int,
    show_progress: bool = True,
    validate: Callable[[dict[str, Any]], bool] | None = None,
    total: int | None = None,
) -> tuple[dict[str, dict[str, Any]], StageSummary]:
    """Return ``{item id: record}`` for every item, computing only what is not cached.

    ``items`` may be a lazy iterable (a streamed question table): batches are drawn from it one
    at a time, so only one batch of payloads is alive at once. ``validate`` re-checks a cached
    record against the disk (e.g. its image file still exists with the recorded sha256); a record
    that fails it is recomputed. ``total`` sizes the progress bar when ``items`` has no length.
    """
    results: dict[str, dict[str, Any]] = {}
    cached = computed = failed = 0
    n_items = 0
    if total is None and isinstance(items, Sequence):
        total = len(items)
    with progress_bar(total=total, desc=name, enabled=show_progress) as bar:
        for index, batch in enumerate(fixed_batches(items, batch_size)):
            n_items += len(batch)
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
                record = {"id": item.id, "key": item.key, **item.meta, **value}
                record.setdefault("status", "ok")
                if record["status"] != "ok":
                    failed += 1
                    log.warning("%s failed for %s: %s", name, item.id, record.get("error"))
                computed += 1
                to_write.append(record)
                results[item.id] = record
            store.put_many(to_write)
            bar.update(len(batch))
    summary = StageSummary(name, n_items, cached, computed, failed)
    if n_items and failed == n_items:
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
