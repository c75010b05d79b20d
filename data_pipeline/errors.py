"""User-facing errors of the data pipeline, each naming the problem and the fix.

Why: ``unified-data`` turns any ``DataPipelineError`` into one message and exit code 2 instead
of a traceback. Per-sample failures are never raised: they become rows with a reason.
The package deliberately does not import ``unified_bench`` (it installs and runs on its own).
"""

from __future__ import annotations


class DataPipelineError(Exception):
    """A problem the user can fix. ``fix`` says how."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class RecipeError(DataPipelineError):
    """A recipe file that is missing, unparsable or has an invalid field."""


class SourceError(DataPipelineError):
    """A data source that cannot be read (missing file, missing column, ...)."""


class PlanMismatchError(DataPipelineError):
    """An output directory that already holds a job with a different plan or recipe."""


class OutputDirError(DataPipelineError):
    """An output directory that is missing, incomplete or fails validation."""
