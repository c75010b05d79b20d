"""Assemble a ``Results`` object from what the runner collected (the one place results are built).

Why: every task's results carry the same envelope (benchmark, model, data-set fingerprint,
settings, metrics, coverage per stage, provenance); the task contributes only its sample records,
metric metadata and aggregation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unified_bench.results.aggregate import Aggregation
from unified_bench.results.provenance import build_provenance
from unified_bench.results.schema import (
    BenchmarkInfo,
    Coverage,
    MetricInfo,
    ModelInfo,
    Results,
    SampleRecord,
    StageCoverage,
)
from unified_bench.specs import RuntimeOptions


def stage_coverage(records: Mapping[str, Mapping[str, Any]], total: int) -> StageCoverage:
    """How many of a stage's ``total`` requests produced an output (``ok``) or failed."""
    ok = sum(1 for r in records.values() if r.get("status") == "ok")
    failed = sum(1 for r in records.values() if r.get("status") != "ok")
    return StageCoverage(total=total, ok=ok, failed=failed)


def build_results(
    *,
    benchmark: BenchmarkInfo,
    model: Mapping[str, Any] | None,
    dataset: Mapping[str, Any],
    settings: Mapping[str, Any],
    metrics: Sequence[MetricInfo],
    aggregation: Aggregation,
    samples: Sequence[SampleRecord],
    stages: Mapping[str, StageCoverage],
    non_standard_reasons: Sequence[str],
    runtime: RuntimeOptions,
    wall_time_s: float,
) -> Results:
    return Results(
        benchmark=benchmark,
        model=ModelInfo.model_validate(dict(model)) if model is not None else None,
        dataset=dict(dataset),
        settings=dict(settings),
        metrics=list(metrics),
        standard=not non_standard_reasons,
        non_standard_reasons=list(non_standard_reasons),
        aggregates=aggregation.aggregates,
        overall=aggregation.overall,
        groups=aggregation.groups,
        coverage=Coverage(
            n_samples=len(samples),
            n_scored=sum(1 for s in samples if s.status == "ok"),
            stages=dict(stages),
        ),
        samples=list(samples),
        provenance=build_provenance(runtime, wall_time_s=wall_time_s),
    )
