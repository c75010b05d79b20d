import numpy as np

from unified_bench.results.aggregate import aggregate, bootstrap_ci


def test_constant_values_have_a_degenerate_interval():
    agg = aggregate([0.5] * 10, scale=100)
    assert agg.mean == 50.0 and agg.ci_low == 50.0 and agg.ci_high == 50.0 and agg.n == 10


def test_interval_brackets_the_mean_and_is_seeded():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, 100)
    low, high = bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, seed=3)
    # Normal-theory interval as an independent sanity check of the width (within 25%).
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs((high - low) - 2 * 1.96 * se) < 0.25 * 2 * 1.96 * se


def test_single_value():
    agg = aggregate([0.25], scale=100)
    assert (agg.mean, agg.ci_low, agg.ci_high) == (25.0, 25.0, 25.0)
