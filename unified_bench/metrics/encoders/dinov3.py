"""DINOv3 image encoder (standard checkpoint: facebook/dinov3-vitl16-pretrain-lvd1689m).

Embedding: the CLS token of ``last_hidden_state`` ([:, 0], before the register tokens),
L2-normalised. The official weights are gated on the hub: a gated/401/403 failure becomes an
EncoderError telling the user to request access and log in (see ``checkpoints.hub_error``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unified_bench.metrics.encoders.hf_encoder import HFImageEncoder

if TYPE_CHECKING:
    import torch


class Dinov3Encoder(HFImageEncoder):
    name = "dinov3"
    model_types = ("dinov3_vit",)
    #: DINOv3's processor is torchvision-only, as in the reference scorer.
    image_backend = "torchvision"
    embedding_description = "CLS of last_hidden_state ([:, 0]) of DINOv3ViTModel"

    def _model_class(self):
        from transformers import AutoModel

        return AutoModel

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).last_hidden_state[:, 0]
