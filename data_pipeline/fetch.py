"""Fetch the raw bytes of one input: HTTP(S) with urllib3, local paths, tar byte ranges, HF rows.

Why each guard: connect/read timeouts so a slow host cannot stall a shard; urllib3 ``Retry`` with
backoff on 5xx/429 and connection errors because big URL lists are flaky; a redirect cap against
loops; streaming with a byte cap so a huge file is aborted, not buffered; a content-type check so
an HTML error page is not decoded as an image. Failures are returned as a reason, never raised.
Why urllib3 and not requests: requests' per-call session machinery (environment merge, cookies,
hooks) cost ~0.8 ms of CPU per GET against ~0.4 ms here (measured on loopback), a third of the
per-image work; urllib3 is what requests runs on, with the same Retry object.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import urllib3

    from data_pipeline.recipe import FetchConfig
    from data_pipeline.records import InputRecord

_ALLOWED_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_lock = threading.Lock()
_managers: dict[FetchConfig, tuple[urllib3.PoolManager, urllib3.PoolManager | None, urllib3.PoolManager | None]] = {}


@dataclass(frozen=True)
class FetchResult:
    data: bytes | None
    reason: str | None = None  # None on success
    detail: str = ""
    content_type: str | None = None


@functools.cache
def _deadline_retry_class() -> type:
    """urllib3's ``Retry`` that also stops at a ``deadline`` (built once: urllib3 is imported lazily)."""
    from urllib3.util.retry import Retry

    class DeadlineRetry(Retry):
        deadline: float | None = None

        def new(self, **kw):
            r = super().new(**kw)
            r.deadline = self.deadline
            return r

        def is_exhausted(self) -> bool:
            late = self.deadline is not None and time.monotonic() >= self.deadline
            return late or super().is_exhausted()

        def sleep(self, response=None) -> None:
            if self.deadline is None:
                return super().sleep(response)
            wait = self.get_backoff_time()
            if self.respect_retry_after_header and response is not None:
                wait = max(wait, self.get_retry_after(response) or 0.0)
            time.sleep(max(0.0, min(wait, self.deadline - time.monotonic())))
            return None

    return DeadlineRetry


def _retry(cfg: FetchConfig, deadline: float | None = None) -> urllib3.Retry:
    """Retries per failure kind; redirects counted separately (``total=None``) so a redirect cap of 5
    does not eat the error retries. Exhausted status retries return the last response (its code
    becomes the reason); exhausted redirects return the last 3xx (-> ``too_many_redirects``).
    With a ``deadline`` (``time.monotonic()``), no retry starts and no backoff or ``Retry-After``
    sleeps past it: the total deadline covers the retries too."""
    n = cfg.retries
    r = _deadline_retry_class()(total=None, connect=n, read=n, status=n, other=n, redirect=cfg.max_redirects,
                                backoff_factor=cfg.backoff_s, status_forcelist=(429, 500, 502, 503, 504),
                                allowed_methods=frozenset({"GET"}), raise_on_status=False, raise_on_redirect=False,
                                respect_retry_after_header=True)
    r.deadline = deadline
    return r


def _managers_for(cfg: FetchConfig):
    """(direct, http proxy, https proxy) pool managers, one set per process and config (thread-safe).

    Proxies come from the usual environment variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as
    requests would honour them."""
    got = _managers.get(cfg)
    if got is not None:
        return got
    with _lock:
        if cfg not in _managers:
            import urllib.request

            import urllib3

            kw = {"num_pools": 64, "maxsize": cfg.threads, "block": False, "retries": _retry(cfg),
                  "headers": {"User-Agent": cfg.user_agent}}
            try:
                import certifi

                kw["ca_certs"] = certifi.where()  # same trust store as requests
            except ImportError:  # pragma: no cover - certifi ships with requests
                pass
            proxies = urllib.request.getproxies()
            by_scheme = tuple(urllib3.ProxyManager(proxies[s], **kw) if proxies.get(s) else None
                              for s in ("http", "https"))
            _managers[cfg] = (urllib3.PoolManager(**kw), *by_scheme)
    return _managers[cfg]


def _manager_for_url(url: str, cfg: FetchConfig):
    direct, http_proxy, https_proxy = _managers_for(cfg)
    proxy = https_proxy if url.startswith("https:") else http_proxy
    if proxy is None:
        return direct
    import urllib.parse
    import urllib.request

    return direct if urllib.request.proxy_bypass(urllib.parse.urlsplit(url).hostname or "") else proxy


