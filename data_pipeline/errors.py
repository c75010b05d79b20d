"""User-facing errors of the data pipeline, each naming the problem and the fix.

Why: ``unified-data`` turns any of these into one message and exit code 2 instead of a
traceback. They share ``unified_bench.errors.UnifiedBenchError`` (a dependency-free module) so
both CLIs treat user errors alike. Per-sample failures are never raised: they become rows
with a reason.
"""

from __future__ import annotations

from unified_bench.core.errors import UnifiedBenchError


class DataPipelineError(UnifiedBenchError):
    """A problem with a recipe, source, plan or output folder that the user can fix."""


class RecipeError(DataPipelineError):
    """A recipe file that is missing, unparsable or has an invalid field."""


class SourceError(DataPipelineError):
    """A data source that cannot be read (missing file, missing column, ...)."""


class PlanMismatchError(DataPipelineError):
    """An output directory that already holds a job with a different plan or recipe."""


class OutputDirError(DataPipelineError):
    """An output directory that is missing, incomplete or fails validation."""
