"""Errors of the caption and caption-QC stages, in the data pipeline's own error family.

Why here: ``data_pipeline`` does not import ``unified_bench``; these subclass
``DataPipelineError`` so ``unified-data`` prints them as one problem + fix, exit code 2.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from data_pipeline.errors import DataPipelineError


class CaptionerError(DataPipelineError):
    """A captioner or QC model whose configuration is invalid or which cannot be loaded."""


class MissingDependencyError(CaptionerError):
    """An optional heavy library (torch, transformers, requests) is not installed."""


def require(module: str, hint: str = "") -> ModuleType:
    """Import ``module`` lazily, turning ImportError into an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pkg = module.split(".")[0].replace("_", "-")
        raise MissingDependencyError(
            f"The Python package '{module}' is needed by the caption stage but could not be imported ({exc}).",
            hint or f"pip install {pkg}",
        ) from exc
