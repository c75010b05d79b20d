"""Caption through any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, hosted APIs).

Why: serving engines batch far better than ``generate`` on large VLMs, and they all speak the
same ``POST {endpoint}/chat/completions`` dialect with an ``image_url`` content part. This client
keeps at most ``config.concurrency`` requests in flight (the server does the batching), retries
429 / 5xx / connection errors / timeouts with exponential backoff plus jitter (honouring
``Retry-After``), and turns a final failure into an error row instead of an exception. The API
key is read from the environment variable named by ``config.api_key_env`` and never recorded.
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .base import Captioner, CaptionerConfig, CaptionResult
from .errors import CaptionerError, require

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)


def image_data_url(image: Image, image_format: str = "png") -> str:
    """``data:image/<fmt>;base64,...``: how the chat API carries an inline image.

    PNG by default because it is lossless (the captioner sees the pixels we stored); JPEG
    (quality 95) is offered for servers with small request-size limits.
    """
    fmt = image_format.lower()
    if fmt not in ("png", "jpeg"):
        raise CaptionerError(f"Unsupported image_format {image_format!r}.", "use 'png' or 'jpeg'")
    rgb = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    buffer = io.BytesIO()
    rgb.save(buffer, format=fmt.upper(), **({"quality": 95} if fmt == "jpeg" else {}))
    return f"data:image/{fmt};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    Why jitter: many workers that failed together (a server restart) would otherwise retry in
    lock-step and knock the server over again.
    """
    step = min(max_s, base_s * (2**attempt))
    return step / 2 + rng.uniform(0, step / 2)


class CircuitBreaker:
    """Stops requests to an endpoint that keeps failing, reopening it after a growing pause.

    Why: during an outage every request would otherwise burn its full retry budget (minutes of
    timeouts and backoff each, times the concurrency) and the shard would commit its samples as
    failed. After ``threshold`` consecutive failed attempts the breaker opens for ``base_s``,
    doubling up to ``max_s`` on each reopening; while open, requests fail at once as transport errors
    and the caption stage waits. The first success closes it. Shared by all threads of a process."""

    def __init__(self, threshold: int, base_s: float, max_s: float) -> None:
        self.threshold, self.base_s, self.max_s = max(1, threshold), base_s, max_s
        self._lock = threading.Lock()
        self._failures = 0
        self._opened = 0  # times opened since the last success
        self.open_until = 0.0

    def allow(self) -> bool:
        return time.monotonic() >= self.open_until

    def success(self) -> None:
        with self._lock:
            self._failures = self._opened = 0
            self.open_until = 0.0

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold:
                self.open_until = time.monotonic() + min(self.max_s, self.base_s * 2 ** self._opened)
                self._opened += 1
                self._failures = self.threshold - 1  # half-open: one more failure reopens it
                logger.warning("captioner endpoint failing: circuit open for %.1fs",
                               self.open_until - time.monotonic())


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Permanent(Exception):
    """A failure a retry cannot fix (4xx other than 429, malformed response)."""


