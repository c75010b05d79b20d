"""Any transformers image-text-to-text model (LLaVA, Qwen-VL, InternVL, BLIP, ...): caption + answer.

Why: most strong captioners are plain vision-language models that cannot generate images.
They are useful as the understanding half of a composite (``VLM+TEXT2IMAGE``) and need no
per-architecture code: ``AutoModelForImageTextToText`` + ``AutoProcessor`` + the checkpoint's
chat template cover them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from unified_bench.models.base import Capability, ModelAdapter, ModelIdentity
from unified_bench.models.common import ChatUnderstanding, component

if TYPE_CHECKING:

    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import RuntimeOptions

logger = logging.getLogger(__name__)


class VLMAdapter(ChatUnderstanding, ModelAdapter):
    """Understanding-only adapter for image-text-to-text checkpoints with a chat template."""

    capabilities = frozenset({Capability.CAPTION, Capability.ANSWER})

    def __init__(self, resolved: ResolvedModel, runtime: RuntimeOptions, role: str = "understanding") -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.resolved = resolved
        self.runtime = runtime.resolved()
        self.role = role
        self.dtype = self.runtime.torch_dtype()
        self.model = AutoModelForImageTextToText.from_pretrained(resolved.path, dtype=self.dtype)
        self.model.to(self.runtime.device).eval()
        self.processor = AutoProcessor.from_pretrained(resolved.path)
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            # Decoder-only models must be left-padded for batched generation.
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None and tokenizer.eos_token is not None:
                tokenizer.pad_token = tokenizer.eos_token
        if not getattr(self.processor, "chat_template", None):
            logger.warning(
                "%s ships no chat template; prompts use the plain 'USER: <image>TEXT ASSISTANT:' format.",
                resolved.source,
            )

    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            spec=self.resolved.spec.raw,
            components=(component(self.resolved, self.role, type(self.model).__name__),),
        )


    def close(self) -> None:
        self.model.to("cpu")
        del self.model
