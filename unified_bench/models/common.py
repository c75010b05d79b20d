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


#: Generation-config fields a checkpoint may keep: ids of special tokens and model-specific kwargs.
#: Everything else (sampling, penalties, lengths, CFG) is set explicitly by the adapters.
_KEPT_GENERATION_FIELDS = (
    "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "generation_kwargs",
)


def neutral_generation_config(model: Any) -> dict[str, Any]:
    """Replace ``model.generation_config`` by one holding only special token ids; return what was dropped.

    Why: transformers fills every ``generate`` argument left unset from the checkpoint's
    ``generation_config.json`` (Qwen2.5-VL: ``top_k=1, top_p=0.001, repetition_penalty=1.05``), and
    processors such as the repetition penalty run even under greedy decoding. With the neutral
    config, the decoding the protocol names is the decoding that runs. The dropped values are
    returned so an adapter can log them.
    """
    from transformers import GenerationConfig

    old = getattr(model, "generation_config", None)
    if old is None:
        return {}
    kept = {k: getattr(old, k, None) for k in _KEPT_GENERATION_FIELDS}
    kept = {k: v for k, v in kept.items() if v not in (None, {})}
    dropped = {k: v for k, v in old.to_diff_dict().items()
               if k not in _KEPT_GENERATION_FIELDS and not k.startswith("_") and k != "transformers_version"}
    model.generation_config = GenerationConfig(**kept)
    return dropped


#: ``generate`` arguments that pin every logits processor to "off" (the samplers below do the rest).
NEUTRAL_PROCESSORS: dict[str, Any] = {
    "do_sample": False,  # the per-item sampler picks the token; greedy then takes it
    "num_beams": 1,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_repetition_penalty": 1.0,
    "encoder_no_repeat_ngram_size": 0,
    "length_penalty": 1.0,
    "min_length": 0,
    "num_return_sequences": 1,
}