class OpenAICompatCaptioner(Captioner):
    """Chat-completions client with bounded concurrency and retries; results in input order.

    ``config.extra`` tunes the transport: ``seed`` (default 0, sent with every request),
    ``image_format`` ('png' | 'jpeg'), ``backoff_base_s`` (0.5), ``backoff_max_s`` (30),
    ``max_retry_after_s`` (300: a longer ``Retry-After`` is capped, not obeyed blindly).
    """

    def __init__(self, config: CaptionerConfig) -> None:
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
        self._api_key: str | None = None
        if config.api_key_env:
            self._api_key = os.environ.get(config.api_key_env)
            if not self._api_key:
                raise CaptionerError(
                    f"The environment variable {config.api_key_env!r} (API key) is not set.",
                    f"export {config.api_key_env}=... on every worker, or drop api_key_env for an open server",
                )
        self._requests = require("requests")
        self.config = config
        self.url = config.endpoint.rstrip("/") + "/chat/completions"
        extra = config.extra
        self.seed = int(extra.get("seed", 0))
        self.image_format = str(extra.get("image_format", "png"))
        self.backoff_base_s = float(extra.get("backoff_base_s", 0.5))
        self.backoff_max_s = float(extra.get("backoff_max_s", 30.0))
        self.max_retry_after_s = float(extra.get("max_retry_after_s", 300.0))
        self._rng = random.Random()
        self.breaker = CircuitBreaker(config.breaker_failures, self.backoff_base_s, self.backoff_max_s)
        self._local = threading.local()
        # One pool per captioner, shared by every caller in the process, so the bound holds even when
        # several Dask tasks in one worker caption at the same time.
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="caption-http")
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
        return list(self._pool.map(self._caption_one, images))

    def request_body(self, image: Image) -> dict[str, Any]:
        """The chat-completions payload for one image (public so tests and docs can show it)."""
        return {
            "model": self.config.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image_data_url(image, self.image_format)}},
                        {"type": "text", "text": self.config.effective_prompt},
                    ],
                }
            ],
            "max_tokens": self.config.max_new_tokens,
            "temperature": self.config.temperature,
            "seed": self.seed,
        }

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:  # requests.Session is not documented thread-safe: one per pool thread
            session = self._requests.Session()
            self._local.session = session
        return session

    def _caption_one(self, image: Image) -> CaptionResult:
        try:
            body = self.request_body(image)
        except Exception as exc:  # noqa: BLE001 - an unencodable image is this sample's failure only
            return CaptionResult(text=None, error=f"could not encode image: {exc}", record=self.record())
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        attempts = self.config.max_retries + 1
        last_error = ""
        for attempt in range(attempts):
            if not self.breaker.allow():
                return CaptionResult(text=None, error=f"circuit open (endpoint failing): {last_error}".rstrip(": "),
                                     record=self.record(), transport_error=True)
            try:
                result = self._post(body, headers)
                self.breaker.success()
                return result
            except _Retryable as exc:
                self.breaker.failure()
                last_error = str(exc)
                if attempt + 1 == attempts:
                    break
                delay = backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s, self._rng)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.max_retry_after_s))
                logger.info("caption request failed (%s); retry %d/%d in %.2fs",
                            last_error, attempt + 1, attempts - 1, delay)
                time.sleep(delay)
            except _Permanent as exc:
                self.breaker.success()  # the server answered: it is up, the request was bad
                return CaptionResult(text=None, error=str(exc), record=self.record())
        return CaptionResult(
            text=None, error=f"gave up after {attempts} attempts: {last_error}", record=self.record(),
            transport_error=True,
        )

    def _post(self, body: dict[str, Any], headers: dict[str, str]) -> CaptionResult:
        requests = self._requests
        try:
            response = self._session().post(self.url, json=body, headers=headers, timeout=self.config.timeout_s)
        except requests.Timeout as exc:
            raise _Retryable(f"timeout after {self.config.timeout_s}s: {exc}") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Retryable(f"connection error: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {response.text[:200]}", parse_retry_after(response.headers.get("Retry-After")))
        if status != 200:
            raise _Permanent(f"HTTP {status}: {response.text[:500]}")
        try:
            payload = response.json()
            choice = payload["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Permanent(f"malformed chat-completions response ({exc!r}): {response.text[:500]}") from exc
        if isinstance(content, list):  # some servers return content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        record = self.record()
        if payload.get("model"):
            record["served_model"] = payload["model"]
        if payload.get("system_fingerprint"):
            record["system_fingerprint"] = payload["system_fingerprint"]
        return CaptionResult(
            text=(content or "").strip(), finish_reason=choice.get("finish_reason"), record=record
        )

    def close(self) -> None:
        """Stop the request threads (the factory's cached instance normally lives as long as the process)."""
        self._pool.shutdown(wait=True)
