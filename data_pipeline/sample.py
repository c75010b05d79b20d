"""One sample as it moves through a shard task: the record plus everything learnt about it.

Why: every input ends as exactly one row (accepted or rejected with stage + reason), so the
sample carries its own verdict instead of being dropped by the stage that rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_pipeline.records import InputRecord

ACCEPTED = "accepted"
REJECTED = "rejected"
PENDING = "pending"


@dataclass
class Sample:
    record: InputRecord
    status: str = PENDING
    stage: str | None = None  # fetch | decode | filter | dedup | caption | qc
    reason: str | None = None
    detail: str = ""
    image_bytes: bytes | None = None  # resized, re-encoded output image
    width: int | None = None
    height: int | None = None
    orig_width: int | None = None
    orig_height: int | None = None
    orig_mode: str | None = None
    orig_format: str | None = None
    fetched_bytes: int | None = None
    sha256: str | None = None  # of the fetched bytes (exact dedup)
    phash: str | None = None  # hex imagehash.phash of the resized output image (near dedup)
    duplicate_of: str | None = None
    caption: str | None = None
    caption_finish_reason: str | None = None
    captioner: dict[str, Any] = field(default_factory=dict)
    qc: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def reject(self, stage: str, reason: str, detail: str = "") -> None:
        self.status, self.stage, self.reason, self.detail = REJECTED, stage, reason, detail
        self.image_bytes = None
