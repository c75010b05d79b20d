"""A content-addressed store of finished model outputs, shared between run directories.

Why: the captioner x generator matrix runs the unified task for every pairing; a captioner's
captions do not depend on the generator it is paired with, and the runner's request keys already
say so (a composite's caption keys name only its captioner, ``ModelAdapter.identity_for``). So an
output computed in one run directory is exactly the output another run would compute for the same
key, and can be copied instead of recomputed. Keying by the request key (not by model name or
pair) means nothing can be reused that differs in any setting, seed, dtype or input.

Layout (every file written atomically, so concurrent runs and kills are safe)::

    CACHE/records/<key[:2]>/<key>.json    the record's value: {"text": ...} or
                                          {"image": REL, "sha256": ..., "size": [w, h]}, + "seed"
    CACHE/blobs/<sha[:2]>/<sha>.png       the image bytes of an image record

A record whose blob is missing or does not hash to its sha256 is a miss (recomputed).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from unified_bench.core.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)


class OutputCache:
    """``get(key, run_dir)`` / ``put(key, value, image_bytes)``, with hit / miss / put counters."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self.puts = 0

    def _record_path(self, key: str) -> Path:
        return self.root / "records" / key[:2] / f"{key}.json"

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / f"{sha256}.png"

    def get(self, key: str, run_dir: Path) -> dict[str, Any] | None:
        """The value stored for ``key``, its image (if any) copied to ``run_dir``; None on a miss."""
        path = self._record_path(key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            self.misses += 1
            return None
        if "image" in value:
            try:
                data = self._blob_path(value["sha256"]).read_bytes()
            except OSError:
                data = b""
            if hashlib.sha256(data).hexdigest() != value.get("sha256"):
                log.warning("shared output cache: image of %s is missing or corrupt; recomputing", key)
                self.misses += 1
                return None
            target = run_dir / value["image"]
            if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != value["sha256"]:
                atomic_write_bytes(target, data, durable=False)  # the record (fsynced) holds its sha256
        self.hits += 1
        return value

    def put(self, key: str, value: dict[str, Any], image: bytes | None = None) -> None:
        """Store a finished output (blob first, so a record never points at a missing image)."""
        if image is not None:
            blob = self._blob_path(value["sha256"])
            if not blob.is_file():
                atomic_write_bytes(blob, image, durable=False)
        atomic_write_text(self._record_path(key), json.dumps(value, sort_keys=True))
        self.puts += 1
