"""Bounded-memory dedup state (stages/dedup_index.py behind ``IncrementalDedup``): the same decisions as a
brute-force reference written from the rules, resume reads the on-disk index instead of replaying
every persisted hash (and survives a crash between a decisions file and its index transaction, a
corrupt index, an index ahead of the decisions files), and the client memory per kept input is bounded."""

from __future__ import annotations

import hashlib
import json
import random
import tracemalloc
from types import SimpleNamespace

import pytest

from data_pipeline.stages import dedup_index
from data_pipeline.stages.dedup_index import INDEX_FILE, DedupIndex
from data_pipeline.stages.dedup_pass import IncrementalDedup, decision_path
from data_pipeline.stages.ingest import stage_paths


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _hashes(n: int, d: int, seed: int) -> list[list[str]]:
    """Random inputs with planted duplicates: exact copies (same sha256, another phash), near copies of
    an earlier phash at every distance 0..d+1, and a few exact keys that are not plain hex digests."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for i in range(n):
        sha, ph = _sha(i), rng.getrandbits(64)
        r = rng.random()
        if out and r < 0.06:
            sha = rng.choice(out)[1]
        elif out and r < 0.36:
            ph = int(rng.choice(out)[2], 16)
            for b in rng.sample(range(64), rng.randint(0, d + 1)):
                ph ^= 1 << b
        elif out and r < 0.38:
            sha = rng.choice(out)[1].upper()  # same bytes as its lowercase original
        elif r < 0.40:
            sha = rng.choice(["not-hex", "zz", "abc", "7a7a", "ab", f"x{i % 7}"])  # text keys; "7a7a" == b"zz"
        out.append([f"id{i:05d}", sha, f"{ph:016x}"])
    return out


def _reference(hashes: list[list[str]], exact: bool, d: int | None) -> dict:
    """The rules by brute force: in plan order, exact first (same first 16 bytes of the sha256, or the same
    text when it is not hex, as an earlier exact-kept input), then near (phash within d of an earlier
    input kept by both), pairwise against every earlier kept input; the earliest one is reported."""
    out: dict = {}
    exact_kept: list[tuple[bytes, str]] = []
    near_kept: list[tuple[int, str]] = []
    for key, sha, ph in hashes:
        if exact:
            try:
                k = bytes.fromhex(sha[:32])
            except ValueError:
                k = sha.encode()
            first = next((kid for kk, kid in exact_kept if kk == k), None)
            if first is not None:
                out[key] = {"reason": "duplicate_exact", "detail": f"same bytes as {first}", "duplicate_of": first}
                continue
            exact_kept.append((k, key))
        if d is not None:
            v = int(ph, 16)
            first = next((kid for kv, kid in near_kept if (v ^ kv).bit_count() <= d), None)
            if first is not None:
                out[key] = {"reason": "duplicate_near", "detail": f"phash within {d} of {first}", "duplicate_of": first}
                continue
            near_kept.append((v, key))
    return out


def _shards(hashes: list[list[str]], seed: int) -> list[list[list[str]]]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(hashes):
        m = rng.choice([0, 1, 7, 50, 200, 400])  # empty shards too
        out.append(hashes[i: i + m])
        i += m
    return out


def _decide_all(out, cfg, shards, start=0, dedup=None) -> dict:
    dedup = dedup or IncrementalDedup(out, cfg)
    got: dict = {}
    for index in range(start, len(shards)):
        (out / "_stage").mkdir(parents=True, exist_ok=True)
        stage_paths(out, index)["parquet"].touch()  # decide() checks the stage exists
        got.update(dedup.decide(index, shards[index]))
    return got


@pytest.mark.parametrize(("exact", "d"), [(True, 4), (True, 0), (True, 1), (False, 2), (True, 3), (False, 5),
                                         (True, 9), (True, None)])
def test_decisions_equal_brute_force_reference(tmp_path, monkeypatch, exact, d):
    monkeypatch.setattr(dedup_index, "_SQL_CHUNK", 7)  # id look-ups in several statements
    hashes = _hashes(3000, d or 0, seed=d or 0)
    cfg = SimpleNamespace(exact_dedup=exact, near_dup_distance=d)
    want = _reference(hashes, exact, d)
    assert sum(v["reason"] == "duplicate_near" for v in want.values()) > (100 if d is not None else -1)
    got = _decide_all(tmp_path, cfg, _shards(hashes, seed=1))
    assert list(got.items()) == list(want.items())  # same verdicts, same originals, same order


def _crash_once(monkeypatch, at: int) -> None:
    """Make the index transaction of shard ``at`` fail once (the process 'dies' after its decisions file)."""
    real = DedupIndex.commit

    def commit(self, shard, upd):
        if shard == at:
            monkeypatch.setattr(DedupIndex, "commit", real)
            raise KeyboardInterrupt("killed")
        return real(self, shard, upd)

    monkeypatch.setattr(DedupIndex, "commit", commit)


def _count_replays(monkeypatch) -> list[int]:
    """Numbers of hashes fed to DedupIndex.decide, one entry per call."""
    calls: list[int] = []
    real = DedupIndex.decide

    def decide(self, hashes):
        calls.append(len(hashes))
        return real(self, hashes)

    monkeypatch.setattr(DedupIndex, "decide", decide)
    return calls


def test_resume_after_crash_between_decisions_file_and_index(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_index, "_LINK_CHUNK", 100)  # the resumed state is linked in several batches
    cfg = SimpleNamespace(exact_dedup=True, near_dup_distance=4)
    hashes = _hashes(2500, 4, seed=7)
    shards = _shards(hashes, seed=3)
    want = _decide_all(tmp_path / "ref", cfg, shards)
    assert list(want.items()) == list(_reference(hashes, True, 4).items())

    out, crash = tmp_path / "out", len(shards) // 2
    first = IncrementalDedup(out, cfg)
    _crash_once(monkeypatch, crash)
    with pytest.raises(KeyboardInterrupt):
        _decide_all(out, cfg, shards, dedup=first)
    first.close()
    assert decision_path(out, crash).exists() and not decision_path(out, crash + 1).exists()

    calls = _count_replays(monkeypatch)
    again = IncrementalDedup(out, cfg)
    got = {}
    for index in range(crash + 1):  # the executor loads every decided shard in plan order
        got.update(again.load(index))
    assert calls == [len(shards[crash])]  # only the shard missing from the index is replayed
    got.update(_decide_all(out, cfg, shards, start=crash + 1, dedup=again))
    assert list(got.items()) == list(want.items())


def test_corrupt_or_foreign_index_is_rebuilt_from_the_decisions(tmp_path, monkeypatch):
    cfg = SimpleNamespace(exact_dedup=True, near_dup_distance=4)
    hashes = _hashes(1500, 4, seed=11)
    shards = _shards(hashes, seed=5)
    want = _decide_all(tmp_path / "ref", cfg, shards)
    half = len(shards) // 2
    for damage in ("garbage", "other filters", "deleted"):
        out = tmp_path / damage.replace(" ", "_")
        d = IncrementalDedup(out, cfg)
        _decide_all(out, cfg, shards[:half], dedup=d)
        d.close()
        index = out / "_stage" / "dedup" / INDEX_FILE
        if damage == "garbage":
            for p in index.parent.glob(INDEX_FILE + "*"):
                p.write_bytes(b"\x00 not a database " * 100)
        elif damage == "other filters":
            DedupIndex(index.parent, True, 2).close()  # opening it for d=2 rebuilds it for d=2
        else:
            index.unlink()
        calls = _count_replays(monkeypatch)
        again = IncrementalDedup(out, cfg)
        got = {}
        for i in range(half):
            got.update(again.load(i))
        assert calls == [len(s) for s in shards[:half]], damage  # replayed from the decisions files
        got.update(_decide_all(out, cfg, shards, start=half, dedup=again))
        assert list(got.items()) == list(want.items()), damage
        monkeypatch.undo()


def test_an_index_locked_by_another_writer_is_not_deleted(tmp_path):
    import sqlite3

    DedupIndex(tmp_path, True, 4).close()
    other = sqlite3.connect(tmp_path / INDEX_FILE, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            DedupIndex(tmp_path, True, 4)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (tmp_path / INDEX_FILE).exists()


def test_index_ahead_of_the_decisions_files_is_truncated(tmp_path):
    """A decisions file lost after its index transaction (e.g. a power loss before the rename reached
    the disk): the shard is decided again from the state before it, not from a state that holds it."""
    cfg = SimpleNamespace(exact_dedup=True, near_dup_distance=4)
    hashes = _hashes(1500, 4, seed=13)
    shards = [s for s in _shards(hashes, seed=2) if s]
    want = _decide_all(tmp_path / "ref", cfg, shards)
    out = tmp_path / "out"
    _decide_all(out, cfg, shards[:6]).clear()
    decision_path(out, 5).unlink()
    again = IncrementalDedup(out, cfg)
    got = {}
    for i in range(5):
        got.update(again.load(i))
    assert again.load(5) is None
    got.update(_decide_all(out, cfg, shards, start=5, dedup=again))
    assert list(got.items()) == list(want.items())
    saved = json.loads(decision_path(out, 5).read_text())
    assert saved["rejected"] == {k: v for k, v in want.items() if k in {h[0] for h in shards[5]}}


def test_client_memory_per_kept_input_is_bounded(tmp_path):
    """200k distinct inputs (random phashes: all kept by both filters): the traced memory grows by
    < 100 bytes per kept input between 50k and 200k (the old dict state: ~400 B)."""
    cfg = SimpleNamespace(exact_dedup=True, near_dup_distance=4)
    rng = random.Random(0)
    (tmp_path / "_stage").mkdir()
    dedup = IncrementalDedup(tmp_path, cfg)
    tracemalloc.start()
    try:
        marks = {}
        for index in range(200):
            hashes = [[f"{i:020x}", _sha(i), f"{rng.getrandbits(64):016x}"] for i in range(index * 1000, index * 1000 + 1000)]
            stage_paths(tmp_path, index)["parquet"].touch()
            assert dedup.decide(index, hashes) == {}
            if index + 1 in (50, 200):
                marks[index + 1] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_input = (marks[200] - marks[50]) / 150_000
    assert per_input < 100, per_input
    assert dedup.index.memory_bytes() < 48 * 2**20 + 100 * 200_000


def test_sub_quadratic_probe_never_scans_the_kept_set(monkeypatch):
    """A probe visits only the bucket chains of its band keys: with 100k kept random phashes, one shard
    of 1000 queries walks far fewer entries than 1000 x 100k."""
    state = dedup_index.NearState(4)
    rng = random.Random(1)
    import numpy as np

    state.append(np.array([rng.getrandbits(64) for _ in range(100_000)], np.uint64))
    walked = []
    real = dedup_index._Chains.walk

    def walk(self, buckets):
        q, k = real(self, buckets)
        walked.append(len(k))
        return q, k

    monkeypatch.setattr(dedup_index._Chains, "walk", walk)
    state.search(np.array([rng.getrandbits(64) for _ in range(1000)], np.uint64))
    assert sum(walked) < 1000 * 100_000 / 1000
