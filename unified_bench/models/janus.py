"""DeepSeek Janus / Janus-Pro (``JanusForConditionalGeneration``): caption, answer, generate.

Why a dedicated adapter: Janus generates images autoregressively with its own generation head
and VQ decoder (``generation_mode="image"``), and the processor's image post-processing is
broken in transformers 5.x, so pixels are converted here.

Generation settings honoured: ``guidance_scale`` (classifier-free guidance; <= 1 disables it),
``extra`` (passed to ``generate``, e.g. ``temperature``, ``top_k``, ``do_sample``; default is
sampling, as in the reference Janus recipe). Ignored, with a logged warning and a note in
``generation_notes``: ``height``/``width`` (the output size is fixed by the VQ decoder, e.g.
384x384 for Janus-Pro) and ``num_inference_steps`` (meaningless for token-by-token decoding).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.models.base import Capability
from unified_bench.models.common import (
    ChatUnderstanding,
    seed_batch,
    to_pil,
)
from unified_bench.models.transformers_base import TransformersAdapter

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.specs import GenerationSettings

logger = logging.getLogger(__name__)


class JanusAdapter(ChatUnderstanding, TransformersAdapter):
    """Unified Janus model: one checkpoint for both directions."""

    capabilities = frozenset({Capability.CAPTION, Capability.ANSWER, Capability.GENERATE})
    chat_fallback = "<|User|>: {images}\n{text}\n\n<|Assistant|>:"

    def classes(self) -> tuple[Any, Any]:
        from transformers import JanusForConditionalGeneration, JanusProcessor

        return JanusForConditionalGeneration, JanusProcessor

    def prepare(self) -> None:
        self.processor.tokenizer.padding_side = "left"

    @property
    def image_size(self) -> int:
        """Side of every generated image: VQ patches per side x the decoder's upsampling."""
        vq = self.model.config.vq_config
        return int(vq.num_patches * 2 ** (len(vq.channel_multiplier) - 1))

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        """Which requested settings this backend does not apply, and what it does instead."""
        notes = {"num_inference_steps": "ignored: autoregressive generation has no denoising steps"}
        side = self.image_size
        if (settings.height, settings.width) != (side, side):
            notes["height"] = notes["width"] = f"ignored: Janus always generates {side}x{side}"
        return notes

    # ---------------------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        import torch

        if not prompts:
            return []
        texts = [
            self.processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "text", "text": p}]}],
                add_generation_prompt=True, tokenize=False,
            )
            for p in prompts
        ]
        inputs = self.processor(text=texts, generation_mode="image", padding=True, return_tensors="pt")
        inputs = inputs.to(self.runtime.device)
        kwargs: dict[str, Any] = {"do_sample": True, "use_cache": True}
        kwargs.update(dict(settings.extra))
        seed_batch(seeds[0])
        with torch.inference_mode():
            tokens = self.model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                generation_mode="image",
                guidance_scale=float(settings.guidance_scale),
                **kwargs,
            )
        with torch.no_grad():
            pixels = self.model.decode_image_tokens(tokens)
        return to_pil(pixels)
