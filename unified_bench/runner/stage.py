"""Run one stage of a task over items in fixed batches, with caching, resume and progress.

Why fixed batches: batch ``k`` always holds items ``k*B .. (k+1)*B-1`` of the stage's full item
list, so progress, the in-flight window and the per-item fallback behave the same on every run.
Only the items of a batch that are not cached are computed: every item is seeded on its own (its
output never depends on its batch neighbours), so a finished item is never computed, or its image
rewritten, again.

Per-item failures are recorded (``status: failed`` with the error) instead of aborting the
run; a batch that raises is retried one item at a time so one bad item cannot sink its
neighbours. Failed records are retried on the next run.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

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
    #: items taken from a cache shared between run directories (not computed here)
    shared: int = 0


def _is_done(rec: dict[str, Any] | None, validate: Callable[[dict[str, Any]], bool] | None = None) -> bool:
    if rec is None or rec.get("status") != "ok":
        return False
    return validate(rec) if validate is not None else True


def fixed_batches(items: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """Consecutive batches of ``batch_size`` (the last may be shorter), drawn lazily from ``items``."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


class Pending(Protocol):
    """A batch being computed somewhere: ``result()`` blocks until its values (or raises)."""

    def result(self) -> list[dict[str, Any]]: ...


#: submit(batch, batch_index) -> a pending result (e.g. a Dask future). Why a second way in: to
#: keep N workers busy the stage must have several batches in flight; ``compute`` alone is
#: synchronous and is still used for the per-item fallback of a failed batch.
SubmitFn = Callable[[Sequence[StageItem[Any]], int], Pending]
#: lookup(item) -> a finished value from a cache shared between run directories, or None.
LookupFn = Callable[[StageItem[Any]], "dict[str, Any] | None"]


class _Ready:
    """A value computed on submit (the in-process path: exactly the old synchronous order)."""

    def __init__(self, compute: ComputeFn, batch: Sequence[StageItem[Any]], index: int) -> None:
        try:
            self._values: list[dict[str, Any]] | None = compute(batch, index)
            self._error: BaseException | None = None
        except UnifiedBenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised by result(), where the fallback handles it
            self._values, self._error = None, exc

    def result(self) -> list[dict[str, Any]]:
        if self._error is not None:
            raise self._error
        assert self._values is not None
        return self._values


@dataclass
class _InFlight:
    index: int
    batch: list[StageItem[Any]]
    existing: dict[str, dict[str, Any] | None]
    done: dict[str, bool]
    pending: Pending | None  # None: nothing to compute (every item cached or shared)
    todo: list[StageItem[Any]] = field(default_factory=list)  # the items ``pending`` computes
    shared: list[dict[str, Any]] = field(default_factory=list)  # records taken from the shared cache


