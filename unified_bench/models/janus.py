"""DeepSeek Janus / Janus-Pro (``JanusForConditionalGeneration``): caption, answer, generate.

Why a dedicated adapter: Janus generates images autoregressively with its own generation head
and VQ decoder (``generation_mode="image"``), and the processor's image post-processing is
broken in transformers 5.x, so pixels are converted here.

Generation settings honoured: ``guidance_scale`` (classifier-free guidance applied by this
adapter, ``u + s * (c - u)`` as in the reference; 1.0 disables it, negative values are refused
by ``validate_settings``), ``temperature`` / ``top_k`` / ``top_p`` of the image-token sampling
(reference: temperature 1, no top-k / top-p). Each image is sampled from its own seed
(``PerItemSampler``), whatever the batch. Ignored, with a note in ``generation_notes``:
``height``/``width`` (the output size is fixed by the VQ decoder, e.g. 384x384 for Janus-Pro),
``num_inference_steps`` (meaningless for token-by-token decoding) and ``extra``.

Understanding prompts put the text first, then the image, as the protocol does; the converted
Janus-Pro chat template honours the message order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.errors import SpecError
from unified_bench.models.base import Capability
from unified_bench.models.common import (
    NEUTRAL_PROCESSORS,
    ChatUnderstanding,
    PerItemSampler,
    sampler_processors,
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
    chat_fallback = "<|User|>: {text}\n{images}\n\n<|Assistant|>:"

    def classes(self) -> tuple[Any, Any]:
        from transformers import JanusForConditionalGeneration, JanusProcessor

        return JanusForConditionalGeneration, JanusProcessor

    def prepare(self) -> None:
        self.processor.tokenizer.padding_side = "left"

    @property
    def image_size(self) -> int:
        """Side of every generated image: VQ patches per side x the decoder's upsampling."""
        vq = self.model_config.vq_config
        return int(vq.num_patches * 2 ** (len(vq.channel_multiplier) - 1))

    def native_generation_size(self) -> tuple[int, int]:
        return (self.image_size, self.image_size)

    def _text_generate(self) -> Any:
        # JanusForConditionalGeneration.generate drops ``logits_processor`` in text mode; the
        # generic GenerationMixin.generate is what it delegates to, minus that bug.
        from transformers import GenerationMixin

        return lambda **kwargs: GenerationMixin.generate(self.model, **kwargs)

    def validate_settings(self, kind: str, settings: Any) -> None:
        if kind != "generate":
            return
        if settings.guidance_scale < 0:
            raise SpecError(
                f"Janus cannot generate with guidance_scale {settings.guidance_scale}.",
                "Use a value >= 1 (1.0 disables classifier-free guidance; Janus-Pro's reference is 5.0).",
            )

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        """Which requested settings this backend does not apply, and what it does instead."""
        notes = {"num_inference_steps": "ignored: autoregressive generation has no denoising steps"}
        side = self.image_size
        if (settings.height, settings.width) != (side, side):
            notes["height"] = notes["width"] = f"ignored: Janus always generates {side}x{side}"
        if settings.extra:
            notes["extra"] = f"ignored: {', '.join(k for k, _ in settings.extra)} (decoding is explicit)"
        return notes

    # ---------------------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        import torch

        if not prompts:
            return []
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        self.validate_settings("generate", settings)
        texts = [
            self.processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "text", "text": p}]}],
                add_generation_prompt=True, tokenize=False,
            )
            for p in prompts
        ]
        inputs = self.processor(text=texts, generation_mode="image", padding=True, return_tensors="pt")
        inputs = inputs.to(self.runtime.device)
        # Guidance is applied by the sampler on the (conditional, unconditional) rows Janus's image
        # loop produces; guidance_scale=1 keeps transformers from adding its own CFG processor.
        sampler = PerItemSampler(
            seeds, settings.temperature, settings.top_k or 0, settings.top_p,
            guidance_scale=float(settings.guidance_scale),
        )
        with torch.inference_mode():
            tokens = self.model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                generation_mode="image",
                guidance_scale=1.0,
                logits_processor=sampler_processors(sampler),
                use_cache=True,
                **NEUTRAL_PROCESSORS,
            )
        # One item at a time: a batched VQ decode can differ in the last bit from a single one.
        images: list[Image] = []
        with torch.no_grad():
            for row in tokens:
                images.extend(to_pil(self.model.decode_image_tokens(row[None])))
        return images
