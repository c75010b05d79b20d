"""The filter contract: implement ``reason(sample)``; the base class applies and records it.

Why (datatrove's lesson): the shared work — skip already-rejected samples, mark the rejection
with the stage and reason, count reasons — lives in one place, so a new filter is one method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from typing import Any


class SampleFilter(ABC):
    stage = "filter"
    name = "filter"

    @abstractmethod
    def reason(self, sample: Any) -> str | None:
        """Why this sample is rejected, or None to keep it."""

    def detail(self, sample: Any) -> str:
        return ""

    def apply(self, samples: Iterable[Any]) -> Counter:
        """Judge every still-pending sample in order; returns a Counter of reasons."""
        counts: Counter = Counter()
        for s in samples:
            if not s.pending:
                continue
            why = self.reason(s)
            if why is not None:
                s.reject(self.stage, why, self.detail(s))
                counts[why] += 1
        return counts
