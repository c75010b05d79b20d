"""An append-only JSONL record store, safe against kill -9.

Why: each stage (captions, generations, scores) appends one line per finished item and
fsyncs once per batch. On restart the file is read back; a torn last line (the process died
mid-write) is ignored, and for each item id the last record wins. A record is reused only if
its ``key`` matches the key the current configuration computes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class RecordStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open("rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                # Only the last line can be torn by a crash; anything else is worth a warning.
                if lineno < len(lines) - 1:
                    log.warning("%s:%d: unreadable record skipped", self.path, lineno)
                continue
            if isinstance(rec, dict) and "id" in rec and "key" in rec:
                self._records[str(rec["id"])] = rec
        if raw and not raw.endswith(b"\n"):
            # Terminate a torn line so the next append starts on a fresh line.
            with self.path.open("ab") as fh:
                fh.write(b"\n")

    def get(self, item_id: str, key: str) -> dict[str, Any] | None:
        rec = self._records.get(item_id)
        return rec if rec is not None and rec.get("key") == key else None

    def put_many(self, records: Iterable[dict[str, Any]]) -> None:
        batch = list(records)
        if not batch:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in batch)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        for rec in batch:
            self._records[str(rec["id"])] = rec
