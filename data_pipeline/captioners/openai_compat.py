"""Caption through any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, hosted APIs).

Why: serving engines batch far better than ``generate`` on large VLMs, and they all speak the
same ``POST {endpoint}/chat/completions`` dialect with an ``image_url`` content part. The transport
is the project's one client for such servers, ``unified_bench.core.openai_client`` (also used by
the evaluation's served models): at most ``config.concurrency`` requests in flight (the server does
the batching), 429 / 5xx / connection errors / timeouts / malformed JSON retried with exponential
backoff plus jitter (honouring ``Retry-After``), and a circuit breaker that stops sending to an
endpoint that keeps failing. This module only maps the pipeline's ``CaptionerConfig`` onto it and
turns a final failure into an error row instead of an exception, marked ``transport_error`` when
the server never answered (so the caption stage waits out the outage). The API key is read from the
environment variable named by ``config.api_key_env`` and never recorded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.core.errors import SpecError
from unified_bench.core.openai_client import (
    CircuitBreaker,
    ClientConfig,
    OpenAIClient,
    RequestFailed,
    backoff_delay,
    image_data_url,
    parse_retry_after,
)

from .base import Captioner, CaptionerConfig, CaptionResult
from .errors import CaptionerError

if TYPE_CHECKING:
    from PIL.Image import Image

# Re-exported: the caption stage and the tests import these helpers from here.
__all__ = ["CircuitBreaker", "OpenAICompatCaptioner", "backoff_delay", "image_data_url", "parse_retry_after"]

IMAGE_FORMATS = ("png", "jpeg")


class OpenAICompatCaptioner(Captioner):
    """Chat-completions captioner on the shared client; results in input order, failures as rows.

    ``config.extra`` tunes the transport: ``seed`` (default 0, sent with every request),
    ``image_format`` ('png' | 'jpeg'), ``backoff_base_s`` (0.5), ``backoff_max_s`` (30),
    ``max_retry_after_s`` (300: a longer ``Retry-After`` is capped, not obeyed blindly). The circuit
    breaker (``config.breaker_failures``) pauses for ``backoff_base_s`` doubling up to ``backoff_max_s``.
    """

    def __init__(self, config: CaptionerConfig) -> None:
        # The pipeline's own checks come first so a bad recipe is named in its terms (CaptionerError,
        # with the recipe's field names), not as the shared client's SpecError.
        if config.backend != "openai":
            raise CaptionerError(f"OpenAICompatCaptioner got backend {config.backend!r}.", "use backend='openai'")
        if not config.endpoint or not config.endpoint.startswith(("http://", "https://")):
            raise CaptionerError(
                f"The openai captioner needs an http(s) endpoint, got {config.endpoint!r}.",
                "set endpoint to the server's base URL, e.g. http://host:8000/v1",
            )
        if not config.model:
            raise CaptionerError("The openai captioner needs the served model name.", "set model, e.g. the vLLM --model")
        if (config.concurrency < 1 or config.max_retries < 0 or config.timeout_s <= 0 or config.breaker_failures < 1
                or config.outage_wait_s < 0):
            raise CaptionerError(
                f"Bad transport settings: concurrency={config.concurrency}, max_retries={config.max_retries}, "
                f"timeout_s={config.timeout_s}, breaker_failures={config.breaker_failures}, "
                f"outage_wait_s={config.outage_wait_s}.",
                "use concurrency >= 1, max_retries >= 0, timeout_s > 0, breaker_failures >= 1, outage_wait_s >= 0",
            )
        # The shared client simply sends no key when the variable is unset (right for an open server);
        # a recipe that names a key variable wants one, so a missing key fails here, before any ingest.
        if config.api_key_env and not os.environ.get(config.api_key_env):
            raise CaptionerError(
                f"The environment variable {config.api_key_env!r} (API key) is not set.",
                f"export {config.api_key_env}=... on every worker, or drop api_key_env for an open server",
            )
        extra = config.extra
        self.config = config
        self.seed = int(extra.get("seed", 0))
        self.image_format = str(extra.get("image_format", "png"))
        if self.image_format.lower() not in IMAGE_FORMATS:
            raise CaptionerError(f"Unsupported captioner extra.image_format {self.image_format!r}.",
                                 "use 'png' (lossless) or 'jpeg' (smaller requests)")
        self.backoff_base_s = float(extra.get("backoff_base_s", 0.5))
        self.backoff_max_s = float(extra.get("backoff_max_s", 30.0))
        self.max_retry_after_s = float(extra.get("max_retry_after_s", 300.0))
        self.breaker = CircuitBreaker(config.breaker_failures, self.backoff_base_s, self.backoff_max_s)
        try:
            client_config = ClientConfig(
                base_url=config.endpoint, model=config.model, api_key_env=config.api_key_env,
                concurrency=config.concurrency, max_retries=config.max_retries, timeout_s=config.timeout_s,
                # No per-request deadline: the outage budget is per shard (outage_wait_s, caption stage).
                deadline_s=None, backoff_base_s=self.backoff_base_s, backoff_max_s=self.backoff_max_s,
                max_retry_after_s=self.max_retry_after_s,
            )
        except SpecError as exc:  # a check the shared client has and the pipeline's above missed
            raise CaptionerError(exc.problem, exc.fix) from exc
        # One client (and so one bounded pool) per captioner, shared by every caller in the process, so
        # the bound holds even when several Dask tasks in one worker caption at the same time.
        self.client = OpenAIClient(client_config, breaker=self.breaker)
        self.url = self.client.base + "/chat/completions"
        self._record = {
            "backend": "openai",
            "model": config.model,
            "revision": config.revision,
            "prompt_sha256": config.prompt_sha256,
            "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "do_sample": config.temperature > 0,
            "seed": self.seed,
        }

    def record(self) -> dict[str, Any]:
        return dict(self._record)

    def caption_batch(self, images: Sequence[Image]) -> list[CaptionResult]:
        out: list[CaptionResult] = []
        for result in self.client.map(self._caption_one, images):
            if isinstance(result, BaseException):  # a bug, not a failed request (those are rows): surface it
                raise result
            out.append(result)
        return out

    def messages(self, image: Image) -> list[dict[str, Any]]:
        """The chat messages for one image: the image as a data URI, then the prompt."""
        return [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image_data_url(image, self.image_format)}},
                    {"type": "text", "text": self.config.effective_prompt},
                ],
            }
        ]

    def params(self) -> dict[str, Any]:
        """Decoding parameters sent with every request."""
        return {"max_tokens": self.config.max_new_tokens, "temperature": self.config.temperature, "seed": self.seed}

    def request_body(self, image: Image) -> dict[str, Any]:
        """The chat-completions payload for one image (public so tests and docs can show it)."""
        return {"model": self.config.model, "messages": self.messages(image), **self.params()}

    def _caption_one(self, image: Image) -> CaptionResult:
        try:
            messages = self.messages(image)
        except Exception as exc:  # noqa: BLE001 - an unencodable image is this sample's failure only
            return CaptionResult(text=None, error=f"could not encode image: {exc}", record=self.record())
        try:
            reply = self.client.chat(messages, **self.params())
        except RequestFailed as exc:
            # transient: the server never answered usefully (retries spent or circuit open); the caption
            # stage retries such samples later instead of rejecting them.
            return CaptionResult(text=None, error=str(exc), record=self.record(), transport_error=exc.transient)
        record = self.record()
        if reply.model:
            record["served_model"] = reply.model
        if reply.system_fingerprint:
            record["system_fingerprint"] = reply.system_fingerprint
        if "seed" in self.client.dropped_params:  # the server refused it: say the caption is not seeded
            record["seed_applied"] = False
        return CaptionResult(text=reply.text, finish_reason=reply.finish_reason, record=record)

    def close(self) -> None:
        """Stop the request threads (the factory's cached instance normally lives as long as the process)."""
        self.client.close()
