"""Phase 3 task: apply dedup decisions, caption + QC, write the final shard.

Idempotent and crash-safe: a shard already committed (a retry of a task whose worker died after the
commit, before its result reached the client) returns the committed stats without touching anything,
and the task never deletes its own input: the client removes the stage once it has recorded the
result (``executor.remove_stage``). When the captioner is unreachable for longer than its outage
budget, nothing is written and the result says ``deferred``: the shard stays staged for a re-run
instead of committing ``caption_error`` rows for samples that were never really captioned.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from data_pipeline.sample import ACCEPTED

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe


def _client_stats(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "caption_words"}  # the client needs counts only


def finalize_shard(index: int, recipe: Recipe, out_dir: str, duplicates: dict[str, dict[str, str]],
                   pieces: int | None = None) -> dict[str, Any]:
    """Dask task: commit shard ``index`` (or return its committed stats, or ``{"deferred": why}``) from its
    ``pieces`` staged pieces (else counted from its plan file), read in order: the shard in plan order."""
    import pyarrow.parquet as pq

    from data_pipeline.preflight import require_shared_out
    from data_pipeline.stages.ingest import shard_pieces, stage_paths
    from data_pipeline.writers.rows import row_to_sample
    from data_pipeline.writers.shard import read_committed_stats, write_shard

    require_shared_out(out_dir)
    done = read_committed_stats(out_dir, index)
    if done is not None:
        return _client_stats(done)
    t0 = time.perf_counter()
    samples = [row_to_sample(r)
               for piece in range(shard_pieces(out_dir, index) if pieces is None else pieces)
               for r in pq.read_table(stage_paths(out_dir, index, piece)["parquet"]).to_pylist()]
    for s in samples:
        dup = duplicates.get(s.id)
        if dup and s.pending:
            s.duplicate_of = dup.get("duplicate_of")
            s.reject("dedup", dup["reason"], dup.get("detail", ""))
    if recipe.captioner is not None:
        from data_pipeline.captioners.errors import CaptionerUnavailable
        from data_pipeline.stages.caption import caption_samples

        try:
            caption_samples(samples, recipe.captioner, recipe.qc)
        except CaptionerUnavailable as exc:
            return {"shard": index, "deferred": str(exc)}
    else:
        for s in samples:
            if s.pending:
                s.status = ACCEPTED
    stats = write_shard(out_dir, index, samples, recipe.image.format,
                        extra_stats={"seconds_finalize": round(time.perf_counter() - t0, 3)})
    return _client_stats(stats)
