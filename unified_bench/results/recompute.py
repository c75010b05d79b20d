"""Recompute a results file's aggregates from its per-sample records.

Why: a submitted results.json states its own means and intervals; the leaderboard (and
``unified-bench report``) must not trust them. Each task's ``aggregate`` is a pure, torch-free
function of the samples, the declared metrics and the seed, so the server can re-derive every
number exactly as the CLI did and reject a file whose stated numbers differ.
"""

from __future__ import annotations

import math

from unified_bench.results.aggregate import Aggregation
from unified_bench.results.schema import Aggregate, Results


def recompute(results: Results) -> Aggregation:
    """The aggregation the task that wrote ``results`` derives from its samples (no torch import)."""
    from unified_bench.tasks import TASKS

    task_cls = TASKS.get(results.benchmark.name)
    return task_cls.aggregate(results.samples, results.metrics, results.settings, results.provenance.seed)


def _close(a: Aggregate | None, b: Aggregate | None, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a.n != b.n:
        return False
    for x, y in ((a.mean, b.mean), (a.ci_low, b.ci_low), (a.ci_high, b.ci_high)):
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=0.0, abs_tol=tol):
            return False
    return True


def mismatches(results: Results, tol: float = 1e-6) -> list[str]:
    """Names of the stated aggregates that differ from the recomputed ones (empty = consistent)."""
    fresh = recompute(results)
    bad = []
    for name in sorted(set(results.aggregates) | set(fresh.aggregates)):
        if not _close(results.aggregates.get(name), fresh.aggregates.get(name), tol):
            bad.append(name)
    if not _close(results.overall, fresh.overall, tol):
        bad.append("overall")
    for key in sorted(set(results.groups) | set(fresh.groups)):
        stated, derived = results.groups.get(key, {}), fresh.groups.get(key, {})
        for value in sorted(set(stated) | set(derived)):
            if not _close(stated.get(value), derived.get(value), tol):
                bad.append(f"{key}={value}")
    return bad
