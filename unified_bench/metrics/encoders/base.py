"""The scoring-encoder interface.

Why: each encoder turns images into L2-normalised embeddings; the score of a pair is their
cosine similarity. ``fingerprint`` names everything that changes the embedding (checkpoint,
revision, preprocessing, which token, dtype) so reference-image features can be cached on
disk under that name and reused across models, and so results record it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image


#: The four encoders of the standard protocol and their published checkpoints.
STANDARD_ENCODERS: dict[str, str] = {
    "clip": "openai/clip-vit-large-patch14",
    "dinov2": "facebook/dinov2-large",
    "dinov3": "facebook/dinov3-vitl16-pretrain-lvd1689m",
    "longclip": "BeichenZhang/LongCLIP-L",
}


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoder to load: a registered name and optionally a non-default checkpoint."""

    name: str
    checkpoint: str | None = None  # hub repo id or local path; None = the standard checkpoint

    @property
    def is_standard(self) -> bool:
        return self.name in STANDARD_ENCODERS and self.checkpoint in (None, STANDARD_ENCODERS[self.name])


class ImageEncoder(ABC):
    """Images -> L2-normalised float32 embeddings, batched internally."""

    name: str

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """checkpoint, revision (commit or content hash), preprocessing, embedding, dtype."""

    @abstractmethod
    def embed(self, images: Sequence[Image]) -> np.ndarray:
        """Return an (N, D) float32 array whose rows have unit L2 norm."""

    def fingerprint_id(self) -> str:
        """Short stable hash of ``fingerprint()``, used as the feature-cache directory name."""
        blob = json.dumps(self.fingerprint(), sort_keys=True, default=str).encode()
        return f"{self.name}-{hashlib.sha256(blob).hexdigest()[:16]}"