def _error_reason(exc: Exception) -> str:
    from urllib3 import exceptions as ue

    if isinstance(exc, ue.MaxRetryError) and exc.reason is not None:
        if isinstance(exc.reason, ue.ResponseError):
            return "retries_exhausted"
        exc = exc.reason
    if "timed out" in str(exc).lower():
        return "timeout"
    if isinstance(exc, ue.NewConnectionError):  # subclasses ConnectTimeoutError, but is a refusal/DNS error
        return "connection_error"
    if isinstance(exc, ue.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ue.ProtocolError | ue.SSLError | ue.ProxyError | ConnectionError):
        return "connection_error"
    return "request_error"


def fetch_url(url: str, cfg: FetchConfig) -> FetchResult:
    from urllib3 import exceptions as ue
    from urllib3.util import Timeout

    ctype = None
    deadline = time.monotonic() + cfg.total_timeout_s
    try:
        resp = _manager_for_url(url, cfg).request(
            "GET", url, preload_content=False, redirect=True, retries=_retry(cfg, deadline),
            timeout=Timeout(connect=min(cfg.connect_timeout_s, cfg.total_timeout_s),
                            read=min(cfg.read_timeout_s, cfg.total_timeout_s)))
        complete = False
        try:
            if resp.status in _REDIRECT_STATUSES and resp.headers.get("Location"):
                return FetchResult(None, "too_many_redirects", f"more than {cfg.max_redirects} redirects")
            if resp.status != 200:
                return FetchResult(None, f"http_{resp.status}", resp.reason or "")
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if cfg.check_content_type and ctype and not ctype.startswith(_ALLOWED_TYPES):
                return FetchResult(None, "bad_content_type", ctype, ctype)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cfg.max_bytes:
                return FetchResult(None, "too_large", f"Content-Length {length} > {cfg.max_bytes}", ctype)
            chunks, total = [], 0
            # read1: one socket read at a time (each bounded by the read timeout), so the total deadline
            # is checked between reads: a host dripping a byte per second cannot hold a fetch thread
            # for longer than total_timeout_s + read_timeout_s.
            while chunk := resp.read1(65536):
                if time.monotonic() > deadline:
                    return FetchResult(None, "timeout", f"total deadline of {cfg.total_timeout_s}s exceeded "
                                       f"after {total + len(chunk)} bytes", ctype)
                total += len(chunk)
                if total > cfg.max_bytes:
                    return FetchResult(None, "too_large", f"more than {cfg.max_bytes} bytes", ctype)
                chunks.append(chunk)
            data = b"".join(chunks)
            complete = True
        finally:
            if not complete:
                resp.close()  # body left unread: drop the connection, never reuse it mid-response
            resp.release_conn()
    except (ue.HTTPError, OSError) as exc:
        return FetchResult(None, _error_reason(exc), f"{type(exc).__name__}: {str(exc)[:200]}", ctype)
    if not data:
        return FetchResult(None, "empty", "zero-byte body", ctype)
    return FetchResult(data, None, "", ctype)


def fetch_path(path: str, cfg: FetchConfig) -> FetchResult:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > cfg.max_bytes:
            return FetchResult(None, "too_large", f"{size} > {cfg.max_bytes} bytes")
        data = p.read_bytes()
    except FileNotFoundError:
        return FetchResult(None, "not_found", path)
    except OSError as exc:
        return FetchResult(None, "read_error", str(exc)[:200])
    return FetchResult(data, None) if data else FetchResult(None, "empty", "zero-byte file")


def fetch_tar_member(locator: str, cfg: FetchConfig) -> FetchResult:
    tar_path, _, rng = locator.rpartition("#")
    offset, size, _name = rng.split(":", 2)
    if int(size) > cfg.max_bytes:
        return FetchResult(None, "too_large", f"{size} > {cfg.max_bytes} bytes")
    try:
        with open(tar_path, "rb") as fh:
            fh.seek(int(offset))
            data = fh.read(int(size))
    except OSError as exc:
        return FetchResult(None, "read_error", str(exc)[:200])
    return FetchResult(data, None) if data else FetchResult(None, "empty", "zero-byte member")


def fetch_record(record: InputRecord, cfg: FetchConfig) -> FetchResult:
    """Dispatch on the record kind; every failure is a FetchResult with a reason."""
    if record.kind == "url":
        return fetch_url(record.locator, cfg)
    if record.kind == "path":
        return fetch_path(record.locator, cfg)
    if record.kind == "tar":
        return fetch_tar_member(record.locator, cfg)
    from data_pipeline.sources.hf import read_hf_bytes

    try:
        data = read_hf_bytes(record.locator)
    except (OSError, KeyError, IndexError) as exc:
        return FetchResult(None, "read_error", str(exc)[:200])
    return FetchResult(data, None) if data else FetchResult(None, "empty", "no image bytes in row")
