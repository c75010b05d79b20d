"""Dedup decisions (client side), shard by shard in plan order, as soon as a shard's prefix is staged.

Why incremental: dedup is "first occurrence in plan order wins", and each dedup filter is a scan in
plan order whose state depends only on the samples before it. So shard k's decisions are final as
soon as shards 0..k are staged, and applying the filters shard by shard (state carried over) gives
exactly what one pass over the whole job gives. That lets phase 3 of shard k start while later
shards are still being fetched.

Persistence (resume is deterministic): shard k's decisions AND the hashes it fed into the filters
are written atomically to ``_stage/dedup/NNNNN.json`` before its phase-3 task is issued; then k's
kept hashes are committed to the on-disk index (``_stage/dedup/index.sqlite``, stages/dedup_index.py,
one transaction per shard). On resume the carried state is read back from the index, the persisted
decisions are reused as they are (never recomputed), and only shards whose decisions file was written
but whose index transaction was not (a crash in between) are replayed from their persisted hashes.
The state in client memory is a few flat arrays (~40 bytes per kept input), not dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from data_pipeline.atomic import atomic_write_json
from data_pipeline.errors import DataPipelineError
from data_pipeline.stages.dedup_index import DedupIndex
from data_pipeline.stages.ingest import STAGE_DIR, shard_pieces, stage_paths

if TYPE_CHECKING:
    from data_pipeline.recipe import FilterConfig

DEDUP_DIR = "dedup"

Decisions = dict[str, dict[str, str]]


def _entry(key: str, sha: str, phash: str) -> SimpleNamespace:
    ns = SimpleNamespace(id=key, sha256=sha, phash=phash, pending=True, duplicate_of=None,
                         stage=None, reason=None, detail="")

    def reject(stage: str, reason: str, detail: str = "") -> None:
        ns.pending, ns.stage, ns.reason, ns.detail = False, stage, reason, detail

    ns.reject = reject
    return ns


def decision_path(out_dir: str | Path, index: int) -> Path:
    return Path(out_dir) / STAGE_DIR / DEDUP_DIR / f"{index:05d}.json"


def read_staged_hashes(out_dir: str | Path, index: int, pieces: int | None = None) -> list[list[str]]:
    """[[id, sha256, phash], ...] of the still-pending samples of a staged shard, in plan order, read
    back from its staged pieces (a resumed build; otherwise the ingest tasks' results carry them).
    ``pieces``: the shard's piece count, else read from its plan file."""
    import pyarrow.parquet as pq

    out: list[list[str]] = []
    for piece in range(shard_pieces(out_dir, index) if pieces is None else pieces):
        t = pq.read_table(stage_paths(out_dir, index, piece)["parquet"], columns=["key", "status", "sha256", "phash"])
        cols = [t.column(c).to_pylist() for c in ("key", "status", "sha256", "phash")]
        out += [[k, sha, ph] for k, status, sha, ph in zip(*cols, strict=True) if status == "pending"]
    return out


class IncrementalDedup:
    """Exact + near dedup state carried across shards; ``decide`` must be called in plan order.

    The state is ``DedupIndex`` (stages/dedup_index.py): compact arrays in memory (~40 bytes per kept
    input) and ``_stage/dedup/index.sqlite`` on disk, opened at the first ``load``/``decide``.
    Shard k's decisions file is written before k is committed to the index, so after a crash between
    the two, ``load(k)`` replays k's persisted hashes; shards already in the index are not replayed."""

    def __init__(self, out_dir: str | Path, cfg: FilterConfig) -> None:
        from data_pipeline.filters import dedup_filters
        from data_pipeline.filters.dedup import ExactDuplicateFilter, NearDuplicateFilter

        self.out = Path(out_dir)
        self.filters = dedup_filters(cfg)
        self.next_index = 0  # plan position whose decisions come next
        self._exact = any(isinstance(f, ExactDuplicateFilter) for f in self.filters)
        self._near = next((f.max_distance for f in self.filters if isinstance(f, NearDuplicateFilter)), None)
        self._index: DedupIndex | None = None

    @property
    def index(self) -> DedupIndex:
        if self._index is None:
            self._index = DedupIndex(self.out / STAGE_DIR / DEDUP_DIR, self._exact, self._near)
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def load(self, index: int) -> Decisions | None:
        """Reuse shard ``index``'s persisted decisions (replaying its hashes into the carried state unless
        the index already holds them), or None when they were never computed."""
        if index != self.next_index:
            raise ValueError(f"dedup decisions out of plan order: {index} != {self.next_index}")
        path = decision_path(self.out, index)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if self.filters and self.index.applied > index:  # the index is ahead of the decisions files
                self.index.truncate(index)
            return None
        if data["filters"] != [f.name for f in self.filters]:
            raise DataPipelineError(f"{path} was written with dedup filters {data['filters']}",
                                    "build into a fresh output folder (the recipe's filters changed)")
        if self.filters:
            ix = self.index
            if ix.applied > index and ix.n_hashes[index] != len(data["hashes"]):  # not the file it indexed
                ix.truncate(index)
            if ix.applied == index:  # rebuild the carried state; the persisted decisions stay authoritative
                ix.commit(index, ix.decide(data["hashes"])[1])
        self.next_index += 1
        return data["rejected"]

    def decide(self, index: int, hashes: list[list[str]] | None = None, pieces: int | None = None) -> Decisions:
        """Shard ``index``'s decisions: reused if persisted, else computed from its staged hashes
        (``hashes``, as the ingest tasks returned them, or read back from the stage's ``pieces`` pieces,
        else counted from the shard's plan file) and written atomically, then committed to the index.
        Shards < index must already be loaded/decided."""
        got = self.load(index)
        if got is not None:
            return got
        if self.filters and not stage_paths(self.out, index)["parquet"].exists():
            raise DataPipelineError(f"shard {index:05d} has neither dedup decisions nor a staged file in {self.out}",
                                    "build into a fresh output folder (this one was changed by hand)")
        if not self.filters:
            hashes, rejected, update = [], {}, None
        else:
            if hashes is None:
                hashes = read_staged_hashes(self.out, index, pieces)
            rejected, update = self.index.decide(hashes)
        path = decision_path(self.out, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"shard": index, "filters": [f.name for f in self.filters], "hashes": hashes,
                                 "rejected": rejected}, indent=None)
        if update is not None:
            self.index.commit(index, update)  # after the decisions file: a crash in between replays it
        self.next_index += 1
        return rejected
