"""Aggregation: means with percentile-bootstrap 95% confidence intervals.

Why bootstrap: per-image similarities are bounded and skewed; a percentile bootstrap makes no
normality assumption and is what readers of benchmark tables expect. The resampling is seeded,
so the same per-sample scores always give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unified_bench.results.schema import Aggregate


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
