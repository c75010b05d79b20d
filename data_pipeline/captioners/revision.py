"""Pin a model reference to an immutable revision, for the provenance record of every caption.

Why: "model X, main branch" names a moving target; a data-set card must say exactly which
weights wrote the captions. A hub id resolves to its commit sha (from the local cache when the
hub is offline), a local directory to a content hash of its files, so two runs that record the
same revision used the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_CHUNK = 1 << 20


def directory_content_hash(path: str | Path) -> str:
    """``sha256:<hex>`` over every file's relative path and bytes, in sorted order.

    Why every byte: a hash of names and sizes would miss re-saved weights of equal size. Reading
    the files costs about as long as loading them once, and it happens once per process (the
    captioner factory caches the loaded model).
    """
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:  # .cache/, .git/ and similar are not model content
            continue
        digest.update(rel.encode("utf-8") + b"\0")
        file_digest = hashlib.sha256()
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                file_digest.update(chunk)
        digest.update(file_digest.digest())
    return "sha256:" + digest.hexdigest()


def resolve_revision(model: str, revision: str | None = None) -> str | None:
    """Commit sha (hub id), ``sha256:...`` content hash (local dir), or None if it cannot be pinned.

    A 40-hex ``revision`` is already pinned and returned as is. For a hub id the commit comes from
    the local hub cache first (works offline, after ``from_pretrained`` downloaded it), then from
    the hub API. None is returned (with a warning) rather than raising: the caption is still
    valid, the record just says the revision is unknown.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        return directory_content_hash(local)
    if revision and _COMMIT_RE.match(revision):
        return revision
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(model, revision=revision, local_files_only=True)
        name = Path(snapshot).name
        if _COMMIT_RE.match(name):
            return name
    except Exception as exc:  # noqa: BLE001 - cache miss of any kind: fall through to the API
        logger.debug("no cached snapshot for %s@%s: %s", model, revision, exc)
    try:
        from huggingface_hub import model_info

        return model_info(model, revision=revision).sha
    except Exception as exc:  # noqa: BLE001 - offline / gated / unknown: record as unknown
        logger.warning("could not resolve the revision of %s@%s (%s); recording None", model, revision, exc)
        return None
