"""Errors of the caption and caption-QC stages, in the data pipeline's error family.

``require`` is the project's lazy import with an install hint (``unified_bench.errors.require``);
it is re-exported here so the caption stage imports its error helpers from one place.
"""

from __future__ import annotations

from data_pipeline.errors import DataPipelineError
from unified_bench.core.errors import require

__all__ = ["CaptionerError", "CaptionerUnavailable", "require"]


class CaptionerError(DataPipelineError):
    """A captioner or QC model whose configuration is invalid or which cannot be loaded."""


class CaptionerUnavailable(Exception):  # noqa: N818 - a state, not a user error: the shard is deferred
    """The captioning endpoint stayed unreachable for the whole outage budget of a shard."""
