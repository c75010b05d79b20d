"""Phase 3 task: apply dedup decisions, caption + QC, write the final shard, drop the stage file."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from data_pipeline.sample import ACCEPTED

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe


def finalize_shard(index: int, recipe: Recipe, out_dir: str, duplicates: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Dask task (idempotent): the stage file is deleted only after the stats marker exists."""
    import pyarrow.parquet as pq

    from data_pipeline.stages.ingest import stage_paths
    from data_pipeline.writers.rows import row_to_sample
    from data_pipeline.writers.shard import write_shard

    t0 = time.perf_counter()
    stage = stage_paths(out_dir, index)
    samples = [row_to_sample(r) for r in pq.read_table(stage["parquet"]).to_pylist()]
    for s in samples:
        dup = duplicates.get(s.id)
        if dup and s.pending:
            s.duplicate_of = dup.get("duplicate_of")
            s.reject("dedup", dup["reason"], dup.get("detail", ""))
    if recipe.captioner is not None:
        from data_pipeline.stages.caption import caption_samples

        caption_samples(samples, recipe.captioner, recipe.qc)
    else:
        for s in samples:
            if s.pending:
                s.status = ACCEPTED
    stats = write_shard(out_dir, index, samples, recipe.image.format,
                        extra_stats={"seconds_finalize": round(time.perf_counter() - t0, 3)})
    stage["parquet"].unlink(missing_ok=True)
    return {k: v for k, v in stats.items() if k != "caption_words"}  # the client needs counts only
