"""Verified, cached, atomic downloads for named and manifest image sets.

Why: a reference set must be byte-identical for every user, or scores are not comparable. Each
file is downloaded once into the user cache, streamed to a temporary file in the destination
folder while its sha256 is computed, checked against the expected digest, and only then renamed
into place, so an interrupted download never leaves a file that looks complete. When no digest is
pinned yet, the first download's digest is recorded next to the file (``NAME.sha256``, in
``sha256sum`` format) and every later load is checked against it ("trust on first use"); the digest
goes into the image set's fingerprint either way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from unified_bench.core.atomic import atomic_write_text
from unified_bench.core.hashing import sha256_file
from unified_bench.errors import ImageSetError, require

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: (connect, read) timeouts in seconds for HTTP downloads.
HTTP_TIMEOUT = (15.0, 60.0)


def sidecar_path(path: Path) -> Path:
    """Where the digest of ``path`` is recorded (``NAME.sha256``)."""
    return path.with_name(path.name + ".sha256")


def read_sidecar(path: Path) -> str | None:
    side = sidecar_path(path)
    if not side.is_file():
        return None
    words = side.read_text().split()
    digest = words[0].lower() if words else ""
    return digest if _SHA256_RE.match(digest) else None


def _write_sidecar(path: Path, digest: str) -> None:
    atomic_write_text(sidecar_path(path), f"{digest}  {path.name}\n")


def _mismatch(label: str, expected: str, got: str, folder: Path, why: str) -> ImageSetError:
    return ImageSetError(
        f"checksum mismatch for {label}: expected {expected}, got {got} ({why}).",
        f"delete {folder} and retry; if it fails again, the source changed: check the URL and sha256.",
    )


@contextmanager
def _stream(url: str) -> Iterator[tuple[Iterator[bytes], int | None]]:
    """Yield (chunks, total size or None) for an http(s) or file:// URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        with open(path, "rb") as fh:
            yield iter(lambda: fh.read(_CHUNK), b""), path.stat().st_size
        return
    if parsed.scheme not in ("http", "https"):
        raise ImageSetError(
            f"Unsupported download URL '{url}'.", "Use an http://, https:// or file:// URL in the manifest."
        )
    requests = require("requests")
    with requests.get(url, stream=True, timeout=HTTP_TIMEOUT) as resp:
        resp.raise_for_status()
        length = resp.headers.get("Content-Length")
        yield resp.iter_content(chunk_size=_CHUNK), int(length) if length and length.isdigit() else None


def _download_to(url: str, dest: Path, label: str) -> tuple[str, str]:
    """Stream ``url`` into a temp file next to ``dest``; return (temp path, sha256)."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh, _stream(url) as (chunks, total):
            with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=None, leave=False) as bar:
                for chunk in chunks:
                    fh.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp, h.hexdigest()


def fetch_verified(url: str, dest: Path, sha256: str | None = None, *, label: str | None = None) -> str:
    """Make sure ``dest`` holds the bytes of ``url`` and return their sha256.

    A file already in place is checked (against ``sha256``, or the digest recorded at its first
    download) and reused without any network request. Otherwise it is downloaded atomically and
    verified. Raises ImageSetError on a checksum mismatch or a failed download.
    """
    dest = Path(dest)
    label = label or dest.name
    expected = sha256.lower() if sha256 else None
    if expected is not None and not _SHA256_RE.match(expected):
        raise ImageSetError(f"'{sha256}' for {label} is not a sha256 hex digest.", "Use 64 hex characters.")
    if dest.is_file():
        got = sha256_file(dest)
        recorded = read_sidecar(dest)
        want = expected or recorded
        if want and got != want:
            why = (
                "cached file differs from the pinned digest"
                if expected
                else "cached file changed since download"
            )
            raise _mismatch(label, want, got, dest.parent, why)
        if recorded != got:
            _write_sidecar(dest, got)
        log.debug("using cached %s (%s)", dest, got)
        return got
    log.info("downloading %s from %s", label, url)
    try:
        tmp, got = _download_to(url, dest, label)
    except ImageSetError:
        raise
    except OSError as exc:  # requests' errors derive from OSError (IOError), as do file:// failures
        raise ImageSetError(
            f"Could not download {label} from {url}: {type(exc).__name__}: {exc}.",
            f"Check your network connection and the URL, or place the file at {dest} yourself and retry.",
        ) from exc
    if expected and got != expected:
        os.unlink(tmp)
        raise _mismatch(label, expected, got, dest.parent, "downloaded bytes differ from the pinned digest")
    os.replace(tmp, dest)
    _write_sidecar(dest, got)
    if not expected:
        log.warning("%s has no pinned sha256; recorded %s from this first download", label, got)
    return got
