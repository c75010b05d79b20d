"""Atomic file writes (write to a temp file in the same directory, fsync, rename).

Why: the run directory is a contract; a kill -9 at any moment must leave every file either
absent or complete, never half-written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    ``durable=False`` skips the fsync: still atomic against a killed process (rename), but not
    against power loss. Use it for files whose integrity is checked on read (a sha256 in a
    fsynced record, a cache that treats an unreadable entry as a miss): fsync costs ~5-10 ms
    per file, which would dominate the per-sample harness time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)
