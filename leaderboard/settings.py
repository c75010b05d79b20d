"""Server settings: one frozen object built by the CLI (or a test) and handed to ``create_app``.

Why a dataclass and not environment variables read at import: tests build many apps with
different limits in one process, and nothing may happen at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///leaderboard.db"


@dataclass(frozen=True)
class Settings:
    """What an operator may tune. The defaults suit a small public site."""

    db_url: str = DEFAULT_DB_URL
    #: Largest accepted submission body (results.json + thumbnails), in bytes.
    max_body_bytes: int = 32 * 1024 * 1024
    #: At most ``rate_limit`` submissions per token in any ``rate_window_s`` seconds.
    rate_limit: int = 20
    rate_window_s: float = 3600.0
    #: Largest number of per-sample records in one submission (bounds the recompute cost).
    max_samples: int = 200_000
    #: Thumbnails: at most this many images, each at most this many bytes before re-encoding.
    max_thumbnails: int = 2_000
    max_thumbnail_bytes: int = 2 * 1024 * 1024
    #: Shown on every page of the seeded demo site.
    banner: str | None = None
