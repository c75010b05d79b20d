"""Optional image-text alignment: CLIP cosine between an image and its caption's first sentence.

Why the first sentence: CLIP's text tower reads 77 tokens and a long caption is 300+; the first
sentence of a dense caption is its summary, so it is what CLIP can judge. Longer text is still
truncated at the model's ``max_position_embeddings`` (tokenizer truncation keeps the end-of-text
token, whose position CLIP pools). A LongCLIP checkpoint converted to ``CLIPModel`` format
simply reads up to its 248 positions.

The score is the plain cosine similarity in [-1, 1], not CLIPScore's ``100 * max(cos, 0)``
rescaling, so ``CaptionQCConfig.min_alignment`` is a cosine threshold (e.g. 0.2 for ViT-B/32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from data_pipeline.captioners.errors import CaptionerError, require
from unified_bench.core.hub import resolve_revision

from .caption_qc import first_sentence

if TYPE_CHECKING:
    from PIL.Image import Image


def _features(output: Any) -> Any:
    """transformers 5 returns an output object from ``get_*_features``; older versions a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


class AlignmentScorer:
    """Loads a CLIP checkpoint once and scores (image, caption) pairs in batches."""

    def __init__(self, checkpoint: str, device: str = "auto", revision: str | None = None,
                 batch_size: int = 32) -> None:
        torch = require("torch")
        transformers = require("transformers")
        self.checkpoint = checkpoint
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.batch_size = batch_size
        self.revision = resolve_revision(checkpoint, revision)
        # Load the exact commit we record (a branch could move between resolving and loading).
        pinned = self.revision if self.revision and not self.revision.startswith("sha256:") else revision
        try:
            self.model = transformers.CLIPModel.from_pretrained(checkpoint, revision=pinned)
            self.processor = transformers.CLIPProcessor.from_pretrained(checkpoint, revision=pinned)
        except (OSError, ValueError) as exc:
            raise CaptionerError(
                f"Could not load the alignment checkpoint {checkpoint!r}: {exc}",
                "point alignment_model at a CLIP checkpoint (hub id or local dir) in transformers format",
            ) from exc
        self.model.to(self.device).eval()
        self.max_length = int(self.model.config.text_config.max_position_embeddings)

    def record(self) -> dict[str, Any]:
        """What changes the number: checkpoint, revision, which text, which score."""
        return {"checkpoint": self.checkpoint, "revision": self.revision, "text": "first_sentence",
                "max_length": self.max_length, "score": "cosine"}

    def score(self, images: Sequence[Image], captions: Sequence[str]) -> list[float]:
        """Cosine similarity in [-1, 1] of each image with the first sentence of its caption."""
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions")
        import torch

        scores: list[float] = []
        for start in range(0, len(images), self.batch_size):
            batch_images = [im.convert("RGB") for im in images[start : start + self.batch_size]]
            texts = [first_sentence(c or "") for c in captions[start : start + self.batch_size]]
            inputs = self.processor(
                text=texts, images=batch_images, return_tensors="pt",
                padding=True, truncation=True, max_length=self.max_length,
            ).to(self.device)
            with torch.inference_mode():
                image_emb = _features(self.model.get_image_features(pixel_values=inputs["pixel_values"]))
                text_emb = _features(self.model.get_text_features(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                ))
            cos = torch.nn.functional.cosine_similarity(image_emb.float(), text_emb.float(), dim=-1)
            scores.extend(cos.cpu().tolist())
        return scores
