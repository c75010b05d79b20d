"""Rank bands: ranks that respect the bootstrap confidence intervals.

The rule (stated on every ranking page): a model's rank is 1 + the number of models that are
*clearly better*, where B is clearly better than A when B's interval lies entirely above A's
(B.ci_low > A.ci_high; for a lower-is-better score, B.ci_high < A.ci_low). Models whose intervals
overlap are never ordered by rank, so two models 0.2 points apart on 100 images share a rank, while
the table is still sorted by the mean. This is the rule LMSYS-style arenas use; it is monotone in the
mean order only when intervals are similar, which is why the rank is shown next to the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


def rank_bands(intervals: Sequence[Interval | None], higher_is_better: bool = True) -> list[int | None]:
    """The rank of each interval (None for a missing score): 1 + #models clearly better than it."""
    present = [iv for iv in intervals if iv is not None]
    # Sort once, then binary-search: O(n log n), so 1,000 models cost nothing per page view.
    import bisect

    if higher_is_better:
        lows = sorted(iv.low for iv in present)
        return [None if iv is None else 1 + len(lows) - bisect.bisect_right(lows, iv.high) for iv in intervals]
    highs = sorted(iv.high for iv in present)
    return [None if iv is None else 1 + bisect.bisect_left(highs, iv.low) for iv in intervals]
