"""DINOv2 image encoder (standard checkpoint: facebook/dinov2-large).

Embedding: the CLS token of ``last_hidden_state`` (after the final layer norm), L2-normalised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unified_bench.metrics.encoders.hf_encoder import HFImageEncoder

if TYPE_CHECKING:
    import torch


class Dinov2Encoder(HFImageEncoder):
    name = "dinov2"
    model_types = ("dinov2",)
    embedding_description = "CLS of last_hidden_state ([:, 0]) of Dinov2Model"

    def _model_class(self):
        from transformers import Dinov2Model

        return Dinov2Model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).last_hidden_state[:, 0]
