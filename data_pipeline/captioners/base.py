"""The captioner interface shared by the pipeline's caption stage and every backend.

Why: a shard task only needs "images in, long captions out, with a record of who wrote them".
Backends differ (a local transformers model loaded once per Dask worker, or a remote
OpenAI-compatible server), the contract does not. Configs are frozen and picklable so they
travel to workers inside the recipe.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL.Image import Image

#: Asks for the long, dense captions a generator needs to learn to follow long text.
DEFAULT_LONG_CAPTION_PROMPT = (
    "Describe this image in great detail, in at least 250 words of flowing prose. Cover every "
    "visible object and person with their attributes (colour, material, size, texture, pose, "
    "expression), exact counts of repeated things, the spatial relations between them (left, "
    "right, in front of, behind, above, below), any text visible in the image transcribed "
    'exactly inside double quotes "", the background and setting, the lighting, and the overall '
    "composition, style and mood. Do not speculate about things that are not visible and do "
    "not start with a preamble such as 'This image shows'."
)


@dataclass(frozen=True)
class CaptionerConfig:
    """Which captioner, how it decodes, and how it is reached."""

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = ""  # hub id / local dir (transformers) or served model name (openai)
    revision: str | None = None
    prompt: str | None = None  # None = DEFAULT_LONG_CAPTION_PROMPT
    max_new_tokens: int = 1024
    temperature: float = 0.2
    batch_size: int = 8
    # transformers backend
    device: str = "auto"
    dtype: str = "auto"
    # openai backend
    endpoint: str | None = None  # base URL, e.g. http://host:8000/v1
    api_key_env: str | None = None  # name of the env var holding the key (never the key itself)
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 120.0
    # openai backend, outages: after ``breaker_failures`` consecutive failed requests the client stops
    # sending (circuit breaker, reopened with growing backoff); a shard waits up to ``outage_wait_s``
    # for the endpoint to come back, then is left uncommitted (deferred) for a re-run.
    breaker_failures: int = 5
    outage_wait_s: float = 1800.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_prompt(self) -> str:
        return self.prompt or DEFAULT_LONG_CAPTION_PROMPT

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256(self.effective_prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CaptionResult:
    """One caption or one failure. ``finish_reason`` 'length' means the token limit was hit."""

    text: str | None
    error: str | None = None
    finish_reason: str | None = None  # "stop" | "length" | None when unknown
    record: dict[str, Any] = field(default_factory=dict)  # model, revision, prompt_sha256, decoding
    #: the request never got an answer (connection, timeout, 429/5xx, circuit open): not the sample's
    #: fault, so the caption stage retries it later instead of rejecting the sample
    transport_error: bool = False


class Captioner(ABC):
    """Images in, one CaptionResult per image out (failures as results, never exceptions)."""

    @abstractmethod
    def caption_batch(self, images: Sequence[Image]) -> list[CaptionResult]:
        """Caption a batch; a per-image failure is a CaptionResult with ``error`` set."""

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """Model id, resolved revision, prompt sha256 and decoding parameters."""
