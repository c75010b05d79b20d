"""Turn an ``--images`` spec into an ImageSet.

Spec forms:

``PATH`` or ``folder:PATH``
    A folder of images (.jpg .jpeg .png .webp .bmp, any case) read from its top level. id = file
    stem; numeric order when every stem is an integer (0, 1, 2, ..., 10), else lexicographic.
``wds:PATTERN``
    WebDataset tar shards: a local file, a brace pattern (``wds:/data/shard-{000..003}.tar``) or
    an http(s) URL. The image member is jpg/jpeg/png/webp; id = the sample's ``__key__``.
``hfds:ORG/NAME[@REVISION][:SPLIT][#COLUMN]`` or ``hfds:/path/to/saved[:SPLIT][#COLUMN]``
    A Hugging Face dataset from the hub, or a folder written by ``save_to_disk``. The image
    column is the first ``Image`` column unless ``#COLUMN`` names it; id = the ``id`` column if
    present, else the row index.
``manifest:FILE.json`` (or just ``FILE.json``)
    A manifest of files or an archive to download once and verify (see ``data.manifest``).
``NAME`` or ``named:NAME``
    A built-in set: ``uae-100`` (the reference protocol's 100 images, downloaded once and
    verified) or ``demo`` (six small offline images). A bare name wins over a folder of the same
    name in the current directory; write ``./NAME`` or ``folder:NAME`` for the folder.

Why one entry point: the CLI, the runner and the tests resolve image sets the same way, and
every form returns an ImageSet whose ``fingerprint()`` records its kind, source and content hash.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from unified_bench.data.base import ImageSet
from unified_bench.errors import SpecError

#: One line per accepted form, for error messages and ``--help``.
SPEC_FORMS: tuple[str, ...] = (
    "PATH or folder:PATH (a folder of .jpg/.jpeg/.png/.webp/.bmp images)",
    "wds:PATTERN (WebDataset shards, e.g. wds:/data/shard-{000..003}.tar or an https URL)",
    "hfds:ORG/NAME[@REVISION][:SPLIT][#COLUMN] or hfds:/path/saved_to_disk (Hugging Face dataset)",
    "manifest:FILE.json (files or archive to download and verify)",
    "NAME or named:NAME (built-in: demo, uae-100)",
)

_PREFIXES = ("folder", "wds", "hfds", "manifest", "named")


def _forms() -> str:
    return "Use one of: " + "; ".join(SPEC_FORMS) + "."


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or "/" in text or os.sep in text


def load_image_set(spec: str) -> ImageSet:
    """Resolve ``spec`` (see module docstring) into a loaded ImageSet.

    Raises SpecError for a spec that names no known form, ImageSetError for a set that is
    missing, empty, or fails verification. Images are read but not decoded: call
    ``ImageSet.validate()`` to decode each one up front.
    """
    from unified_bench.data.named import NAMED_IMAGE_SETS, load_named

    text = (spec or "").strip()
    if not text:
        raise SpecError("Empty image-set spec.", _forms())
    prefix, sep, body = text.partition(":")
    if sep and prefix in _PREFIXES:
        if not body.strip():
            raise SpecError(f"Image-set spec '{spec}' has nothing after '{prefix}:'.", _forms())
        body = body.strip()
        if prefix == "folder":
            from unified_bench.data.folder import load_folder

            return load_folder(body)
        if prefix == "wds":
            from unified_bench.data.wds import load_webdataset

            return load_webdataset(body)
        if prefix == "hfds":
            from unified_bench.data.hfds import load_hf_dataset

            return load_hf_dataset(body)
        if prefix == "manifest":
            return _load_manifest_file(body)
        return load_named(body)
    if text in NAMED_IMAGE_SETS:
        return load_named(text)
    path = Path(text).expanduser()
    if path.is_dir():
        from unified_bench.data.folder import load_folder

        return load_folder(path)
    if path.suffix.lower() == ".json" and path.is_file():
        return _load_manifest_file(text)
    if sep and len(prefix) > 1 and not _looks_like_path(prefix):
        close = difflib.get_close_matches(prefix, _PREFIXES, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}:'?" if close else ""
        raise SpecError(f"Unknown image-set scheme '{prefix}:' in '{spec}'.{hint}", _forms())
    if _looks_like_path(text) or path.exists():
        from unified_bench.data.folder import load_folder

        return load_folder(path)  # raises "does not exist" / "is a file" with the path named
    close = difflib.get_close_matches(text, NAMED_IMAGE_SETS.names(), n=2, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise SpecError(
        f"'{text}' is neither an existing folder nor a built-in image set.{hint}",
        _forms(),
    )


def _load_manifest_file(path: str) -> ImageSet:
    from unified_bench.data.manifest import load_manifest, materialize

    resolved = Path(path).expanduser().resolve()
    manifest = load_manifest(resolved)
    return materialize(manifest, source=str(resolved))
