"""BAAI Emu3 (``Emu3ForConditionalGeneration``): the -Chat and -Gen checkpoints, each for what it does.

Why a dedicated adapter: Emu3 writes an image as a grid of visual tokens with an end-of-line
token after each row, framed by fixed tokens. Sampling must be constrained to that layout
(``prefix_allowed_tokens_fn``, as in the transformers documentation), and the token grid is
decoded by the VQ model with keyword-only ``height``/``width``.

Emu3 is released as two checkpoints of one architecture: Emu3-Chat (understanding; 131k context)
and Emu3-Gen (generation; 9216-position context, 720x720 native area). Each declares only its own
capabilities (``emu3_variant``), so the unified pairing is the composite
``hf:BAAI/Emu3-Chat-hf+hf:BAAI/Emu3-Gen-hf``. A checkpoint that is recognisably neither (e.g. a
tiny test model) keeps both capabilities.

Generation settings honoured: ``height``/``width`` (rounded to multiples of the VQ's 8x
downsampling; sizes whose token grid does not fit the context are refused by
``validate_settings`` before any work), ``guidance_scale`` (classifier-free guidance through
transformers' processor; an optional negative prompt can be passed as
``extra=(("negative_prompt", "..."),)``), ``temperature`` / ``top_k`` / ``top_p`` of the
image-token sampling (``top_k=None``: 2048, the reference recipe). Each image is sampled from its
own seed. Ignored, with a note: ``num_inference_steps`` and other ``extra`` keys.
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

#: Emu3's processor and VQ assume 8x spatial downsampling from pixels to visual tokens.
_DOWNSAMPLE = 8
#: Reference image-token top-k of the Emu3-Gen recipe.
_REFERENCE_TOP_K = 2048
#: Prompt + framing tokens reserved next to the image grid when checking the context.
_PROMPT_RESERVE = 256
#: Context lengths of the released checkpoints (config.json max_position_embeddings).
_GEN_CONTEXT, _CHAT_CONTEXT = 9216, 131072

_UNDERSTANDING = frozenset({Capability.CAPTION, Capability.ANSWER})


def emu3_variant(source: str, config: Any) -> str:
    """"chat", "gen" or "unified" for an Emu3 checkpoint.

    The released names say it (BAAI/Emu3-Chat-hf, BAAI/Emu3-Gen-hf, and copies keep the name);
    otherwise the text context length does (Gen: 9216 positions, Chat: 131072). Anything else
    (fine-tunes, the tiny test models) is treated as able to do both.
    """
    name = str(source).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    if "emu3-gen" in name or "emu3_gen" in name:
        return "gen"
    if "emu3-chat" in name or "emu3_chat" in name:
        return "chat"
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    positions = getattr(text, "max_position_embeddings", None)
    if positions == _GEN_CONTEXT:
        return "gen"
    if positions == _CHAT_CONTEXT:
        return "chat"
    return "unified"


class Emu3Adapter(ChatUnderstanding, TransformersAdapter):
    """Unified Emu3 model (the -Chat/-Gen checkpoints share the architecture)."""

    capabilities = frozenset({Capability.CAPTION, Capability.ANSWER, Capability.GENERATE})

    def classes(self) -> tuple[Any, Any]:
        from transformers import Emu3ForConditionalGeneration, Emu3Processor

        return Emu3ForConditionalGeneration, Emu3Processor

    def prepare(self) -> None:
        self.variant = emu3_variant(self.resolved.source, self.config)
        if self.variant == "gen":
            self.capabilities = frozenset({Capability.GENERATE})
        elif self.variant == "chat":
            self.capabilities = _UNDERSTANDING
        self.processor.tokenizer.padding_side = "left"

    def loaded(self) -> None:
        if not self._model.config.vocabulary_map:
            # Converted checkpoints carry it; a bare config needs it to map BPE <-> VQ codes.
            self._model.config.vocabulary_map = dict(self.processor.tokenizer.get_vocab())

    @property
    def context_length(self) -> int:
        text = self.model_config.get_text_config()
        return int(getattr(text, "max_position_embeddings", _GEN_CONTEXT))

    def native_generation_size(self) -> tuple[int, int]:
        """The processor's generation canvas (``image_area``; 720x720 for Emu3-Gen), square, shrunk
        to the largest square whose token grid fits the context (only small test models need that)."""
        area = int(getattr(self.processor, "image_area", None) or 518400)
        n = max(1, round(area**0.5 / _DOWNSAMPLE))
        while n > 1 and n * (n + 1) + 3 + _PROMPT_RESERVE > self.context_length:
            n -= 1
        return (n * _DOWNSAMPLE, n * _DOWNSAMPLE)

    def validate_settings(self, kind: str, settings: Any) -> None:
        if kind != "generate":
            return
        h, w = self._grid(settings)
        needed = h * (w + 1) + 3 + _PROMPT_RESERVE
        if needed > self.context_length:
            nh, nw = self.native_generation_size()
            raise SpecError(
                f"{settings.width}x{settings.height} needs about {h * (w + 1)} image tokens, beyond "
                f"{self.resolved.source}'s {self.context_length}-position context.",
                f"Use its native size: --height {nh} --width {nw} (or any size whose "
                f"(height/8) x (width/8 + 1) grid fits).",
            )

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        notes = {"num_inference_steps": "ignored: autoregressive generation has no denoising steps"}
        h, w = self._grid(settings)
        if (h * _DOWNSAMPLE, w * _DOWNSAMPLE) != (settings.height, settings.width):
            notes["height"] = notes["width"] = (
                f"rounded to {h * _DOWNSAMPLE}x{w * _DOWNSAMPLE} (multiples of {_DOWNSAMPLE})"
            )
        if settings.top_k is None:
            notes["top_k"] = f"{_REFERENCE_TOP_K} (Emu3 reference recipe)"
        ignored = [k for k, _ in settings.extra if k != "negative_prompt"]
        if ignored:
            notes["extra"] = f"ignored: {', '.join(ignored)} (decoding is explicit)"
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
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        self.validate_settings("generate", settings)
        h, w = self._grid(settings)
        negative = dict(settings.extra).get("negative_prompt")
        inputs = self.processor(
            text=list(prompts), padding=True, return_tensors="pt", return_for_image_generation=True,
            ratio=f"{w}:{h}", image_area=h * w * _DOWNSAMPLE * _DOWNSAMPLE,
        )
        inputs.pop("image_sizes", None)
        inputs = inputs.to(self.runtime.device)
        top_k = _REFERENCE_TOP_K if settings.top_k is None else settings.top_k
        sampler = PerItemSampler(seeds, settings.temperature, top_k, settings.top_p)
        kwargs: dict[str, Any] = {**NEUTRAL_PROCESSORS, "guidance_scale": float(settings.guidance_scale)}
        if settings.guidance_scale != 1 and negative is not None:
            neg = self.processor(text=[negative] * len(prompts), padding=True, return_tensors="pt")
            kwargs["negative_prompt_ids"] = neg["input_ids"].to(self.runtime.device)
            kwargs["negative_prompt_attention_mask"] = neg["attention_mask"].to(self.runtime.device)
        new_tokens = (w + 1) * h + 3
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=new_tokens, prefix_allowed_tokens_fn=self._layout_fn(h, w),
                logits_processor=sampler_processors(sampler), **kwargs,
            )
        tokens = out[:, inputs["input_ids"].shape[1] :]
        # One item at a time: a batched VQ decode can differ in the last bit from a single one
        # (convolution algorithms depend on the batch size), and images must not depend on it.
        images: list[Image] = []
        with torch.no_grad():
            for row in tokens:
                pixels = self.model.decode_image_tokens(image_tokens=row[None], height=h, width=w)
                images.extend(to_pil(pixels))
        return images
