"""Per-token sliding-window rate limit for submissions.

Why in memory: one server process is the supported deployment (SQLite or PostgreSQL behind one
uvicorn); the window is short and a restart forgetting it is harmless. Run several workers and each
enforces the limit alone, which the README states.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` events per key in any window of ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[object, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: object) -> float | None:
        """Record an event for ``key``; None when allowed, else the seconds until one is allowed."""
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return max(0.0, events[0] + self.window_s - now)
            events.append(now)
            return None
