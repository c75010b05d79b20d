"""Resolve an ``hf:`` or local model spec to a directory on disk and an exact revision.

Why: a cache key or a results.json that says "main" says nothing; the same branch points at
different weights next month. Hub specs are resolved to the commit hash actually downloaded
(the snapshot directory is named after it), and local directories get a sha256 over their
files, so two runs share cached outputs only when they used byte-identical weights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from unified_bench.core.hashing import content_hash
from unified_bench.errors import SpecError
from unified_bench.specs import ModelSpec

logger = logging.getLogger(__name__)

#: Weight formats no adapter here reads (Flax, TF, ONNX, Rust, GGUF); skipped when downloading.
_IGNORED_PATTERNS = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "*.onnx_data", "*.gguf", "*.tflite"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory ready for ``from_pretrained``, with where it came from."""

    spec: ModelSpec
    path: Path
    source: str  # repo id for hf:, absolute directory for local
    revision: str  # commit hash (hf) or "sha256:<hex>" (local)


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return flag or bool(constants.HF_HUB_OFFLINE)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Connection failures: OSError plus the HTTP client's transport errors (httpx/httpx2)."""
    import importlib

    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _ignore_patterns(info) -> list[str]:
    """Skip PyTorch pickles only in the folders that also hold safetensors.

    Why per folder: a diffusers repo is one folder per component, and some repos ship a component
    (e.g. an old ``safety_checker`` or ``text_encoder``) only as ``.bin``; a repo-wide ``*.bin`` ignore
    would download a pipeline that cannot load. Where a folder has both, the pickle only doubles the
    download. Returns exact paths (plus the never-read formats), which ``snapshot_download`` matches
    with fnmatch.
    """
    names = [s.rfilename for s in (getattr(info, "siblings", None) or [])]
    with_safetensors = {_folder(n) for n in names if n.endswith(".safetensors")}
    pickles = [
        n for n in names
        if _folder(n) in with_safetensors and (n.endswith((".bin", ".pth")) or n.endswith(".bin.index.json"))
    ]
    return [*_IGNORED_PATTERNS, *sorted(pickles)]


def _folder(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _resolve_hf(spec: ModelSpec) -> ResolvedModel:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, revision = spec.target, spec.revision
    shown = f"{repo}@{revision}" if revision else repo
    offline = _offline()
    try:
        if offline:
            folder = snapshot_download(repo, revision=revision, local_files_only=True)
        else:
            info = HfApi().model_info(repo, revision=revision)
            folder = snapshot_download(repo, revision=info.sha, ignore_patterns=_ignore_patterns(info))
    except GatedRepoError as exc:
        raise SpecError(
            f"Model '{repo}' is gated: your account has not been granted access.",
            f"Request access on https://huggingface.co/{repo}, then run `huggingface-cli login` "
            "(or set HF_TOKEN).",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise SpecError(
            f"Model repo '{repo}' was not found on the Hugging Face hub (or it is private).",
            "Check the ORG/NAME spelling; for a private or gated repo request access and run "
            "`huggingface-cli login`.",
        ) from exc
    except RevisionNotFoundError as exc:
        raise SpecError(
            f"Revision '{revision}' does not exist in '{repo}'.",
            f"Use a branch, tag or commit listed on https://huggingface.co/{repo}/commits/main.",
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise SpecError(
            f"Model '{shown}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set.",
            f"Download it once while online (`huggingface-cli download {repo}`), or unset HF_HUB_OFFLINE.",
        ) from exc
    except HfHubHTTPError as exc:
        raise SpecError(
            f"The Hugging Face hub refused to resolve '{shown}' ({exc}).",
            "Check the repo id and your token (`huggingface-cli login`), or set HF_HUB_OFFLINE=1 to use "
            "an already cached copy.",
        ) from exc
    except _network_errors() as exc:
        # Network down: a cached snapshot is still a well-defined commit, so use it if present.
        try:
            folder = snapshot_download(repo, revision=revision, local_files_only=True)
            logger.warning("Hub unreachable (%s); using the cached snapshot of %s.", exc, shown)
        except LocalEntryNotFoundError:
            folder = None
        if folder is None:
            raise SpecError(
                f"Could not reach the Hugging Face hub to resolve '{shown}' and no copy is cached ({exc}).",
                "Check the network connection (or proxy settings) and retry.",
            ) from exc
    path = Path(folder)
    # The snapshot folder of the hub cache is named after the commit it holds.
    commit = path.name
    logger.info("Resolved hf:%s to commit %s (%s)", shown, commit, path)
    return ResolvedModel(spec=spec, path=path, source=repo, revision=commit)


def resolve_model(spec: ModelSpec) -> ResolvedModel:
    """Turn an ``hf`` or ``local`` spec into a directory plus its exact revision."""
    if spec.scheme == "hf":
        return _resolve_hf(spec)
    if spec.scheme == "local":
        path = Path(spec.target).resolve()
        if not path.is_dir():
            raise SpecError(
                f"Model directory '{path}' does not exist.",
                "Check the path, or use hf:ORG/NAME for a model on the Hugging Face hub.",
            )
        return ResolvedModel(spec=spec, path=path, source=str(path), revision=content_hash(path))
    raise SpecError(
        f"Model spec '{spec.raw}' (scheme '{spec.scheme}') does not name a hub repo or a directory.",
        "Use hf:ORG/NAME[@REV] or a local directory here.",
    )
