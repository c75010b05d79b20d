"""Phase 1 task: fetch, decode, resize, encode, hash and size-filter one shard; stage the result.

Why staged: a shard's dedup decisions need every earlier shard of the plan (see filters/dedup.py),
so survivors are kept as resized, re-encoded bytes in ``_stage/NNNNN.parquet`` until they exist.
Fetches run in a bounded thread pool per worker (network waits overlap); the CPU part after each
fetch waits for one of the worker's CPU slots (``data_pipeline.cpu_slots``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.atomic import atomic_write_json, commit, tmp_path_for
from data_pipeline.cpu_slots import cpu_slots
from data_pipeline.sample import Sample

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from data_pipeline.filters.base import SampleFilter
    from data_pipeline.plan import ShardSpec
    from data_pipeline.recipe import Recipe

STAGE_DIR = "_stage"


def stage_paths(out_dir: str | Path, index: int) -> dict[str, Path]:
    d = Path(out_dir) / STAGE_DIR
    return {"parquet": d / f"{index:05d}.parquet", "stats": d / f"{index:05d}_stats.json"}


def read_stage_stats(out_dir: str | Path, index: int) -> dict[str, Any] | None:
    p = stage_paths(out_dir, index)
    try:
        stats = json.loads(p["stats"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats if p["parquet"].exists() and p["parquet"].stat().st_size == stats.get("bytes") else None


def process_sample(sample: Sample, recipe: Recipe,
                   cpu_slot: AbstractContextManager[Any] | None = None,
                   filters: list[SampleFilter] | None = None) -> Sample:
    """Fetch -> filters on the original size -> decode + resize -> hash -> encode, recording the first
    failure as the reason; never raises for a bad input. ``cpu_slot`` is held for everything after the
    fetch (see ``data_pipeline.cpu_slots``)."""
    from data_pipeline.fetch import fetch_record

    try:
        got = fetch_record(sample.record, recipe.fetch)
    except Exception as exc:  # noqa: BLE001 - one input's failure must never fail its shard
        sample.reject("fetch", "fetch_error", f"{type(exc).__name__}: {str(exc)[:200]}")
        return sample
    if got.reason:
        sample.reject("fetch", got.reason, got.detail)
        return sample
    with cpu_slot or contextlib.nullcontext():
        return _process_fetched(sample, got.data, recipe, filters or [])


def _guarded(sample: Sample, reason: str, step: Callable[[], Any]) -> tuple[bool, Any]:
    """Run one per-sample step; an exception rejects the sample with ``reason`` instead of escaping."""
    try:
        return True, step()
    except Exception as exc:  # noqa: BLE001 - e.g. a codec refusing an odd image: the sample's failure only
        sample.reject("decode", reason, f"{type(exc).__name__}: {str(exc)[:200]}")
        return False, None


def _size_check(sample: Sample, filters: list[SampleFilter]) -> Callable[[int, int], tuple[str, str] | None]:
    """The per-sample filters as a check on the original size, run by the decoder before any resize."""

    def check(width: int, height: int) -> tuple[str, str] | None:
        sample.orig_width, sample.orig_height = width, height
        for f in filters:
            why = f.reason(sample)
            if why is not None:
                return why, f.detail(sample)
        return None

    return check


def _process_fetched(sample: Sample, data: bytes, recipe: Recipe, filters: list[SampleFilter]) -> Sample:
    import imagehash

    from data_pipeline.decode import decode_image, encode_image

    sample.fetched_bytes = len(data)
    sample.sha256 = hashlib.sha256(data).hexdigest()
    ok, dec = _guarded(sample, "decode_error",
                       lambda: decode_image(data, recipe.image, check=_size_check(sample, filters)))
    if not ok:
        return sample
    if dec.reason:
        if dec.original_size is not None:  # rejected by a filter on the original size
            sample.orig_width, sample.orig_height = dec.original_size
            sample.reject("filter", dec.reason, dec.detail)
        else:
            sample.reject("decode", dec.reason, dec.detail)
        return sample
    img = dec.image
    sample.orig_width, sample.orig_height = dec.original_size
    sample.orig_mode, sample.orig_format = dec.original_mode, dec.original_format
    sample.width, sample.height = img.size
    # phash of the resized output, not the full decode (near-dup semantics)
    ok, phash = _guarded(sample, "hash_error", lambda: str(imagehash.phash(img)))
    if not ok:
        return sample
    sample.phash = phash
    ok, encoded = _guarded(sample, "encode_error", lambda: encode_image(img, recipe.image))
    if ok:
        sample.image_bytes = encoded
    return sample


def ingest_shard(shard: ShardSpec | int, recipe: Recipe, out_dir: str) -> dict[str, Any]:
    """Dask task (idempotent): stage one shard; the stage stats file is written last.

    ``shard`` is its index (the worker reads its records from ``OUT/plan/NNNNN.jsonl``: the client
    never holds them; the preflight checked that every worker sees ``out_dir``) or a ``ShardSpec``.
    """
    from data_pipeline.filters import per_sample_filters
    from data_pipeline.preflight import require_shared_out
    from data_pipeline.writers.rows import write_rows

    require_shared_out(out_dir)
    if isinstance(shard, int):
        from data_pipeline.plan import PLAN_DIR, read_shard

        shard = read_shard(Path(out_dir) / PLAN_DIR, shard)
    t0 = time.perf_counter()
    # import what the threads need once, up front: 16 threads hitting a lazy import (imagehash pulls
    # scipy.fftpack on first use) serialise on the import lock, measured at ~4% of a worker's time
    import imagehash  # noqa: F401
    import scipy.fftpack  # noqa: F401

    samples = [Sample(record=r) for r in shard.records]
    filters = per_sample_filters(recipe.filters)  # judged on the original size, inside the decode
    with ThreadPoolExecutor(max_workers=min(recipe.fetch.threads, max(1, len(samples)))) as pool:
        slot = cpu_slots()  # here, in the task's thread: the pool's threads cannot find the worker
        samples = list(pool.map(lambda s: process_sample(s, recipe, slot, filters), samples))
    paths = stage_paths(out_dir, shard.index)
    paths["parquet"].parent.mkdir(exist_ok=True)  # never parents: the output folder must already be there
    tmp = tmp_path_for(paths["parquet"])
    write_rows(tmp, samples, with_image=True)
    commit(tmp, paths["parquet"])
    reasons = Counter(s.reason for s in samples if s.reason)
    stats = {"shard": shard.index, "n_inputs": len(samples), "n_pending": sum(s.pending for s in samples),
             "reasons": dict(reasons), "bytes": paths["parquet"].stat().st_size,
             "seconds": round(time.perf_counter() - t0, 3)}
    atomic_write_json(paths["stats"], stats)
    # The hashes the client's dedup needs ride along in the result (~100 bytes per input), so the
    # client does not read them back from the staged parquet (and import pyarrow + pandas mid-build
    # to do so). Only a resumed build, whose staged shards have no task result, reads them back.
    return stats | {"dedup_hashes": [[s.id, s.sha256, s.phash] for s in samples if s.pending]}
