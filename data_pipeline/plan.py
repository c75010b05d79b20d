"""The shard plan: which input goes to which shard, fixed and written before any work.

Why: exactly-once output needs a plan that every run of the same job agrees on. Ids are stable
(derived from source + locator), the optional shuffle is seeded, shards have a fixed size, and the
plan is written to ``OUT/plan/`` first. A re-run compares fingerprints and refuses to mix two
different plans (or two different recipes) in one output folder.

Why in pieces (plan version 2): a 10M-input plan held whole cost the client ~10 GB. The plan is now
written *while the sources are streamed*: ``OUT/plan/NNNNN.jsonl`` holds one shard's records (one JSON
object a line) and ``OUT/plan/head.json`` the small rest (version, fingerprints, counts, the first
local file of each source for the preflight). The client keeps only the head; a shard's records are
read from its file when its ingest task is issued. The fingerprint (a hash over every shard's ids) is
computed as the shards are emitted. The folder is written as ``plan.tmp-*`` and renamed into place,
``head.json`` included, so a plan folder is always complete.

Shuffle, out of core: every record gets a keyed hash ``blake2b(id, key=seed)`` (64 bits); the plan
order is the records sorted by that hash (ties: by id). Records are spilled into 256 bucket files by
the hash's top byte (in memory only until ``SPILL_LINES`` are buffered), then each bucket is sorted
in memory and emitted in bucket order, which is that global sort. Memory is bounded by one bucket
(1/256 of the inputs) plus the spill buffer, and the permutation depends only on the seed and the set
of ids, never on source order or chunking. Plan version 1 used ``random.Random(seed).shuffle`` over
the whole list: the same seed now gives a different permutation (hence the version bump).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.atomic import TMP_MARK, atomic_write_json, tmp_path_for
from data_pipeline.errors import PlanMismatchError
from data_pipeline.records import InputRecord

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe

PLAN_DIR = "plan"
HEAD_FILE = "head.json"
#: What every task checks exists before it writes (``preflight.require_shared_out``).
PLAN_HEAD = f"{PLAN_DIR}/{HEAD_FILE}"
LEGACY_PLAN_FILE = "plan.json"  # version 1: the whole plan in one file
PLAN_VERSION = 2
N_BUCKETS = 256  # shuffle spill buckets (top byte of the keyed hash)
SPILL_LINES = 100_000  # records buffered in memory before the shuffle spills to its bucket files


@dataclass(frozen=True)
class ShardSpec:
    index: int
    records: tuple[InputRecord, ...]

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


def shard_path(plan_dir: str | Path, index: int) -> Path:
    return Path(plan_dir) / f"{index:05d}.jsonl"


def read_shard(plan_dir: str | Path, index: int) -> ShardSpec:
    with open(shard_path(plan_dir, index), encoding="utf-8") as fh:
        return ShardSpec(index, tuple(InputRecord.from_json(json.loads(line)) for line in fh if line.strip()))


class _Shards(Sequence[ShardSpec]):
    """``plan.shards``: read from the shard files on access, never held (``len`` is free)."""

    def __init__(self, plan_dir: Path, n: int) -> None:
        self._dir, self._n = plan_dir, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        return read_shard(self._dir, index)


@dataclass(frozen=True)
class ShardPlan:
    """The plan's head; shards are read from ``folder`` one at a time (``shards[i]`` / ``shard(i)``)."""

    fingerprint: str  # hash of ids per shard: same inputs + same sharding => same value
    recipe_fingerprint: str
    n_inputs: int
    n_shards: int
    folder: Path = field(compare=False)
    local_paths: tuple[str, ...] = ()  # first local file of each source (stream order), for the preflight

    @property
    def shards(self) -> Sequence[ShardSpec]:
        return _Shards(self.folder, self.n_shards)

    def shard(self, index: int) -> ShardSpec:
        return read_shard(self.folder, index)

    def to_json(self) -> dict:
        return {"version": PLAN_VERSION, "fingerprint": self.fingerprint,
                "recipe_fingerprint": self.recipe_fingerprint, "n_inputs": self.n_inputs,
                "n_shards": self.n_shards, "local_paths": list(self.local_paths)}

    @classmethod
    def from_json(cls, data: dict, folder: Path) -> ShardPlan:
        return cls(data["fingerprint"], data["recipe_fingerprint"], data["n_inputs"], data["n_shards"], Path(folder),
                   tuple(data.get("local_paths", ())))


