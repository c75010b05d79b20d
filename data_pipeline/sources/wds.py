"""Existing WebDataset shards: each image member becomes a record pointing at its byte range.

Why byte ranges: a worker then reads one image with a seek instead of rescanning the tar.
"""

from __future__ import annotations

import glob
import tarfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from data_pipeline.errors import SourceError
from data_pipeline.records import InputRecord, stable_id

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe, WebDatasetSource

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


def _expand(pattern: str) -> list[str]:
    import braceexpand

    files: list[str] = []
    for pat in braceexpand.braceexpand(pattern):
        files.extend(sorted(glob.glob(pat)))
    return files


def iter_webdataset(spec: WebDatasetSource, recipe: Recipe, name: str) -> Iterator[InputRecord]:
    files = _expand(recipe.resolve_path(spec.path))
    if not files:
        raise SourceError(f"No WebDataset shards match '{spec.path}'.", "check 'sources[].path' (glob or {000..009} pattern)")
    for tar_path in files:
        groups: dict[str, dict[str, tarfile.TarInfo]] = {}
        with tarfile.open(tar_path) as tf:
            for info in tf:
                if not info.isfile() or "." not in info.name.rsplit("/", 1)[-1]:
                    continue
                folder, _, fname = info.name.rpartition("/")
                stem, ext = fname.split(".", 1)
                base = f"{folder}/{stem}" if folder else stem
                groups.setdefault(base, {})[ext.lower()] = info
            for key, members in groups.items():
                img = next((members[e] for e in IMAGE_EXTS if e in members), None)
                if img is None:
                    continue
                caption = None
                if spec.caption_extension and spec.caption_extension in members:
                    fobj = tf.extractfile(members[spec.caption_extension])
                    # "" is how our own shards store "no caption" (every sample has a .txt)
                    caption = (fobj.read().decode("utf-8", "replace").strip() or None) if fobj else None
                loc = f"{tar_path}#{img.offset_data}:{img.size}:{img.name}"
                yield InputRecord(id=stable_id(name, f"{tar_path}#{key}"), kind="tar", locator=loc, source=name,
                                  original_caption=caption, extra={"source_key": key})
