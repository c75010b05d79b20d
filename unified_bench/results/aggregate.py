"""Aggregation: means with percentile-bootstrap 95% confidence intervals (pure, torch-free).

Why bootstrap: per-image similarities are bounded and skewed; a percentile bootstrap makes no
normality assumption and is what readers of benchmark tables expect. The resampling is seeded,
so the same per-sample scores always give the same interval. The leaderboard recomputes every
submitted aggregate with these functions (through each task's ``aggregate``), so nothing here may
import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from unified_bench.results.schema import Aggregate, MetricInfo, SampleRecord


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_resamples, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def aggregate(values: Sequence[float], scale: float = 1.0, seed: int = 0) -> Aggregate:
    """Mean and bootstrap CI of ``values`` multiplied by ``scale`` (100 for similarity scores)."""
    arr = np.asarray(values, dtype=np.float64) * scale
    if arr.size == 0:
        return Aggregate(mean=float("nan"), ci_low=float("nan"), ci_high=float("nan"), n=0)
    low, high = bootstrap_ci(arr, seed=seed)
    return Aggregate(mean=float(arr.mean()), ci_low=low, ci_high=high, n=int(arr.size))


@dataclass(frozen=True)
class Aggregation:
    """Everything a task derives from its per-sample records: the numbers a leaderboard recomputes."""

    aggregates: dict[str, Aggregate]
    overall: Aggregate | None
    groups: dict[str, dict[str, Aggregate]] = field(default_factory=dict)


def metric_values(samples: Sequence[SampleRecord], name: str) -> list[float]:
    """The finite values of one score over the samples (a null score is "not measured")."""
    out = []
    for s in samples:
        value = s.scores.get(name)
        if value is not None and math.isfinite(value):
            out.append(float(value))
    return out


def per_metric_aggregates(
    samples: Sequence[SampleRecord], metrics: Sequence[MetricInfo], seed: int
) -> dict[str, Aggregate]:
    """Mean + CI of every declared metric over the samples that have it, on the metric's scale."""
    out: dict[str, Aggregate] = {}
    for m in metrics:
        values = metric_values(samples, m.name)
        if values:  # a metric with no value at all has no aggregate
            out[m.name] = aggregate(values, scale=m.scale, seed=seed)
    return out


def mean_of_in_overall(
    samples: Sequence[SampleRecord], metrics: Sequence[MetricInfo], seed: int
) -> Aggregate | None:
    """Overall = mean over samples of the per-sample mean of the in-overall metrics (None if none).

    Every in-overall metric must be present on every sample: a task scores a failure explicitly
    (e.g. 0), so a missing value here is a malformed record, not a smaller denominator.
    """
    wanted = [m for m in metrics if m.in_overall]
    if not wanted:
        return None
    scales = {m.scale for m in wanted}
    if len(scales) != 1:
        raise ValueError(f"in-overall metrics have different scales: {sorted(scales)}")
    per_sample = []
    for s in samples:
        values = [s.scores.get(m.name) for m in wanted]
        if any(v is None for v in values):
            raise ValueError(f"sample {s.id} lacks an in-overall score ({[m.name for m in wanted]})")
        per_sample.append(float(np.mean(values)))
    return aggregate(per_sample, scale=scales.pop(), seed=seed)


def default_aggregation(samples: Sequence[SampleRecord], metrics: Sequence[MetricInfo], seed: int) -> Aggregation:
    """Per-metric means, the in-overall mean, and per-group means of the in-overall metrics."""
    groups: dict[str, dict[str, Aggregate]] = {}
    keys = sorted({k for s in samples for k in s.groups})
    for key in keys:
        by_value: dict[str, list[SampleRecord]] = {}
        for s in samples:
            if key in s.groups:
                by_value.setdefault(s.groups[key], []).append(s)
        table = {}
        for value, members in sorted(by_value.items()):
            agg = mean_of_in_overall(members, metrics, seed)
            if agg is not None:
                table[value] = agg
        if table:
            groups[key] = table
    return Aggregation(
        aggregates=per_metric_aggregates(samples, metrics, seed),
        overall=mean_of_in_overall(samples, metrics, seed),
        groups=groups,
    )
