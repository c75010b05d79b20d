"""Exact (sha256 of bytes) and near (phash Hamming distance) duplicates across the whole job.

Design — deterministic and resume-safe:
  ingest tasks (parallel, one Dask task per shard) fetch, decode and hash every input and stage
  the result; the client walks the staged hashes in PLAN order through these rules, shard by shard
  as soon as the plan-order prefix is staged (stages/dedup_pass.py): a sample is a
  duplicate if an earlier kept sample has the same sha256 or a phash within ``max_distance``; the
  first occurrence in plan order wins, whatever order the shards finished in. Each shard's decisions
  are written atomically to ``_stage/dedup/NNNNN.json`` before that shard is written, so a resumed
  job reuses exactly the same decisions.
Near search uses multi-index hashing: split the 64-bit hash into m = ceil((d+1)/2) bands; by
pigeonhole two hashes within distance d differ by at most r = floor(d/m) bits in at least one band,
so only candidates within r bits of a band key (r <= 1: the key and its single-bit flips) are
compared. Of several kept hashes within d, the earliest in plan order is the one reported.
The build itself runs these rules through ``stages/dedup_index.py`` (the same decisions, with the
state in compact arrays and on disk, bounded in client memory); the classes below keep the state in
Python dicts and are the plain reference (tests compare the two).
"""

from __future__ import annotations

from array import array
from typing import Any

from data_pipeline.filters.base import SampleFilter


class ExactDuplicateFilter(SampleFilter):
    stage = "dedup"
    name = "exact_dedup"

    def __init__(self) -> None:
        # keyed by the first 16 bytes of the sha256 (a 49-byte object instead of a 113-byte hex string;
        # a chance collision among 10^10 inputs is ~1e-19)
        self._first: dict[bytes, str] = {}

    def reason(self, sample: Any) -> str | None:
        try:
            key = bytes.fromhex(sample.sha256[:32])
        except ValueError:  # not a hex digest (hand-made test input): the text itself
            key = sample.sha256.encode()
        first = self._first.get(key)
        if first is not None:
            sample.duplicate_of = first
            return "duplicate_exact"
        self._first[key] = sample.id
        return None

    def detail(self, sample: Any) -> str:
        return f"same bytes as {sample.duplicate_of}"


class NearDuplicateFilter(SampleFilter):
    stage = "dedup"
    name = "near_dedup"

    def __init__(self, max_distance: int, bits: int = 64) -> None:
        self.max_distance = max_distance
        # m = ceil((d+1)/2) bands searched within radius r = floor(d/m) (<= 1 for every d): wide bands
        # keep each bucket small (about n / 2^(bits/m) kept hashes), so a lookup stays cheap as the job
        # grows, where d+1 exact bands of ~13 bits (d=4) held n/8192 candidates each: quadratic in effect.
        n_bands = min(bits, max(1, (max_distance + 2) // 2))
        self.radius = max_distance // n_bands
        edges = [round(i * bits / n_bands) for i in range(n_bands + 1)]
        self._bands = [(edges[i], edges[i + 1] - edges[i]) for i in range(n_bands)]
        # bucket -> one kept position (an int) or several (a list): most buckets of wide bands hold one
        self._index: list[dict[int, int | list[int]]] = [{} for _ in self._bands]
        self._values = array("Q")  # kept hashes, 8 bytes each
        self._ids: list[str] = []

    def _probes(self, key: int, width: int) -> list[int]:
        """The band key and every key within ``radius`` bits of it (radius 0 or 1)."""
        if self.radius == 0:
            return [key]
        return [key, *(key ^ (1 << b) for b in range(width))]

    def reason(self, sample: Any) -> str | None:
        value = int(sample.phash, 16)
        keys = [(value >> start) & ((1 << width) - 1) for start, width in self._bands]
        best: int | None = None  # the earliest kept hash within max_distance (deterministic whatever the probe order)
        seen: set[int] = set()
        for band, ((_, width), key) in enumerate(zip(self._bands, keys, strict=True)):
            index = self._index[band]
            for probe in self._probes(key, width):
                got = index.get(probe)
                if got is None:
                    continue
                for j in (got,) if isinstance(got, int) else got:
                    if j in seen or (best is not None and j >= best):
                        continue
                    seen.add(j)
                    if (value ^ self._values[j]).bit_count() <= self.max_distance:
                        best = j
        if best is not None:
            sample.duplicate_of = self._ids[best]
            return "duplicate_near"
        j = len(self._ids)
        self._values.append(value)
        self._ids.append(sample.id)
        for band, key in enumerate(keys):
            index = self._index[band]
            got = index.get(key)
            if got is None:
                index[key] = j
            elif isinstance(got, int):
                index[key] = [got, j]
            else:
                got.append(j)
        return None

    def detail(self, sample: Any) -> str:
        return f"phash within {self.max_distance} of {sample.duplicate_of}"
