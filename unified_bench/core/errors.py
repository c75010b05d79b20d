"""One exception family for every user-facing failure.

Why: the CLI turns any ``UnifiedBenchError`` into a single message naming the problem and
the fix, with exit code 2, instead of a traceback. Code raises these for bad *input or
configuration*; genuine bugs stay ordinary exceptions so they are not disguised as user error.
"""

from __future__ import annotations


class UnifiedBenchError(Exception):
    """A problem the user can fix. ``fix`` says how."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class SpecError(UnifiedBenchError):
    """A model, task, encoder or image-set spec that cannot be resolved."""


class CapabilityError(UnifiedBenchError):
    """A model lacks a capability the chosen task needs (checked before any work)."""


class ImageSetError(UnifiedBenchError):
    """An image set that is missing, empty, corrupt or fails verification."""


class EncoderError(UnifiedBenchError):
    """A scoring encoder that cannot be loaded (gated weights, missing file, ...)."""


class SchemaError(UnifiedBenchError):
    """A results file that is malformed or from another schema version."""


class RunDirError(UnifiedBenchError):
    """A run directory that belongs to a different configuration or is unusable."""


class MissingDependencyError(UnifiedBenchError):
    """An optional heavy library is not installed."""


def require(module: str, extra_hint: str = ""):
    """Import ``module`` lazily, turning ImportError into an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pkg = module.split(".")[0].replace("_", "-")
        raise MissingDependencyError(
            f"The Python package '{module}' is required here but could not be imported ({exc}).",
            extra_hint or f"pip install {pkg}",
        ) from exc


def report(exc: UnifiedBenchError) -> int:
    """Print ``error: <problem>`` and ``  fix: <how>`` on stderr; return the exit code.

    Why one function: every command line of the project (``unified-bench``, ``unified-data``,
    ``unified-leaderboard``) shows a user error the same way.
    """
    import sys

    print(f"error: {exc.problem}", file=sys.stderr)
    if exc.fix:
        print(f"  fix: {exc.fix}", file=sys.stderr)
    return exc.exit_code