class PerItemSampler:
    """A ``LogitsProcessor`` that samples each row with its own ``torch.Generator``.

    Why: ``generate`` draws all rows from one global RNG, so an item's text depended on its batch
    size and neighbours. Here row ``i`` draws only from ``Generator(seed_i)`` (on the CPU, so the
    draw is the same on every device), with temperature / top-k / top-p applied explicitly, and the
    returned scores leave only the drawn token finite; ``generate`` runs greedy and takes it.
    Sampling uses the exponential-race form of the categorical draw
    (``argmax(p / E)`` with ``E ~ Exp(1)``), which is exact and needs one fixed-size draw per row and
    step, so a row's stream never depends on other rows. ``temperature == 0`` is plain argmax.

    ``guidance_scale`` (optional): the scores hold ``2B`` rows (conditional then unconditional,
    as Janus's image loop produces them) and are combined as ``u + s * (c - u)`` before sampling;
    ``s == 1`` keeps the conditional rows (guidance disabled).
    """

    def __init__(
        self,
        seeds: Sequence[int],
        temperature: float,
        top_k: int = 0,
        top_p: float = 1.0,
        guidance_scale: float | None = None,
    ) -> None:
        import torch

        self.generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        self.temperature = float(temperature)
        self.top_k = int(top_k or 0)
        self.top_p = float(top_p)
        self.guidance_scale = guidance_scale

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        rows = len(self.generators)
        logits = scores.float()
        if self.guidance_scale is not None:
            if logits.shape[0] != 2 * rows:
                raise ValueError(f"guided sampling expects {2 * rows} score rows, got {logits.shape[0]}")
            cond, uncond = logits[:rows], logits[rows:]
            logits = uncond + self.guidance_scale * (cond - uncond)
        elif logits.shape[0] != rows:
            raise ValueError(f"{rows} seeds for {logits.shape[0]} score rows")
        if self.temperature > 0:
            chosen = self._sample(logits)
        else:
            chosen = logits.argmax(dim=-1)
        out = torch.full_like(logits, float("-inf"), dtype=scores.dtype)
        out[torch.arange(rows, device=out.device), chosen.to(out.device)] = 0.0
        return out

    def _sample(self, logits: Any) -> Any:
        import torch

        logits = logits / self.temperature
        vocab = logits.shape[-1]
        if 0 < self.top_k < vocab:
            kth = torch.topk(logits, self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
            before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly above each token
            sorted_probs = sorted_probs.masked_fill(before >= self.top_p, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs.to("cpu", torch.float64)
        picks = []
        for row, gen in enumerate(self.generators):
            race = torch.empty(vocab, dtype=torch.float64).exponential_(generator=gen)
            picks.append(int(torch.argmax(probs[row] / race)))
        return torch.tensor(picks)


def sampler_processors(sampler: PerItemSampler) -> Any:
    from transformers import LogitsProcessorList

    return LogitsProcessorList([sampler])


def decoding_kwargs(settings: Any, seeds: Sequence[int]) -> dict[str, Any]:
    """``generate`` kwargs applying ``settings.decoding()`` in full, sampled per item from ``seeds``."""
    decoding = settings.decoding()
    sampler = PerItemSampler(seeds, decoding["temperature"], decoding["top_k"], decoding["top_p"])
    return {
        **NEUTRAL_PROCESSORS,
        "max_new_tokens": int(decoding["max_new_tokens"]),
        "repetition_penalty": float(decoding["repetition_penalty"]),
        "no_repeat_ngram_size": int(decoding["no_repeat_ngram_size"]),
        "logits_processor": sampler_processors(sampler),
    }


_SENTINEL = "UNIFIEDBENCHPROMPTTEXT"


def chat_content(num_images: int, text: str, images_first: bool = False) -> list[dict[str, Any]]:
    """One user turn: the text then the image(s) (the unified protocol), or the images first
    (``images_first``: e.g. MMT-Bench's reference prompt, one image message per image, then the text)."""
    images = [{"type": "image"} for _ in range(num_images)]
    text_part = [{"type": "text", "text": text}]
    return images + text_part if images_first else text_part + images


def render_chat(processor: Any, num_images: int, text: str, fallback: str, images_first: bool = False) -> str:
    """One user turn through the model's chat template, in the order ``images_first`` asks for.

    ``fallback`` (a format string with ``{images}`` and ``{text}``) is used only when the
    checkpoint ships no chat template; adapters' fallbacks put the text first, and are mirrored
    when the images must come first.
    """
    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": chat_content(num_images, text, images_first)}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    token = getattr(processor, "image_token", "<image>")
    if images_first:
        # Swap the two placeholders: "USER: {text}\n{images} ..." -> "USER: {images}\n{text} ...".
        fallback = fallback.replace("{text}", "{_t}").replace("{images}", "{text}").replace("{_t}", "{images}")
    return fallback.format(images=token * num_images, text=text)


def prompt_layout(processor: Any, fallback: str) -> dict[str, str]:
    """Where the image lands relative to the text once the template has rendered the protocol's turn.

    Why: the protocol sends the text first, then the image; some chat templates (LLaVA-1.5's
    converted template) place every image before the text whatever the message order. The
    rendering decides, not the adapter's intent: render the turn with and without the image and
    see whether the first difference comes before or after the text.
    """
    with_image = render_chat(processor, 1, _SENTINEL, fallback)
    text_only = render_chat(processor, 0, _SENTINEL, fallback)
    common = 0
    for a, b in zip(with_image, text_only, strict=False):
        if a != b:
            break
        common += 1
    text_end = with_image.find(_SENTINEL) + len(_SENTINEL)
    source = "chat template" if getattr(processor, "chat_template", None) else "built-in fallback prompt"
    if with_image.find(_SENTINEL) >= 0 and common >= text_end:
        return {"order": "text-image", "reason": f"protocol order, rendered by the {source}"}
    return {
        "order": "image-text",
        "reason": f"the {source} places images before the text whatever the message order",
    }


def chat_generate(
    model: Any,
    processor: Any,
    images: Sequence[Sequence[Image]],
    texts: Sequence[str],
    *,
    settings: Any,
    seeds: Sequence[int],
    device: str,
    dtype: Any,
    fallback: str,
    generate: Any = None,
) -> list[str]:
    """Batched text+image(s) -> text; returns only the newly generated text of each item.

    Each item is sampled from its own seed (``PerItemSampler``), so its text does not depend on
    the batch size or its neighbours. ``generate`` overrides ``model.generate`` (Janus's text path
    drops custom logits processors).
    """
    import torch

    if len(images) != len(texts):
        raise ValueError(f"{len(images)} image lists for {len(texts)} texts")
    if len(seeds) != len(texts):
        raise ValueError(f"{len(seeds)} seeds for {len(texts)} items")
    if not texts:
        return []
    images_first = bool(getattr(settings, "images_first", False))
    prompts = [render_chat(processor, len(imgs), text, fallback, images_first)
               for imgs, text in zip(images, texts, strict=True)]
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
    run = generate or model.generate
    with torch.inference_mode():
        out = run(**inputs, **decoding_kwargs(settings, seeds))
    sequences = out.sequences if hasattr(out, "sequences") else out
    new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
    decoded = processor.batch_decode(new_tokens, skip_special_tokens=True)
    return [text.strip() for text in decoded]


def release_memory() -> None:
    """Return freed accelerator memory to the device after an adapter dropped its weights.

    Why not ``model.to("cpu")``: that copies a multi-GB model into host RAM just to delete it.
    """
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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

    chat_fallback: str = "USER: {text}\n{images} ASSISTANT:"

    def caption(self, images: Sequence[Image], settings: CaptionSettings, seeds: Sequence[int]) -> list[str]:
        return self._chat([[im] for im in images], [settings.prompt] * len(images), settings, seeds)

    def answer(
        self,
        images: Sequence[Sequence[Image]],
        questions: Sequence[str],
        settings: AnswerSettings,
        seeds: Sequence[int],
    ) -> list[str]:
        return self._chat(images, questions, settings, seeds)

    def prompt_layout(self) -> dict[str, str] | None:
        """Order of text and image in the rendered caption prompt (recorded in results.json);
        ``None`` for a checkpoint that does not caption or answer (e.g. Emu3-Gen)."""
        from unified_bench.models.base import Capability

        if not {Capability.CAPTION, Capability.ANSWER} & set(getattr(self, "capabilities", ())):
            return None
        return prompt_layout(self.processor, self.chat_fallback)

    def _text_generate(self) -> Any:
        """The callable that runs text generation (``model.generate`` unless a backend needs another)."""
        return self.model.generate

    def _chat(self, images, texts, settings: Any, seeds: Sequence[int]) -> list[str]:
        return chat_generate(
            self.model, self.processor, images, texts, settings=settings, seeds=seeds,
            device=self.runtime.device, dtype=self.dtype, fallback=self.chat_fallback,
            generate=self._text_generate(),
        )
