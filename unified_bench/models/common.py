"""Helpers shared by the transformers-based adapters (Janus, Emu3, generic VLM).

Why: caption and answer are the same operation for every chat VLM (render a chat with images
and text, run ``generate`` on a left-padded batch, decode only the new tokens); keeping it in
one place means a decoding fix lands in every backend at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.models.base import ComponentIdentity

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import AnswerSettings, CaptionSettings

logger = logging.getLogger(__name__)


def component(resolved: ResolvedModel, role: str, architecture: str) -> ComponentIdentity:
    return ComponentIdentity(
        role=role, source=resolved.source, revision=resolved.revision, architecture=architecture
    )


def seed_batch(seed: int) -> None:
    """Seed a whole transformers batch (``generate`` takes no generator argument).

    ``torch.manual_seed`` seeds the CPU and every CUDA device generator, so sampling on either
    device is reproducible for a given first seed of the batch.
    """
    import torch

    torch.manual_seed(int(seed))


def decoding_kwargs(max_new_tokens: int, temperature: float) -> dict[str, Any]:
    """``generate`` kwargs for greedy (temperature 0) or sampled decoding."""
    if temperature > 0:
        return {"max_new_tokens": max_new_tokens, "do_sample": True, "temperature": float(temperature)}
    return {"max_new_tokens": max_new_tokens, "do_sample": False}


def render_chat(processor: Any, num_images: int, text: str, fallback: str) -> str:
    """One user turn with ``num_images`` images then ``text``, through the model's chat template.

    ``fallback`` (a format string with ``{images}`` and ``{text}``) is used only when the
    checkpoint ships no chat template.
    """
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(num_images)]
    content.append({"type": "text", "text": text})
    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": content}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    token = getattr(processor, "image_token", "<image>")
    return fallback.format(images=token * num_images, text=text)


def chat_generate(
    model: Any,
    processor: Any,
    images: Sequence[Sequence[Image]],
    texts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    device: str,
    dtype: Any,
    fallback: str,
) -> list[str]:
    """Batched image(s)+text -> text; returns only the newly generated text of each item."""
    import torch

    if len(images) != len(texts):
        raise ValueError(f"{len(images)} image lists for {len(texts)} texts")
    if not texts:
        return []
    prompts = [render_chat(processor, len(imgs), text, fallback) for imgs, text in zip(images, texts, strict=True)]
    flat = [im.convert("RGB") for imgs in images for im in imgs]
    inputs = processor(
        text=prompts,
        images=flat or None,
        padding=True,
        return_tensors="pt",
    )
    inputs = inputs.to(device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    seed_batch(seed)
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding_kwargs(max_new_tokens, temperature))
    sequences = out.sequences if hasattr(out, "sequences") else out
    new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
    decoded = processor.batch_decode(new_tokens, skip_special_tokens=True)
    return [text.strip() for text in decoded]


def to_pil(pixels: Any) -> list[Image]:
    """Decoded VQ pixels in [-1, 1] (B,H,W,C or B,C,H,W) -> RGB uint8 PIL images."""
    import numpy as np
    from PIL import Image as PILImage

    if pixels.ndim != 4:
        raise ValueError(f"expected a 4-d pixel batch, got shape {tuple(pixels.shape)}")
    if pixels.shape[1] in (1, 3) and pixels.shape[-1] not in (1, 3):
        pixels = pixels.permute(0, 2, 3, 1)
    arr = ((pixels.detach().float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").numpy().astype(np.uint8)
    images = []
    for item in arr:
        if item.shape[-1] == 1:
            item = np.repeat(item, 3, axis=-1)
        images.append(PILImage.fromarray(np.ascontiguousarray(item)).convert("RGB"))
    return images


class WarnOnce:
    """Log each distinct message once per adapter (ignored settings repeat on every batch)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._seen: set[str] = set()

    def __call__(self, message: str) -> None:
        if message not in self._seen:
            self._seen.add(message)
            self._log.warning(message)


class ChatUnderstanding:
    """Caption and answer through a transformers chat model: shared by Janus, Emu3 and VLMs.

    Why a mixin: the three backends differ only in the prompt template used when a processor has
    no chat template (``chat_fallback``); the batching, seeding and decoding are the same.
    Requires ``self.model``, ``self.processor``, ``self.runtime`` and ``self.dtype``.
    """

    chat_fallback: str = "USER: {images}{text} ASSISTANT:"

    def caption(self, images: Sequence[Image], settings: CaptionSettings, seeds: Sequence[int]) -> list[str]:
        return self._chat([[im] for im in images], [settings.prompt] * len(images),
                          settings.max_new_tokens, settings.temperature, seeds)

    def answer(
        self,
        images: Sequence[Sequence[Image]],
        questions: Sequence[str],
        settings: AnswerSettings,
        seeds: Sequence[int],
    ) -> list[str]:
        return self._chat(images, questions, settings.max_new_tokens, settings.temperature, seeds)

    def _chat(self, images, texts, max_new_tokens: int, temperature: float, seeds: Sequence[int]) -> list[str]:
        return chat_generate(
            self.model, self.processor, images, texts,
            max_new_tokens=max_new_tokens, temperature=temperature, seed=seeds[0] if seeds else 0,
            device=self.runtime.device, dtype=self.dtype, fallback=self.chat_fallback,
        )
