"""Atomic file writes: write to a unique ``.tmp`` sibling, fsync, then ``os.replace``.

Why: a reader (or a resumed job) sees either the old file or the complete new one, never half.
Temp names carry the pid and a random suffix so a retried task and a zombie never collide.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

TMP_MARK = ".tmp-"


def tmp_path_for(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def commit(tmp: str | Path, final: str | Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    tmp = tmp_path_for(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=indent, sort_keys=True, default=str).encode("utf-8"))


def remove_stale_tmp(folder: str | Path) -> int:
    """Delete leftovers of interrupted writes (only our own ``*.tmp-*`` names)."""
    n = 0
    for p in Path(folder).glob(f"*{TMP_MARK}*"):
        p.unlink(missing_ok=True)
        n += 1
    return n
