"""User cache locations (downloads, reference features).

Why: reference-image features and downloaded image sets are reused across runs and models;
``UNIFIED_BENCH_CACHE`` relocates everything (tests point it at a temp dir).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("UNIFIED_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unified-bench"


def features_dir() -> Path:
    return cache_root() / "features"


def downloads_dir() -> Path:
    return cache_root() / "downloads"
