"""BAAI Emu3 (``Emu3ForConditionalGeneration``): caption, answer, generate.

Why a dedicated adapter: Emu3 writes an image as a grid of visual tokens with an end-of-line
token after each row, framed by fixed tokens. Sampling must be constrained to that layout
(``prefix_allowed_tokens_fn``, as in the transformers documentation), and the token grid is
decoded by the VQ model with keyword-only ``height``/``width``.

Generation settings honoured: ``height``/``width`` (rounded to multiples of the VQ's 8x
downsampling, i.e. the token grid is ``round(h/8) x round(w/8)``), ``guidance_scale``
(classifier-free guidance through the generation config; an optional negative prompt can be
passed as ``extra=(("negative_prompt", "..."),)``), and other ``extra`` keys go to ``generate``
(e.g. ``top_k``; default: sampling with ``top_k=2048`` as in the reference recipe). Ignored,
with a warning and a note: ``num_inference_steps`` (meaningless for autoregressive decoding).
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

#: Emu3's processor and VQ assume 8x spatial downsampling from pixels to visual tokens.
_DOWNSAMPLE = 8


class Emu3Adapter(ChatUnderstanding, TransformersAdapter):
    """Unified Emu3 model (the -Chat/-Gen checkpoints share the architecture)."""

    capabilities = frozenset({Capability.CAPTION, Capability.ANSWER, Capability.GENERATE})

    def classes(self) -> tuple[Any, Any]:
        from transformers import Emu3ForConditionalGeneration, Emu3Processor

        return Emu3ForConditionalGeneration, Emu3Processor

    def prepare(self) -> None:
        self.processor.tokenizer.padding_side = "left"
        if not self.model.config.vocabulary_map:
            # Converted checkpoints carry it; a bare config needs it to map BPE <-> VQ codes.
            self.model.config.vocabulary_map = dict(self.processor.tokenizer.get_vocab())

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        notes = {"num_inference_steps": "ignored: autoregressive generation has no denoising steps"}
        h, w = self._grid(settings)
        if (h * _DOWNSAMPLE, w * _DOWNSAMPLE) != (settings.height, settings.width):
            notes["height"] = notes["width"] = (
                f"rounded to {h * _DOWNSAMPLE}x{w * _DOWNSAMPLE} (multiples of {_DOWNSAMPLE})"
            )
        return notes

    @staticmethod
    def _grid(settings: GenerationSettings) -> tuple[int, int]:
        return (max(1, round(settings.height / _DOWNSAMPLE)), max(1, round(settings.width / _DOWNSAMPLE)))

    # ---------------------------------------------------------------------------- generation
    def _layout_fn(self, height: int, width: int):
        """Force the visual-token grid: ``width`` codes + EOL per row, then EOF, EOI, EOS, pad."""
        import torch

        tok = self.processor.tokenizer
        device = self.runtime.device
        visual = tuple(self.model.vocabulary_mapping.image_tokens)
        wrapper = tok.image_wrapper_token_id
        eol = (self.model.vocabulary_mapping.eol_token_id,)
        eof, eoi = (tok.eof_token_id,), (tok.eoi_token_id,)
        eos, pad = (tok.eos_token_id,), (tok.pad_token_id,)
        wrapper_t = torch.tensor(wrapper, device=device)
        end = (width + 1) * height

        def allowed(_batch_id: int, input_ids: Any) -> Sequence[int]:
            position = torch.nonzero(input_ids == wrapper_t, as_tuple=True)[0][0]
            offset = int(input_ids.shape[0] - position)
            if offset % (width + 1) == 0 and offset <= end:
                return eol
            if offset == end + 1:
                return eof
            if offset == end + 2:
                return eoi
            if offset == end + 3:
                return eos
            if offset > end + 3:
                return pad
            return visual

        return allowed

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        import torch

        if not prompts:
            return []
        h, w = self._grid(settings)
        extra = dict(settings.extra)
        negative = extra.pop("negative_prompt", None)
        inputs = self.processor(
            text=list(prompts), padding=True, return_tensors="pt", return_for_image_generation=True,
            ratio=f"{w}:{h}", image_area=h * w * _DOWNSAMPLE * _DOWNSAMPLE,
        )
        inputs.pop("image_sizes", None)
        inputs = inputs.to(self.runtime.device)
        kwargs: dict[str, Any] = {"do_sample": True, "top_k": 2048}
        kwargs.update(extra)
        if settings.guidance_scale and settings.guidance_scale > 1:
            kwargs["guidance_scale"] = float(settings.guidance_scale)
            if negative is not None:
                neg = self.processor(text=[negative] * len(prompts), padding=True, return_tensors="pt")
                kwargs["negative_prompt_ids"] = neg["input_ids"].to(self.runtime.device)
                kwargs["negative_prompt_attention_mask"] = neg["attention_mask"].to(self.runtime.device)
        new_tokens = (w + 1) * h + 3
        seed_batch(seeds[0])
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=new_tokens, prefix_allowed_tokens_fn=self._layout_fn(h, w), **kwargs
            )
        tokens = out[:, inputs["input_ids"].shape[1] :]
        with torch.no_grad():
            pixels = self.model.decode_image_tokens(image_tokens=tokens, height=h, width=w)
        return to_pil(pixels)
