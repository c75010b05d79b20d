"""Phase 2 (client side, once per job): exact and near-duplicate decisions over all staged hashes.

Reads only the id/sha256/phash columns of every staged shard, walks them in plan order through
the stateful dedup filters and writes ``_stage/dedup.json`` atomically. Deterministic: the result
depends on the plan order, never on which shard finished first; a resumed job reuses the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from data_pipeline.atomic import atomic_write_json
from data_pipeline.stages.ingest import STAGE_DIR, stage_paths

if TYPE_CHECKING:
    from data_pipeline.plan import ShardPlan
    from data_pipeline.recipe import FilterConfig

DEDUP_FILE = "dedup.json"


def _entry(key: str, sha: str, phash: str) -> SimpleNamespace:
    ns = SimpleNamespace(id=key, sha256=sha, phash=phash, pending=True, duplicate_of=None,
                         stage=None, reason=None, detail="")

    def reject(stage: str, reason: str, detail: str = "") -> None:
        ns.pending, ns.stage, ns.reason, ns.detail = False, stage, reason, detail

    ns.reject = reject
    return ns


def compute_dedup(plan: ShardPlan, out_dir: str | Path, cfg: FilterConfig) -> dict[str, dict[str, str]]:
    """{id: {reason, detail, duplicate_of}} for every duplicate; load it if already computed."""
    import pyarrow.parquet as pq

    from data_pipeline.filters import dedup_filters

    path = Path(out_dir) / STAGE_DIR / DEDUP_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["rejected"]
    filters = dedup_filters(cfg)
    rejected: dict[str, dict[str, str]] = {}
    if filters:
        entries = []
        for shard in plan.shards:
            t = pq.read_table(stage_paths(out_dir, shard.index)["parquet"], columns=["key", "status", "sha256", "phash"])
            for key, status, sha, ph in zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True):
                if status == "pending":
                    entries.append(_entry(key, sha, ph))
        for f in filters:
            f.apply(entries)
        rejected = {e.id: {"reason": e.reason, "detail": e.detail, "duplicate_of": e.duplicate_of}
                    for e in entries if not e.pending}
    atomic_write_json(path, {"rejected": rejected, "filters": [f.name for f in filters]})
    return rejected
