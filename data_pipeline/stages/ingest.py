"""Phase 1 task: fetch, decode, resize, encode, hash and size-filter one shard; stage the result.

Why staged: a shard's dedup decisions need every earlier shard of the plan (see filters/dedup.py),
so survivors are kept as resized, re-encoded bytes in ``_stage/`` until they exist.
Fetches run in a bounded thread pool per worker (network waits overlap); the CPU part after each
fetch waits for one of the worker's CPU slots (``data_pipeline.cpu_slots``).

Why pieces: a shard is ingested as ``n_pieces`` tasks of at most ``PIECE_SIZE`` consecutive records,
each staged on its own (``_stage/NNNNN.pKKK.parquet``). With whole shards as tasks, the last shards
of a build ran on one worker while the others had nothing left (3 shards of 1000 on 2 workers: the
third shard alone, the machine at ~80%); pieces spread them over every worker. The piece size is a
constant, not a function of the cluster, so a build resumed on another cluster finds the same pieces.
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
#: Records per ingest task (a shard of 1000 is 4 tasks): small enough that the tail of a build is
#: shared by every worker, large enough that per-task costs (a thread pool, a staged file) stay noise.
PIECE_SIZE = 250


def n_pieces(n_records: int) -> int:
    """How many ingest tasks a shard of ``n_records`` records is (at least 1)."""
    return max(1, -(-n_records // PIECE_SIZE))


def piece_records(records: tuple[Any, ...], piece: int) -> tuple[Any, ...]:
    """Piece ``piece``'s records: consecutive, in plan order, so the pieces in order are the shard."""
    return records[piece * PIECE_SIZE:(piece + 1) * PIECE_SIZE]


def stage_paths(out_dir: str | Path, index: int, piece: int = 0) -> dict[str, Path]:
    d = Path(out_dir) / STAGE_DIR
    name = f"{index:05d}.p{piece:03d}"
    return {"parquet": d / f"{name}.parquet", "stats": d / f"{name}_stats.json"}


def shard_stage_files(out_dir: str | Path, index: int) -> list[Path]:
    """Every staged file of shard ``index`` (all pieces, and the unsplit ``NNNNN.parquet`` of builds
    staged before pieces existed), for removal. The dedup decisions live in a sub-folder: not matched."""
    d = Path(out_dir) / STAGE_DIR
    return sorted(p for pattern in (f"{index:05d}.*", f"{index:05d}_*") for p in d.glob(pattern) if p.is_file())


def read_piece_stats(out_dir: str | Path, index: int, piece: int = 0) -> dict[str, Any] | None:
    """A staged piece's stats, or None if it is absent, half-written, or cut at another ``PIECE_SIZE`` (a
    build staged by a release with other pieces: its piece k is not this one's, so it is ingested again)."""
    p = stage_paths(out_dir, index, piece)
    try:
        stats = json.loads(p["stats"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stats.get("piece_size") != PIECE_SIZE:
        return None
    return stats if p["parquet"].exists() and p["parquet"].stat().st_size == stats.get("bytes") else None


def read_stage_stats(out_dir: str | Path, index: int, pieces: int = 1) -> dict[str, Any] | None:
    """Shard ``index``'s staged stats summed over its ``pieces`` pieces, or None unless all are staged."""
    parts = [read_piece_stats(out_dir, index, k) for k in range(pieces)]
    return None if any(st is None for st in parts) else _summed(index, parts)  # type: ignore[arg-type]


def _summed(index: int, parts: list[dict[str, Any]]) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    for st in parts:
        reasons.update(st["reasons"])
    return {"shard": index, "pieces": len(parts), "n_inputs": sum(st["n_inputs"] for st in parts),
            "n_pending": sum(st["n_pending"] for st in parts), "reasons": dict(reasons),
            "bytes": sum(st["bytes"] for st in parts), "seconds": round(sum(st["seconds"] for st in parts), 3)}


def shard_pieces(out_dir: str | Path, index: int) -> int:
    """Shard ``index``'s piece count, from its plan file (for a worker, or a resumed client, that was not
    told it; a running client computes it from the plan's head: ``executor``)."""
    from data_pipeline.plan import PLAN_DIR, shard_path

    with open(shard_path(Path(out_dir) / PLAN_DIR, index), encoding="utf-8") as fh:
        return n_pieces(sum(1 for line in fh if line.strip()))


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


def ingest_shard(shard: ShardSpec | int, recipe: Recipe, out_dir: str, piece: int | None = None) -> dict[str, Any]:
    """Dask task (idempotent): stage piece ``piece`` of one shard (``None``: every piece, one after the
    other); each piece's stats file is written last. Returns the staged stats and, for the client's
    dedup, the pending samples' ``dedup_hashes`` in plan order.

    ``shard`` is its index (the worker reads its records from ``OUT/plan/NNNNN.jsonl``: the client
    never holds them; the preflight checked that every worker sees ``out_dir``) or a ``ShardSpec``.
    """
    from data_pipeline.preflight import require_shared_out

    require_shared_out(out_dir)
    if isinstance(shard, int):
        from data_pipeline.plan import PLAN_DIR, read_shard

        shard = read_shard(Path(out_dir) / PLAN_DIR, shard)
    if piece is not None:
        return _ingest_piece(shard, piece, recipe, out_dir)
    results = [_ingest_piece(shard, k, recipe, out_dir) for k in range(n_pieces(len(shard.records)))]
    return _summed(shard.index, results) | {"dedup_hashes": [h for r in results for h in r["dedup_hashes"]]}


def _ingest_piece(shard: ShardSpec, piece: int, recipe: Recipe, out_dir: str) -> dict[str, Any]:
    from data_pipeline.filters import per_sample_filters
    from data_pipeline.writers.rows import write_rows

    t0 = time.perf_counter()
    # import what the threads need once, up front: 16 threads hitting a lazy import (imagehash pulls
    # scipy.fftpack on first use) serialise on the import lock, measured at ~4% of a worker's time
    import imagehash  # noqa: F401
    import scipy.fftpack  # noqa: F401

    samples = [Sample(record=r) for r in piece_records(shard.records, piece)]
    filters = per_sample_filters(recipe.filters)  # judged on the original size, inside the decode
    with ThreadPoolExecutor(max_workers=min(recipe.fetch.threads, max(1, len(samples)))) as pool:
        slot = cpu_slots()  # here, in the task's thread: the pool's threads cannot find the worker
        samples = list(pool.map(lambda s: process_sample(s, recipe, slot, filters), samples))
    paths = stage_paths(out_dir, shard.index, piece)
    paths["parquet"].parent.mkdir(exist_ok=True)  # never parents: the output folder must already be there
    tmp = tmp_path_for(paths["parquet"])
    write_rows(tmp, samples, with_image=True)
    commit(tmp, paths["parquet"])
    reasons = Counter(s.reason for s in samples if s.reason)
    stats = {"shard": shard.index, "piece": piece, "piece_size": PIECE_SIZE, "n_inputs": len(samples),
             "n_pending": sum(s.pending for s in samples), "reasons": dict(reasons),
             "bytes": paths["parquet"].stat().st_size, "seconds": round(time.perf_counter() - t0, 3)}
    atomic_write_json(paths["stats"], stats)
    # The hashes the client's dedup needs ride along in the result (~100 bytes per input), so the
    # client does not read them back from the staged parquet (and import pyarrow + pandas mid-build
    # to do so). Only a resumed build, whose staged shards have no task result, reads them back.
    return stats | {"dedup_hashes": [[s.id, s.sha256, s.phash] for s in samples if s.pending]}