def shuffle_key(seed: int, record_id: str) -> int:
    """The 64-bit keyed hash that orders a shuffled plan."""
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8,
                                          key=str(seed).encode()).digest(), "big")


class _ShardWriter:
    """Cuts a stream of (id, json line) into fixed-size shard files, fingerprinting as it goes."""

    def __init__(self, folder: Path, per_shard: int, write: bool = True) -> None:
        self.folder, self.per_shard, self.write = folder, per_shard, write
        self.ids: list[str] = []
        self.lines: list[str] = []
        self.n_shards = self.n_inputs = 0
        self.hash = hashlib.sha256()

    def add(self, rid: str, line: str) -> None:
        self.ids.append(rid)
        self.lines.append(line)
        if len(self.ids) == self.per_shard:
            self.flush()

    def flush(self) -> None:
        if not self.ids:
            return
        if self.write:
            with open(shard_path(self.folder, self.n_shards), "w", encoding="utf-8") as fh:
                fh.writelines(self.lines)
        # the same formula as plan version 1
        self.hash.update(f"{self.n_shards}:".encode() + ",".join(self.ids).encode() + b";")
        self.n_inputs += len(self.ids)
        self.n_shards += 1
        self.ids, self.lines = [], []


def _line(rec: InputRecord) -> str:
    return json.dumps(rec.to_json(), sort_keys=True, default=str) + "\n"


class _Spill:
    """The out-of-core shuffle: bucket by the keyed hash's top byte, sort each bucket, emit in order."""

    def __init__(self, folder: Path, seed: int) -> None:
        self.folder, self.seed = folder, seed
        self.buffers: list[list[str]] = [[] for _ in range(N_BUCKETS)]
        self.n_buffered = 0
        self.spilled = False

    def add(self, rec: InputRecord) -> None:
        key = shuffle_key(self.seed, rec.id)
        # "KEY ID JSON": sorting the lines sorts by key, then id (ids are unique and space-free)
        self.buffers[key >> 56].append(f"{key:016x} {rec.id} {_line(rec)}")
        self.n_buffered += 1
        if self.n_buffered >= SPILL_LINES:
            self._spill()

    def _bucket_file(self, b: int) -> Path:
        return self.folder / f"bucket-{b:03d}.tmp"

    def _spill(self) -> None:
        self.spilled = True
        for b, buf in enumerate(self.buffers):
            if buf:
                with open(self._bucket_file(b), "a", encoding="utf-8") as fh:
                    fh.writelines(buf)
                buf.clear()
        self.n_buffered = 0

    def emit(self, writer: _ShardWriter) -> None:
        for b in range(N_BUCKETS):
            lines = self.buffers[b]
            self.buffers[b] = []
            path = self._bucket_file(b)
            if self.spilled and path.exists():
                with open(path, encoding="utf-8") as fh:
                    lines = fh.readlines() + lines
                path.unlink()
            lines.sort()
            for line in lines:
                _, rid, rest = line.split(" ", 2)
                writer.add(rid, rest)
            del lines


