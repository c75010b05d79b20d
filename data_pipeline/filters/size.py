"""Reject images smaller than the recipe's minimum (judged on the original, not the resize)."""

from __future__ import annotations

from typing import Any

from data_pipeline.filters.base import SampleFilter


class MinSizeFilter(SampleFilter):
    name = "min_size"

    def __init__(self, min_width: int, min_height: int) -> None:
        self.min_width, self.min_height = min_width, min_height

    def reason(self, sample: Any) -> str | None:
        if sample.orig_width < self.min_width or sample.orig_height < self.min_height:
            return "too_small"
        return None

    def detail(self, sample: Any) -> str:
        return f"{sample.orig_width}x{sample.orig_height} < {self.min_width}x{self.min_height}"
