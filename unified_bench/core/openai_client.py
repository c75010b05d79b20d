"""One client for OpenAI-compatible servers (vLLM, SGLang, LMDeploy, TGI, hosted APIs).

Why one: the evaluation's served-model adapter and the data pipeline's endpoint captioner talk to
the same dialect (``POST {base}/chat/completions`` with ``image_url`` data URIs, ``POST
{base}/images/generations`` with ``b64_json``), and the hard parts are shared: at most
``concurrency`` requests in flight, retries of 429 / 5xx / timeouts / dropped connections with
exponential backoff plus jitter, ``Retry-After`` honoured (capped), a per-request timeout and a
total deadline per request including its retries, an optional circuit breaker that stops sending to
an endpoint that keeps failing, and configuration problems (bad key, unknown model, missing
endpoint) reported as one ``SpecError(problem, fix)`` by a probe *before* any work. A failed request
says whether it failed in transport (``RequestFailed.transient``: the server never gave a usable
answer) or for good (the server refused the request), because callers treat the two differently:
the pipeline waits out an outage instead of rejecting its samples.

The API key is read from the environment variable whose *name* is configured; the key itself is
never stored in a config object, a record or an error message.

Lives in ``unified_bench.core``: imports only the standard library and ``requests``.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from unified_bench.core.errors import SpecError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

#: Request parameters a server may refuse (HTTP 400 naming them) without changing what is asked:
#: the client drops such a parameter for the rest of the session and says so in ``dropped_params``.
DROPPABLE_PARAMS = ("seed", "response_format")


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and how to talk to it. Nothing here is a secret (the key stays in the env).

    ``deadline_s``: the most one request may take including all its retries (None: no bound
    beyond ``max_retries``). ``max_retry_after_s`` caps a server's ``Retry-After``.
    """

    base_url: str
    model: str
    api_key_env: str | None = DEFAULT_API_KEY_ENV
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 120.0
    deadline_s: float | None = 900.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise SpecError(
                f"Endpoint '{self.base_url}' is not an http(s) URL.",
                "Give the server's base URL including /v1, e.g. http://localhost:8000/v1.",
            )
        if not self.model:
            raise SpecError("No served model name given.", "Name the model the server serves (vllm serve ORG/NAME).")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise SpecError(
                f"Bad transport settings: concurrency={self.concurrency}, max_retries={self.max_retries}, "
                f"timeout_s={self.timeout_s}.",
                "Use concurrency >= 1, max_retries >= 0 and a positive timeout.",
            )

    @property
    def host(self) -> str:
        """``host[:port]`` of the endpoint (what identities record)."""
        return urlparse(self.base_url).netloc


class RequestFailed(Exception):
    """One request failed for good (retries spent, or a response no retry can fix).

    Not a ``UnifiedBenchError``: it is a per-item failure that the caller records, not a
    configuration problem. ``status`` is the last HTTP status (None for transport errors).
    ``transient`` is True when the server never gave a usable answer (429 / 5xx / timeouts /
    connection errors / malformed JSON until retries or the deadline ran out, or an open circuit):
    the same request may well succeed later, so a caller may wait and ask again rather than record
    the item as failed. False when the server answered and refused (4xx) or answered nonsense.
    """

    def __init__(self, message: str, status: int | None = None, body: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.transient = transient


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class CircuitBreaker:
    """Stops requests to an endpoint that keeps failing, reopening it after a growing pause.

    Why: during an outage every request would otherwise burn its full retry budget (minutes of
    timeouts and backoff each, times the concurrency). After ``threshold`` consecutive failed
    attempts (transient failures only) the breaker opens for ``base_s``, doubling up to ``max_s`` on
    each reopening; while open, requests fail at once with a transient ``RequestFailed`` and nothing
    is sent. Any answer from the server (a success or a 4xx refusal) closes it. Thread-safe: one
    breaker is shared by every request of a client.
    """

    def __init__(self, threshold: int, base_s: float, max_s: float) -> None:
        self.threshold, self.base_s, self.max_s = max(1, threshold), base_s, max_s
        self._lock = threading.Lock()
        self._failures = 0
        self._opened = 0  # times opened since the last success
        self.open_until = 0.0

    def allow(self) -> bool:
        """May a request be sent now (the circuit is closed, or its pause is over: half-open)?"""
        return time.monotonic() >= self.open_until

    def success(self) -> None:
        """The server answered: close the circuit and forget past failures."""
        with self._lock:
            self._failures = self._opened = 0
            self.open_until = 0.0

    def failure(self) -> None:
        """One attempt failed in transport; the ``threshold``-th in a row opens the circuit."""
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold:
                self.open_until = time.monotonic() + min(self.max_s, self.base_s * 2 ** self._opened)
                self._opened += 1
                self._failures = self.threshold - 1  # half-open: one more failure reopens it
                log.warning("endpoint failing: circuit open for %.1fs", self.open_until - time.monotonic())


def image_data_url(image: Image, image_format: str = "png") -> str:
    """``data:image/<fmt>;base64,...``: how the chat API carries an inline image.

    PNG by default because it is lossless (the model sees exactly the stored pixels); JPEG
    (quality 95) for servers with small request-size limits.
    """
    fmt = image_format.lower()
    if fmt not in ("png", "jpeg"):
        raise SpecError(f"Unsupported image format {image_format!r}.", "Use 'png' or 'jpeg'.")
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


def chat_text(payload: dict[str, Any]) -> tuple[str, str | None]:
    """(text, finish_reason) of the first choice; content given as parts is joined."""
    choice = payload["choices"][0]
    content = choice["message"]["content"]
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if content is not None and not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}")
    return (content or "").strip(), choice.get("finish_reason")


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str | None
    model: str | None
    system_fingerprint: str | None


