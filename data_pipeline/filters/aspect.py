"""Reject panoramas and slivers: long side / short side above the recipe's maximum."""

from __future__ import annotations

from typing import Any

from data_pipeline.filters.base import SampleFilter


class AspectRatioFilter(SampleFilter):
    name = "aspect_ratio"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @staticmethod
    def ratio(sample: Any) -> float:
        w, h = sample.orig_width, sample.orig_height
        return max(w, h) / max(1, min(w, h))

    def reason(self, sample: Any) -> str | None:
        return "bad_aspect_ratio" if self.ratio(sample) > self.max_ratio else None

    def detail(self, sample: Any) -> str:
        return f"ratio {self.ratio(sample):.2f} > {self.max_ratio}"
