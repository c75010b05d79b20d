"""Fetch the raw bytes of one input: HTTP(S) with requests, local paths, tar byte ranges, HF rows.

Why each guard: connect/read timeouts so a slow host cannot stall a shard; urllib3 ``Retry`` with
backoff on 5xx/429 and connection errors because big URL lists are flaky; a redirect cap against
loops; streaming with a byte cap so a huge file is aborted, not buffered; a content-type check so
an HTML error page is not decoded as an image. Failures are returned as a reason, never raised.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

    from data_pipeline.recipe import FetchConfig
    from data_pipeline.records import InputRecord

_ALLOWED_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
_local = threading.local()


@dataclass(frozen=True)
class FetchResult:
    data: bytes | None
    reason: str | None = None  # None on success
    detail: str = ""
    content_type: str | None = None


def _session(cfg: FetchConfig) -> requests.Session:
    """One session per thread (connection pooling without sharing a Session across threads)."""
    sess = getattr(_local, "session", None)
    if sess is not None and getattr(_local, "cfg", None) == cfg:
        return sess
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=cfg.retries, connect=cfg.retries, read=cfg.retries, status=cfg.retries, redirect=None,
                  backoff_factor=cfg.backoff_s, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=frozenset({"GET"}), raise_on_status=False, respect_retry_after_header=True)
    sess = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=cfg.threads)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.max_redirects = cfg.max_redirects
    sess.headers["User-Agent"] = cfg.user_agent
    _local.session, _local.cfg = sess, cfg
    return sess


def fetch_url(url: str, cfg: FetchConfig) -> FetchResult:
    import requests

    try:
        with _session(cfg).get(url, stream=True, timeout=(cfg.connect_timeout_s, cfg.read_timeout_s)) as resp:
            if resp.status_code != 200:
                return FetchResult(None, f"http_{resp.status_code}", resp.reason or "")
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if cfg.check_content_type and ctype and not ctype.startswith(_ALLOWED_TYPES):
                return FetchResult(None, "bad_content_type", ctype, ctype)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cfg.max_bytes:
                return FetchResult(None, "too_large", f"Content-Length {length} > {cfg.max_bytes}", ctype)
            chunks, total = [], 0
            for chunk in resp.iter_content(chunk_size=65536):
                total += len(chunk)
                if total > cfg.max_bytes:
                    return FetchResult(None, "too_large", f"more than {cfg.max_bytes} bytes", ctype)
                chunks.append(chunk)
            data = b"".join(chunks)
    except requests.exceptions.TooManyRedirects as exc:
        return FetchResult(None, "too_many_redirects", str(exc)[:200])
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
        text = str(exc)
        if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower():
            return FetchResult(None, "timeout", text[:200])
        return FetchResult(None, "connection_error", text[:200])
    except requests.exceptions.RetryError as exc:  # retries exhausted on a retryable status
        return FetchResult(None, "retries_exhausted", str(exc)[:200])
    except requests.exceptions.RequestException as exc:
        return FetchResult(None, "request_error", f"{type(exc).__name__}: {str(exc)[:200]}")
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