def write_plan(recipe: Recipe, folder: str | Path, records: Iterable[InputRecord] | None = None,
               write_shards: bool = True) -> ShardPlan:
    """Stream the recipe's sources (or ``records``) into plan files in ``folder`` (created; must not
    hold a plan) and write its head last. Deterministic: same sources, seed and shard size give the
    same shard files. Never holds more than one shard, or one shuffle bucket, of records.
    ``write_shards=False``: only the head (the fingerprint to compare on resume); a shuffle still
    spills to bucket files in ``folder``."""
    from data_pipeline.sources import iter_records

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = _ShardWriter(folder, recipe.sharding.samples_per_shard, write_shards)
    seed = recipe.sharding.shuffle_seed
    spill = _Spill(folder, seed) if seed is not None else None
    local: dict[str, str] = {}
    for rec in iter_records(recipe) if records is None else records:
        if rec.kind in ("path", "tar") and rec.source not in local:
            local[rec.source] = rec.locator.rpartition("#")[0] if rec.kind == "tar" else rec.locator
        if spill is not None:
            spill.add(rec)
        else:
            writer.add(rec.id, _line(rec))
    if spill is not None:
        spill.emit(writer)
    writer.flush()
    plan = ShardPlan(writer.hash.hexdigest(), recipe.fingerprint(), writer.n_inputs, writer.n_shards, folder,
                     tuple(local.values()))
    atomic_write_json(folder / HEAD_FILE, plan.to_json())
    return plan


def load_plan(out_dir: str | Path) -> ShardPlan | None:
    """The plan head in ``out_dir`` (None when there is none). A version-1 ``plan.json`` is refused."""
    out = Path(out_dir)
    if (out / LEGACY_PLAN_FILE).exists():
        raise PlanMismatchError(
            f"Output folder '{out}' holds a plan of an older format ({LEGACY_PLAN_FILE}, plan version 1): this "
            f"version stores the plan in pieces under {PLAN_DIR}/ and shuffles with a different permutation, "
            "so it cannot resume that build.",
            "use a new --out folder, or finish this one with the release that started it")
    head = out / PLAN_HEAD
    if not head.exists():
        return None
    data = json.loads(head.read_text(encoding="utf-8"))
    if data.get("version") != PLAN_VERSION:
        raise PlanMismatchError(f"Output folder '{out}' holds a plan of version {data.get('version')}, "
                                f"this code writes version {PLAN_VERSION}.", "use a new --out folder")
    return ShardPlan.from_json(data, out / PLAN_DIR)


def remove_stale_plans(out_dir: str | Path) -> int:
    """Delete ``plan.tmp-*`` folders left by an interrupted planning."""
    n = 0
    for p in Path(out_dir).glob(f"{PLAN_DIR}{TMP_MARK}*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def prepare_plan(recipe: Recipe, out_dir: str | Path) -> tuple[ShardPlan, bool]:
    """Plan into ``out_dir`` (streamed, in pieces), compare with any plan already there; returns
    (plan, resumed). On resume the sources are streamed again for the fingerprint only (no shard files
    are written) and the old plan's files stay the ones tasks read."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = load_plan(out)  # refuses a version-1 folder before any work
    remove_stale_plans(out)
    tmp = tmp_path_for(out / PLAN_DIR)
    try:
        plan = write_plan(recipe, tmp, write_shards=old is None)
        if old is None:
            os.rename(tmp, out / PLAN_DIR)
            return ShardPlan(plan.fingerprint, plan.recipe_fingerprint, plan.n_inputs, plan.n_shards,
                             out / PLAN_DIR, plan.local_paths), False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if old.fingerprint != plan.fingerprint:
        raise PlanMismatchError(
            f"Output folder '{out}' holds a different shard plan ({old.n_inputs} inputs in {old.n_shards} "
            f"shards vs now {plan.n_inputs} in {plan.n_shards}): the sources, shuffle seed or shard size changed.",
            "use a new --out folder, or restore the original sources/sharding to resume")
    if old.recipe_fingerprint != plan.recipe_fingerprint:
        raise PlanMismatchError(
            f"Output folder '{out}' holds a job built from a different recipe (image, filter, captioner or "
            "QC settings differ); resuming would mix two data sets.",
            "use a new --out folder, or restore the original recipe to resume")
    return old, True


def iter_plan_records(plan: ShardPlan) -> Iterator[InputRecord]:
    """Every record in plan order, one shard file at a time."""
    for i in range(plan.n_shards):
        yield from read_shard(plan.folder, i).records
