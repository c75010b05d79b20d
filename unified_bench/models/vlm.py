"""Any transformers image-text-to-text model (LLaVA, Qwen-VL, InternVL, BLIP, ...): caption + answer.

Why: most strong captioners are plain vision-language models that cannot generate images.
They are useful as the understanding half of a composite (``VLM+TEXT2IMAGE``) and need no
per-architecture code: ``AutoModelForImageTextToText`` + ``AutoProcessor`` + the checkpoint's
chat template cover them.
"""

from __future__ import annotations

import logging
from typing import Any

from unified_bench.models.base import Capability
from unified_bench.models.common import ChatUnderstanding
from unified_bench.models.transformers_base import TransformersAdapter

logger = logging.getLogger(__name__)


class VLMAdapter(ChatUnderstanding, TransformersAdapter):
    """Understanding-only adapter for image-text-to-text checkpoints with a chat template."""

    capabilities = frozenset({Capability.CAPTION, Capability.ANSWER})
    default_role = "understanding"

    def classes(self) -> tuple[Any, Any]:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        return AutoModelForImageTextToText, AutoProcessor

    def prepare(self) -> None:
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            # Decoder-only models must be left-padded for batched generation.
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None and tokenizer.eos_token is not None:
                tokenizer.pad_token = tokenizer.eos_token
        if not getattr(self.processor, "chat_template", None):
            logger.warning(
                "%s ships no chat template; prompts use the plain 'USER: <image>TEXT ASSISTANT:' format.",
                self.resolved.source,
            )
