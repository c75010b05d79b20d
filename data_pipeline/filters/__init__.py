"""Sample filters: ``base.py`` does the bookkeeping, each filter implements ``reason()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_pipeline.filters.base import SampleFilter
    from data_pipeline.recipe import FilterConfig


def per_sample_filters(cfg: FilterConfig) -> list[SampleFilter]:
    """Filters that judge one sample alone (run inside the shard task)."""
    from data_pipeline.filters.aspect import AspectRatioFilter
    from data_pipeline.filters.size import MinSizeFilter

    out: list[SampleFilter] = []
    if cfg.min_width or cfg.min_height:
        out.append(MinSizeFilter(cfg.min_width, cfg.min_height))
    if cfg.max_aspect_ratio:
        out.append(AspectRatioFilter(cfg.max_aspect_ratio))
    return out


def dedup_filters(cfg: FilterConfig) -> list[SampleFilter]:
    """Stateful filters run once over the whole job in plan order (see filters/dedup.py)."""
    from data_pipeline.filters.dedup import ExactDuplicateFilter, NearDuplicateFilter

    out: list[SampleFilter] = []
    if cfg.exact_dedup:
        out.append(ExactDuplicateFilter())
    if cfg.near_dup_distance is not None:
        out.append(NearDuplicateFilter(cfg.near_dup_distance))
    return out
