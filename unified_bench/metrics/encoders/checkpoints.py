"""Where an encoder's weights come from, which exact version they are, and why loading failed.

Why: a score is only comparable with another if both used the same weights. A hub checkpoint is
pinned to the commit the hub cache resolved; a local one is pinned to a sha256 of its files. Hub
failures (gated weights, a misspelt repo, no network) become ``EncoderError`` with the fix, instead
of a deep traceback from huggingface_hub or transformers.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from unified_bench.errors import EncoderError

logger = logging.getLogger(__name__)

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint string resolved to either a hub repo id or an existing local path."""

    raw: str
    is_hub: bool
    location: str  # repo id, or an absolute local path (directory or file)


def resolve_checkpoint(checkpoint: str, encoder: str) -> ResolvedCheckpoint:
    """Classify ``checkpoint`` as an existing local path or a hub repo id (ORG/NAME)."""
    text = str(checkpoint).strip()
    path = Path(os.path.expanduser(text))
    if path.exists():
        return ResolvedCheckpoint(text, False, str(path.resolve()))
    looks_like_path = text.startswith(("/", "./", "../", "~")) or text.endswith((".pt", ".pth", ".bin"))
    if _HUB_ID_RE.match(text) and not looks_like_path:
        return ResolvedCheckpoint(text, True, text)
    raise EncoderError(
        f"Checkpoint '{text}' for the {encoder} encoder is neither an existing local path nor a hub repo id.",
        "Check the path exists, or pass a Hugging Face repo id such as ORG/NAME.",
    )


def hub_file(repo_id: str, filename: str, encoder: str, revision: str | None = None) -> Path:
    """Download (or find in the hub cache) one file of ``repo_id``; hub errors -> EncoderError."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as exc:  # noqa: BLE001 - every hub failure is mapped below or re-raised
        raise hub_error(exc, repo_id, encoder, filename) from exc


def hub_error(exc: BaseException, repo_id: str, encoder: str, filename: str = "") -> BaseException:
    """Map a huggingface_hub / transformers loading exception to an EncoderError with a fix.

    Returns the original exception when it is not a recognisable hub problem (a genuine bug).
    """
    from huggingface_hub import errors as hub_errors

    page = f"https://huggingface.co/{repo_id}"
    text = str(exc)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    gated = isinstance(exc, hub_errors.GatedRepoError) or status in (401, 403) or re.search(
        r"gated|\b40[13]\b|restricted|awaiting a review|authenticat", text, re.IGNORECASE
    )
    if gated:
        return EncoderError(
            f"The {encoder} encoder weights '{repo_id}' are gated on the Hugging Face hub and this machine "
            f"has no access ({type(exc).__name__}).",
            f"Request access on the model page {page}, then run `huggingface-cli login` (or set HF_TOKEN) "
            "and run the same command again.",
        )
    if isinstance(exc, hub_errors.RepositoryNotFoundError) or "repository not found" in text.lower() or (
        "is not a local folder and is not a valid model identifier" in text
    ):
        return EncoderError(
            f"The hub repository '{repo_id}' for the {encoder} encoder does not exist (or is private).",
            "Check the spelling of the checkpoint, or pass a local directory; for a private repo run "
            "`huggingface-cli login` first.",
        )
    # LocalEntryNotFoundError subclasses EntryNotFoundError: test for offline first.
    offline = isinstance(exc, (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled)) or (
        isinstance(exc, (OSError, ConnectionError)) and re.search(r"offline|connect|resolve|cached", text, re.I)
    )
    if offline:
        return EncoderError(
            f"Cannot fetch the {encoder} encoder weights '{repo_id}': the hub is unreachable or offline mode "
            "is on, and they are not in the local Hugging Face cache.",
            "Check the network connection and that HF_HUB_OFFLINE is not set, or download the weights once "
            "(`huggingface-cli download " + repo_id + "`) / pass a local directory.",
        )
    if isinstance(exc, (hub_errors.EntryNotFoundError, hub_errors.RevisionNotFoundError)):
        return EncoderError(
            f"The hub repository '{repo_id}' has no file '{filename}' for the {encoder} encoder ({exc}).",
            f"Check that {page} is a {encoder} checkpoint, or pass a local path to the weights.",
        )
    return exc


def local_load_error(exc: BaseException, path: str, encoder: str) -> EncoderError:
    """A local checkpoint that exists but cannot be loaded (wrong kind of model, corrupt file)."""
    return EncoderError(
        f"Cannot load the {encoder} encoder from local checkpoint '{path}': {type(exc).__name__}: {exc}",
        f"Point the checkpoint at a saved {encoder} model (config + weights) or its hub repo id.",
    )


def torch_dtype(dtype: str):
    """'fp32' / 'fp16' / 'bf16' -> torch dtype, with a clear error for anything else."""
    from unified_bench.core.dtypes import DTYPES, torch_dtype_of

    if dtype not in DTYPES:
        raise EncoderError(f"Unknown encoder dtype '{dtype}'.", f"Use one of: {', '.join(DTYPES)}.")
    return torch_dtype_of(dtype)
