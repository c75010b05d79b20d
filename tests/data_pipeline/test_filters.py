"""Filters: reasons recorded by the base class; near-dup index agrees with brute force."""

from __future__ import annotations

import random
from types import SimpleNamespace

from data_pipeline.filters.aspect import AspectRatioFilter
from data_pipeline.filters.dedup import ExactDuplicateFilter, NearDuplicateFilter
from data_pipeline.filters.size import MinSizeFilter
from data_pipeline.records import InputRecord
from data_pipeline.sample import Sample


def _sample(i, w=100, h=100, sha="x", ph="0" * 16):
    s = Sample(record=InputRecord(id=f"id{i}", kind="path", locator=f"/p{i}", source="t"))
    s.orig_width, s.orig_height, s.sha256, s.phash = w, h, sha, ph
    return s


def test_size_and_aspect_record_reason_and_skip_rejected():
    samples = [_sample(0, 10, 100), _sample(1, 400, 100), _sample(2, 100, 90)]
    assert MinSizeFilter(50, 50).apply(samples) == {"too_small": 1}
    assert AspectRatioFilter(3.0).apply(samples) == {"bad_aspect_ratio": 1}
    assert [(s.status, s.stage, s.reason) for s in samples] == [
        ("rejected", "filter", "too_small"), ("rejected", "filter", "bad_aspect_ratio"), ("pending", None, None)]
    assert "10x100" in samples[0].detail


def test_exact_dedup_first_in_order_wins():
    samples = [_sample(0, sha="a"), _sample(1, sha="b"), _sample(2, sha="a")]
    ExactDuplicateFilter().apply(samples)
    assert samples[2].reason == "duplicate_exact" and samples[2].duplicate_of == "id0"
    assert samples[0].pending and samples[1].pending


def _brute(hashes, d):
    """For each hash: the index of the earliest kept hash within d bits, or None (then it is kept)."""
    kept, out = [], []
    for i, h in enumerate(hashes):
        hit = next((j for j, k in kept if (h ^ k).bit_count() <= d), None)
        out.append(hit)
        if hit is None:
            kept.append((i, h))
    return out


def test_near_dedup_matches_brute_force():
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(60)]
    hashes = []
    for _ in range(400):  # many near copies: flip 0..8 random bits of a base hash
        h = rng.choice(base)
        for bit in rng.sample(range(64), rng.randint(0, 8)):
            h ^= 1 << bit
        hashes.append(h)
    for d in (0, 1, 2, 3, 4, 5, 6, 9):
        entries = [SimpleNamespace(id=str(i), phash=f"{h:016x}", pending=True, duplicate_of=None,
                                   reject=lambda *a, s=None: None) for i, h in enumerate(hashes)]
        f = NearDuplicateFilter(d)
        got = [int(e.duplicate_of) if f.reason(e) is not None else None for e in entries]
        assert got == _brute(hashes, d), d  # same verdicts, and the earliest match is the one reported
