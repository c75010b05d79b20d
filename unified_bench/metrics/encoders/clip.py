"""CLIP image encoder (standard checkpoint: openai/clip-vit-large-patch14).

Embedding: the projected image embedding of ``CLIPModel.get_image_features`` (in transformers 5
an output object whose ``pooler_output`` is that embedding), L2-normalised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unified_bench.metrics.encoders.hf_encoder import HFImageEncoder

if TYPE_CHECKING:
    import torch


class ClipEncoder(HFImageEncoder):
    name = "clip"
    model_types = ("clip",)
    embedding_description = "pooler_output of CLIPModel.get_image_features (projected image embedding)"

    def _model_class(self):
        from transformers import CLIPModel

        return CLIPModel

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        import torch

        out = self.model.get_image_features(pixel_values=pixel_values)
        return out if isinstance(out, torch.Tensor) else out.pooler_output
