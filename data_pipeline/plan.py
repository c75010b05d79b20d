"""The shard plan: which input goes to which shard, fixed and written before any work.

Why: exactly-once output needs a plan that every run of the same job agrees on. Ids are stable
(derived from source + locator), the optional shuffle is seeded, shards have a fixed size, and the
plan is written to ``OUT/plan.json`` first. A re-run compares fingerprints and refuses to mix two
different plans (or two different recipes) in one output folder.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.atomic import tmp_path_for
from data_pipeline.errors import PlanMismatchError
from data_pipeline.records import InputRecord

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe

PLAN_FILE = "plan.json"
PLAN_VERSION = 1


@dataclass(frozen=True)
class ShardSpec:
    index: int
    records: tuple[InputRecord, ...]

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


@dataclass(frozen=True)
class ShardPlan:
    fingerprint: str  # hash of ids per shard: same inputs + same sharding => same value
    recipe_fingerprint: str
    shards: tuple[ShardSpec, ...]

    @property
    def n_inputs(self) -> int:
        return sum(len(s.records) for s in self.shards)

    def to_json(self, with_shards: bool = True) -> dict:
        head = {"version": PLAN_VERSION, "fingerprint": self.fingerprint,
                "recipe_fingerprint": self.recipe_fingerprint, "n_inputs": self.n_inputs}
        if not with_shards:
            return head
        return {**head, "shards": [{"index": s.index, "records": [r.to_json() for r in s.records]}
                                   for s in self.shards]}

    @classmethod
    def from_json(cls, data: dict) -> ShardPlan:
        shards = tuple(ShardSpec(s["index"], tuple(InputRecord.from_json(r) for r in s["records"]))
                       for s in data["shards"])
        return cls(data["fingerprint"], data["recipe_fingerprint"], shards)


def build_plan(recipe: Recipe, records: list[InputRecord] | None = None) -> ShardPlan:
    """Deterministic: same sources, seed and shard size give the same shards, in the same order."""
    from data_pipeline.sources import iter_records

    records = list(iter_records(recipe)) if records is None else list(records)
    if recipe.sharding.shuffle_seed is not None:
        random.Random(recipe.sharding.shuffle_seed).shuffle(records)
    n = recipe.sharding.samples_per_shard
    shards = tuple(ShardSpec(i, tuple(records[j:j + n])) for i, j in enumerate(range(0, len(records), n)))
    h = hashlib.sha256()
    for s in shards:
        h.update(f"{s.index}:".encode() + ",".join(r.id for r in s.records).encode() + b";")
    return ShardPlan(h.hexdigest(), recipe.fingerprint(), shards)


def write_plan(path: Path, plan: ShardPlan) -> None:
    """``plan.to_json()`` written atomically shard by shard: the whole plan as one dict (and one string)
    doubled the client's peak memory for a large job."""
    import os

    tmp = tmp_path_for(path)
    head = plan.to_json(with_shards=False)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(head, sort_keys=True)[:-1] + ', "shards": [')
        for i, s in enumerate(plan.shards):
            fh.write(("," if i else "") + json.dumps({"index": s.index, "records": [r.to_json() for r in s.records]},
                                                     sort_keys=True, default=str))
        fh.write("]}")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_plan(out_dir: str | Path) -> ShardPlan | None:
    path = Path(out_dir) / PLAN_FILE
    if not path.exists():
        return None
    return ShardPlan.from_json(json.loads(path.read_text(encoding="utf-8")))


def prepare_plan(recipe: Recipe, out_dir: str | Path) -> tuple[ShardPlan, bool]:
    """Build the plan, compare with any plan already in ``out_dir``; returns (plan, resumed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = build_plan(recipe)
    old = load_plan(out)
    if old is None:
        write_plan(out / PLAN_FILE, plan)
        return plan, False
    if old.fingerprint != plan.fingerprint:
        raise PlanMismatchError(
            f"Output folder '{out}' holds a different shard plan ({old.n_inputs} inputs in {len(old.shards)} "
            f"shards vs now {plan.n_inputs} in {len(plan.shards)}): the sources, shuffle seed or shard size changed.",
            "use a new --out folder, or restore the original sources/sharding to resume")
    if old.recipe_fingerprint != plan.recipe_fingerprint:
        raise PlanMismatchError(
            f"Output folder '{out}' holds a job built from a different recipe (image, filter, captioner or "
            "QC settings differ); resuming would mix two data sets.",
            "use a new --out folder, or restore the original recipe to resume")
    return old, True