class OpenAIClient:
    """Thread-safe client with a bounded pool; ``map`` runs calls concurrently, results in order.

    ``breaker``: an optional ``CircuitBreaker`` consulted before every attempt (retries included) and
    told the outcome of each; without one, every request spends its own retry budget.
    """

    def __init__(self, config: ClientConfig, breaker: CircuitBreaker | None = None) -> None:
        import requests  # core dependency; imported here so importing this module stays cheap

        self._requests = requests
        self.config = config
        self.base = config.base_url.rstrip("/")
        self._rng = random.Random()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.breaker = breaker
        self.dropped_params: set[str] = set()
        self.last_system_fingerprint: str | None = None

    # -- transport ---------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = dict(self.config.extra_headers)
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:  # requests.Session is not documented thread-safe: one per thread
            session = self._requests.Session()
            self._local.session = session
        return session

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        requests = self._requests
        url = f"{self.base}/{path.lstrip('/')}"
        try:
            response = self._session().request(
                method, url, json=body, headers=self._headers(), timeout=self.config.timeout_s
            )
        except requests.Timeout as exc:
            raise _Retryable(f"timeout after {self.config.timeout_s}s") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Retryable(f"connection error: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(
                f"HTTP {status}: {response.text[:200]}", status, parse_retry_after(response.headers.get("Retry-After"))
            )
        if status != 200:
            raise RequestFailed(f"HTTP {status} from {url}: {response.text[:500]}", status, response.text[:2000])
        try:
            payload = response.json()
        except ValueError as exc:
            # A truncated body from an overloaded proxy: worth another try.
            raise _Retryable(f"malformed JSON from {url}: {response.text[:200]!r}", status) from exc
        if not isinstance(payload, dict):
            raise _Retryable(f"malformed JSON from {url} (not an object): {response.text[:200]!r}", status)
        return payload

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                retries: int | None = None) -> dict[str, Any]:
        """One call with retries (429, 5xx, timeouts, connection errors, malformed JSON).

        Raises ``RequestFailed`` when retries or the deadline run out (``transient``), when the
        circuit breaker is open (``transient``, nothing sent), or at once on another 4xx.
        """
        attempts = (self.config.max_retries if retries is None else retries) + 1
        started = time.monotonic()
        breaker = self.breaker
        last: _Retryable | None = None
        for attempt in range(attempts):
            if breaker is not None and not breaker.allow():
                raise RequestFailed(
                    f"{path}: circuit open (endpoint failing)" + (f": {last}" if last else ""),
                    last.status if last else None, transient=True,
                ) from last
            try:
                payload = self._once(method, path, body)
            except _Retryable as exc:
                if breaker is not None:
                    breaker.failure()
                last = exc
                if attempt + 1 == attempts:
                    break
                delay = backoff_delay(attempt, self.config.backoff_base_s, self.config.backoff_max_s, self._rng)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.config.max_retry_after_s))
                deadline = self.config.deadline_s
                if deadline is not None and time.monotonic() - started + delay > deadline:
                    raise RequestFailed(
                        f"{path}: gave up at the {deadline}s deadline after {attempt + 1} attempts: {exc}", exc.status,
                        transient=True,
                    ) from exc
                log.info("%s failed (%s); retry %d/%d in %.2fs", path, exc, attempt + 1, attempts - 1, delay)
                time.sleep(delay)
            except RequestFailed:
                if breaker is not None:
                    breaker.success()  # the server answered: it is up, the request was refused
                raise
            else:
                if breaker is not None:
                    breaker.success()
                return payload
        assert last is not None
        raise RequestFailed(f"{path}: gave up after {attempts} attempts: {last}", last.status,
                            transient=True) from last

    def post_with_fallback(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, dropping a parameter of ``DROPPABLE_PARAMS`` the server refuses (HTTP 400/422 naming it).

        Why: OpenAI's images API refuses ``seed``; vLLM accepts it. The refusal is remembered for
        the session (``dropped_params``) so the caller can record that seeds were not applied.
        """
        while True:
            sent = {k: v for k, v in body.items() if k not in self.dropped_params}
            try:
                return self.request("POST", path, sent)
            except RequestFailed as exc:
                named = [p for p in DROPPABLE_PARAMS if p in sent and exc.status in (400, 422) and p in exc.body]
                if not named:
                    raise
                with self._lock:
                    self.dropped_params.update(named)
                log.warning("%s refuses parameter(s) %s; sending without them from now on", self.base, named)

    # -- endpoints ---------------------------------------------------------------------------
    def chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatReply:
        """``POST /chat/completions`` -> the first choice's text. Raises ``RequestFailed``."""
        payload = self.post_with_fallback(
            "chat/completions", {"model": self.config.model, "messages": messages, **params}
        )
        try:
            text, finish = chat_text(payload)
        except (KeyError, IndexError, TypeError) as exc:
            raise RequestFailed(f"malformed chat-completions response ({exc!r}): {str(payload)[:300]}") from exc
        fingerprint = payload.get("system_fingerprint")
        if fingerprint:
            self.last_system_fingerprint = str(fingerprint)
        return ChatReply(text, finish, payload.get("model"), fingerprint)

    def generate_image(self, prompt: str, size: str | None = None, **params: Any) -> bytes:
        """``POST /images/generations`` with ``n=1`` and ``b64_json`` -> the encoded image bytes."""
        body: dict[str, Any] = {"model": self.config.model, "prompt": prompt, "n": 1, "response_format": "b64_json"}
        if size:
            body["size"] = size
        payload = self.post_with_fallback("images/generations", body | params)
        try:
            b64 = payload["data"][0]["b64_json"]
            if not b64:
                raise KeyError("b64_json")
            return base64.b64decode(b64, validate=True)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RequestFailed(
                f"images response has no usable data[0].b64_json ({exc!r}): {str(payload)[:300]}"
            ) from exc

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
        """``fn`` over ``items`` with at most ``concurrency`` in flight; each result or its exception, in order."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="openai-http")
            pool = self._pool
        futures = [pool.submit(fn, item) for item in items]
        out: list[R | BaseException] = []
        for future in futures:
            exc = future.exception()
            out.append(exc if exc is not None else future.result())
        return out

    # -- probing (before any work) -----------------------------------------------------------
    def config_error(self, exc: RequestFailed, what: str) -> SpecError | None:
        """A configuration problem behind ``exc`` as a SpecError, or None when it is not one."""
        host = self.config.host
        env = self.config.api_key_env
        if exc.status in (401, 403):
            has_key = bool(env and os.environ.get(env))
            fix = (f"Check the key in ${env} (it was sent and refused)." if has_key else
                   f"export {env or 'OPENAI_API_KEY'}=<your key> (or pass --api-key-env NAME).")
            return SpecError(f"The server at {host} refused the API key for {what} (HTTP {exc.status}).", fix)
        if exc.status == 404 and "model" in exc.body.lower():
            return SpecError(
                f"The server at {host} does not serve a model named '{self.config.model}' ({exc.body[:200]}).",
                "Use the name the server lists at GET /v1/models (vLLM: the --served-model-name or repo id).",
            )
        if exc.status is None:
            return SpecError(
                f"Cannot reach the server at {self.base} ({exc}).",
                "Start it (e.g. vllm serve ORG/NAME --port 8000) and check the URL, including /v1.",
            )
        return None

    def model_card(self) -> dict[str, Any] | None:
        """The ``GET /models`` entry for the configured model (None when the server has no such route).

        Raises SpecError for a refused key, an unreachable server, or a model the server does not list.
        """
        try:
            payload = self.request("GET", "models", retries=1)
        except RequestFailed as exc:
            error = self.config_error(exc, "GET /models")
            if error is not None:
                raise error from exc
            if exc.status in (404, 405):
                return None
            raise SpecError(f"GET {self.base}/models failed: {exc}", "Check that the URL is the server's /v1 base.") from exc
        models = payload.get("data")
        if not isinstance(models, list):
            return None
        for card in models:
            if isinstance(card, dict) and card.get("id") == self.config.model:
                return card
        names = [str(c.get("id")) for c in models if isinstance(c, dict)]
        raise SpecError(
            f"The server at {self.config.host} does not serve '{self.config.model}'; it serves: "
            f"{', '.join(names) or 'nothing'}.",
            "Use one of those names after openai: (vLLM names a model by its repo id or --served-model-name).",
        )

    def probe_chat(self) -> tuple[bool, str]:
        """Does chat work for this model? One 1-token request. (ok, why-not). SpecError for key/reachability."""
        try:
            reply = self.chat([{"role": "user", "content": "Reply with OK."}], max_tokens=1, temperature=0.0)
        except RequestFailed as exc:
            error = self.config_error(exc, "chat completions")
            if error is not None:
                raise error from exc
            return False, str(exc)
        if reply.system_fingerprint:
            self.last_system_fingerprint = reply.system_fingerprint
        return True, ""

    def probe_images(self) -> tuple[bool, str]:
        """Does the images endpoint exist? Free: a body without a prompt must be refused with 400/422.

        Why not a real generation: it would cost an image on a paid API. 404/405 = no such endpoint.
        """
        try:
            self.request("POST", "images/generations", {"model": self.config.model}, retries=1)
        except RequestFailed as exc:
            error = self.config_error(exc, "the images endpoint")
            if error is not None:
                raise error from exc
            if exc.status in (400, 422):
                return True, ""
            return False, str(exc)
        return True, ""

    def close(self) -> None:
        """Stop the request threads (idempotent)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
