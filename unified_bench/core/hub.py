"""Pin a hub model or local weights to an immutable revision (the one way in this project).

Why: "model X, main branch" names a moving target; a data-set card must say exactly which
weights wrote the captions, and a result which weights scored it. A hub id resolves to its commit sha (from the local cache when the
hub is offline), a local directory to a content hash of its files, so two runs that record the
same revision used the same bytes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from unified_bench.core.hashing import content_hash

logger = logging.getLogger(__name__)

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def resolve_revision(model: str, revision: str | None = None) -> str | None:
    """Commit sha (hub id), ``sha256:...`` content hash (local dir), or None if it cannot be pinned.

    A 40-hex ``revision`` is already pinned and returned as is. For a hub id the commit comes from
    the local hub cache first (works offline, after ``from_pretrained`` downloaded it), then from
    the hub API. None is returned (with a warning) rather than raising: the caption is still
    valid, the record just says the revision is unknown.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        return content_hash(local)
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


def commit_from_cached_path(path: str | Path) -> str | None:
    """The commit hash of a file living in a hub cache snapshot (``.../snapshots/<commit>/file``)."""
    parts = Path(path).parts
    if "snapshots" in parts:
        idx = parts.index("snapshots")
        if idx + 1 < len(parts):
            return parts[idx + 1]
    return None
