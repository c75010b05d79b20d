"""Content hashes and canonical JSON: the identities that cache keys and provenance are built from.

Why one module: a file's sha256, a weights folder's content hash and a cache key's canonical JSON
are each computed in exactly one way, so the evaluation core, the data pipeline and the
leaderboard agree on what "the same bytes" and "the same configuration" mean.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20

_HASH_CACHE: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, streamed (never the whole file in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal values always give equal text (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _listing(root: Path) -> tuple[tuple[str, int, int], ...]:
    if root.is_file():
        st = root.stat()
        return ((root.name, st.st_size, st.st_mtime_ns),)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            st = full.stat()
            entries.append((full.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


def content_hash(directory: str | Path) -> str:
    """sha256 over sorted relative paths and file bytes; hidden files/folders are skipped.

    The one content identity of local weights in this project (models, encoders, captioners);
    ``directory`` may also be a single weights file.

    Cached per process, keyed by the directory plus every file's size and mtime, so hashing a
    multi-GB checkpoint happens once while an edited file still changes the hash.
    """
    root = Path(directory).resolve()
    listing = _listing(root)
    key = (str(root), listing)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for rel, _size, _mtime in listing:
        digest.update(rel.encode("utf-8") + b"\0")
        with open(root / rel if root.is_dir() else root, "rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
        digest.update(b"\0")
    value = "sha256:" + digest.hexdigest()
    _HASH_CACHE[key] = value
    return value
