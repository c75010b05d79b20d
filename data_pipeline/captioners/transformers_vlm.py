"""Caption with a local transformers vision-language model, in left-padded batches.

Why this shape: any model that loads through ``AutoModelForImageTextToText`` + ``AutoProcessor``
and ships a chat template (LLaVA, Qwen-VL, InternVL, Gemma 3, ...) works without a per-model
adapter. Batches are left-padded so every row's prompt ends where generation starts. The model
is loaded once in ``__init__``; ``factory.get_captioner`` caches the instance per process, so a
Dask worker pays the load once for all its shards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.core.hub import resolve_revision

from .base import Captioner, CaptionerConfig, CaptionResult
from .errors import CaptionerError, require

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

def pick_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed through."""
    from unified_bench.core.dtypes import default_device

    return default_device() if device == "auto" else device


def pick_dtype(dtype: str, device: str) -> Any:
    """``auto`` -> bf16 on GPU (halves memory, native on Ampere+), fp32 on CPU (bf16 is slow there)."""
    from unified_bench.core.dtypes import default_dtype, normalize_dtype, torch_dtype_of
    from unified_bench.core.errors import SpecError

    if dtype == "auto":
        return torch_dtype_of(default_dtype(device))
    try:
        return torch_dtype_of(normalize_dtype(dtype, "captioner dtype"))
    except SpecError as exc:
        raise CaptionerError(exc.problem, "use one of: auto, fp32, fp16, bf16 (or float32, float16, bfloat16)") from exc


class TransformersCaptioner(Captioner):
    """A chat-template VLM run with ``generate``; one CaptionResult per image, in input order."""

    def __init__(self, config: CaptionerConfig) -> None:
        if config.backend != "transformers":
            raise CaptionerError(f"TransformersCaptioner got backend {config.backend!r}.", "use backend='transformers'")
        if not config.model:
            raise CaptionerError("The transformers captioner needs a model.", "set model to a hub id or a local dir")
        if config.batch_size < 1 or config.max_new_tokens < 1:
            raise CaptionerError(
                f"batch_size ({config.batch_size}) and max_new_tokens ({config.max_new_tokens}) must be >= 1.",
                "set both to positive integers",
            )
        require("torch")
        transformers = require("transformers")
        self.config = config
        self.device = pick_device(config.device)
        self.dtype = pick_dtype(config.dtype, self.device)
        self.seed = int(config.extra.get("seed", 0))
        self.do_sample = config.temperature > 0
        # The factory shares one instance between the threads of a Dask worker: one generate at a time
        # (the device is saturated by one batch anyway, and the sampling seed is process-global).
        self._lock = threading.Lock()
        self.revision = resolve_revision(config.model, config.revision)
        # Load the exact commit we record (a moving branch could advance between resolve and load).
        load_revision = self.revision if self.revision and not self.revision.startswith("sha256:") else None
        load_revision = load_revision or config.revision
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(config.model, revision=load_revision)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                config.model, revision=load_revision, dtype=self.dtype
            )
        except (OSError, ValueError) as exc:
            raise CaptionerError(
                f"Could not load captioner model {config.model!r}@{load_revision}: {exc}",
                "check the hub id / local path, that it is an image-text-to-text model, and the revision",
            ) from exc
        self.model.to(self.device).eval()
        if getattr(self.processor, "chat_template", None) is None:
            raise CaptionerError(
                f"The processor of {config.model!r} has no chat template.",
                "use an instruction-tuned VLM whose processor ships a chat template",
            )
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # generation appends on the right: prompts must end-align
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_token_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.prompt_text = self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": config.effective_prompt}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        self._record = {
            "backend": "transformers",
            "model": config.model,
            "revision": self.revision,
            "prompt_sha256": config.prompt_sha256,
            "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "do_sample": self.do_sample,
            "seed": self.seed,
            "dtype": str(self.dtype).replace("torch.", ""),
        }

    def record(self) -> dict[str, Any]:
        return dict(self._record)

    def caption_batch(self, images: Sequence[Image]) -> list[CaptionResult]:
        """Caption in chunks of ``batch_size``; a failing chunk is retried image by image.

        Why the retry: one corrupt image (or a memory spike from a long batch) should cost one
        error row, not the seven good captions that shared its batch.
        """
        results: list[CaptionResult] = []
        size = self.config.batch_size
        for start in range(0, len(images), size):
            chunk = list(images[start : start + size])
            try:
                results.extend(self._generate(chunk))
            except Exception as exc:  # noqa: BLE001 - per-sample failures become rows, never a shard crash
                if len(chunk) == 1:
                    results.append(self._error(exc))
                    continue
                logger.warning("caption batch of %d failed (%s); retrying one by one", len(chunk), exc)
                for image in chunk:
                    try:
                        results.extend(self._generate([image]))
                    except Exception as single_exc:  # noqa: BLE001
                        results.append(self._error(single_exc))
        return results

    def _error(self, exc: BaseException) -> CaptionResult:
        logger.warning("caption failed: %s: %s", type(exc).__name__, exc)
        return CaptionResult(text=None, error=f"{type(exc).__name__}: {exc}", record=self.record())

    def _generate(self, images: list[Image]) -> list[CaptionResult]:
        import torch

        rgb = [im.convert("RGB") if im.mode != "RGB" else im for im in images]
        inputs = self.processor(
            images=rgb, text=[self.prompt_text] * len(rgb), return_tensors="pt", padding=True
        ).to(self.device, dtype=self.dtype)
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.config.max_new_tokens,
            "do_sample": self.do_sample,
            "pad_token_id": self.pad_token_id,
        }
        with self._lock, torch.inference_mode():
            if self.do_sample:
                kwargs["temperature"] = self.config.temperature
                torch.manual_seed(self.seed)  # same batch + same seed -> same captions
            output = self.model.generate(**inputs, **kwargs)
        if not getattr(self.model.config, "is_encoder_decoder", False):
            output = output[:, inputs["input_ids"].shape[1] :]  # decoder-only: drop the echoed prompt
        record = self.record()
        return [self._finish(row.tolist(), record) for row in output]

    def _finish(self, tokens: list[int], record: dict[str, Any]) -> CaptionResult:
        """Cut at the first EOS; no EOS within ``max_new_tokens`` means the caption was truncated."""
        stop_at = next((i for i, tok in enumerate(tokens) if tok in self.eos_token_ids), None)
        if stop_at is not None:
            tokens, reason = tokens[:stop_at], "stop"
        else:
            reason = "length" if len(tokens) >= self.config.max_new_tokens else "stop"
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return CaptionResult(text=text, finish_reason=reason, record=record)