def run_stage(
    name: str,
    items: Iterable[StageItem[Any]],
    store: RecordStore,
    compute: ComputeFn,
    batch_size: int,
    show_progress: bool = True,
    validate: Callable[[dict[str, Any]], bool] | None = None,
    total: int | None = None,
    submit: SubmitFn | None = None,
    max_in_flight: int = 1,
    lookup: LookupFn | None = None,
) -> tuple[dict[str, dict[str, Any]], StageSummary]:
    """Return ``{item id: record}`` for every item, computing only what is not cached.

    ``items`` may be a lazy iterable (a streamed question table): batches are drawn from it one
    at a time, so only ``max_in_flight`` batches of payloads are alive at once. ``validate``
    re-checks a cached record against the disk (e.g. its image file still exists with the recorded
    sha256); a record that fails it is recomputed. ``total`` sizes the progress bar when ``items``
    has no length.

    ``submit`` + ``max_in_flight`` keep several batches computing at once (a Dask executor); the
    batch boundaries stay fixed and records are written in batch order by this process only, so a
    resumed run sees exactly what an uninterrupted one would. ``lookup`` consults a cache shared
    between run directories for items this directory lacks; a hit is written here like a computed
    record (counted as ``shared``).
    """
    results: dict[str, dict[str, Any]] = {}
    counts = {"cached": 0, "computed": 0, "failed": 0, "shared": 0}
    n_items = 0
    if total is None and isinstance(items, Sequence):
        total = len(items)
    window: deque[_InFlight] = deque()
    max_in_flight = max(1, max_in_flight) if submit is not None else 1

    def start(batch: list[StageItem[Any]], index: int) -> _InFlight:
        existing: dict[str, dict[str, Any] | None] = {it.id: store.get(it.id, it.key) for it in batch}
        done = {k: _is_done(rec, validate) for k, rec in existing.items()}  # validate reads files: once
        hits = []
        if lookup is not None:
            for it in batch:
                if not done[it.id] and (value := lookup(it)) is not None:
                    record = {"id": it.id, "key": it.key, **it.meta, **value, "status": "ok", "shared": True}
                    existing[it.id], done[it.id] = record, True
                    hits.append(record)
        if all(done.values()):
            return _InFlight(index, batch, existing, done, None, shared=hits)
        todo = [it for it in batch if not done[it.id]]
        pending = submit(todo, index) if submit is not None else _Ready(compute, todo, index)
        return _InFlight(index, batch, existing, done, pending, shared=hits, todo=todo)

    def finish(flight: _InFlight, bar: Any) -> None:
        batch, existing, done = flight.batch, flight.existing, flight.done
        shared_ids = {rec["id"] for rec in flight.shared}
        counts["shared"] += len(shared_ids)
        if flight.pending is None:
            store.put_many(flight.shared)  # written here, in batch order, like computed records
            results.update(existing)  # type: ignore[arg-type]
            counts["cached"] += len(batch) - len(shared_ids)
            bar.update(len(batch))
            return
        values = dict(zip((it.id for it in flight.todo),
                          _result_with_fallback(name, compute, flight.pending, flight.todo, flight.index),
                          strict=True))
        to_write = list(flight.shared)
        for item in batch:
            if done[item.id]:
                results[item.id] = existing[item.id]  # type: ignore[assignment]
                counts["cached"] += item.id not in shared_ids
                continue
            value = values[item.id]
            record = {"id": item.id, "key": item.key, **item.meta, **value}
            record.setdefault("status", "ok")
            if record["status"] != "ok":
                counts["failed"] += 1
                log.warning("%s failed for %s: %s", name, item.id, record.get("error"))
            counts["computed"] += 1
            to_write.append(record)
            results[item.id] = record
        store.put_many(to_write)
        bar.update(len(batch))

    with progress_bar(total=total, desc=name, enabled=show_progress) as bar:
        for index, batch in enumerate(fixed_batches(items, batch_size)):
            n_items += len(batch)
            window.append(start(batch, index))
            while len(window) >= max_in_flight or (window and window[0].pending is None):
                finish(window.popleft(), bar)
        while window:
            finish(window.popleft(), bar)
    summary = StageSummary(name, n_items, counts["cached"], counts["computed"], counts["failed"], counts["shared"])
    if n_items and counts["failed"] == n_items:
        first = next(iter(results.values()))
        raise UnifiedBenchError(
            f"Stage '{name}' failed for every item; first error: {first.get('error')}",
            "This is not a per-sample problem: check the model, device and settings (see the log above).",
        )
    return results, summary


def _result_with_fallback(
    name: str, compute: ComputeFn, pending: Pending, batch: Sequence[StageItem[Any]], index: int
) -> list[dict[str, Any]]:
    """The pending batch's values; if it raised, retry its items one at a time (``compute``)."""
    try:
        values = pending.result()
        if len(values) != len(batch):
            raise RuntimeError(f"{name}: backend returned {len(values)} results for {len(batch)} inputs")
        return values
    except UnifiedBenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded per item below, never swallowed
        if len(batch) == 1:
            return [{"status": "failed", "error": f"{type(exc).__name__}: {exc}"}]
        log.warning("%s batch %d failed (%s); retrying its items one by one", name, index, exc)
    return _items_one_by_one(compute, batch, index)


def _items_one_by_one(compute: ComputeFn, batch: Sequence[StageItem[Any]], index: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in batch:
        try:
            out.extend(compute([item], index))
        except UnifiedBenchError:
            raise
        except Exception as exc:  # noqa: BLE001
            out.append({"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    return out
