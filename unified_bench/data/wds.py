"""Image sets read from WebDataset tar shards.

Why: large or remote image collections (including the output of ``data_pipeline``) live as
WebDataset shards. They are read with the ``webdataset`` library itself, so brace patterns
(``shard-{000..003}.tar``), local paths and http(s) URLs behave exactly as in training code.
Each sample's image member (``jpg``, ``jpeg``, ``png`` or ``webp``) becomes one reference image
whose id is the sample's ``__key__``; samples without an image are an error, not a silent skip,
because a reference set with holes would change the benchmark.
"""

from __future__ import annotations

import os
from typing import Any

from unified_bench.data.base import ImageSet, ReferenceImage
from unified_bench.errors import ImageSetError, require

#: Member extensions accepted as the image, in order of preference.
WDS_IMAGE_KEYS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")


class WebDatasetImageSet(ImageSet):
    """Images from WebDataset shards; ``source`` is the shard pattern as given."""

    kind = "webdataset"


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "pipe:", "gs://", "s3://"))


def expand_shards(pattern: str) -> list[str]:
    """Expand a brace pattern into shard URLs; local shards must exist (checked up front)."""
    braceexpand = require("braceexpand", "pip install webdataset")
    urls = list(braceexpand.braceexpand(pattern))
    missing = [u for u in urls if not _is_remote(u) and not os.path.isfile(os.path.expanduser(u))]
    if missing:
        shown = ", ".join(missing[:3]) + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else "")
        raise ImageSetError(
            f"WebDataset shard(s) not found: {shown}.",
            "Check the path or brace pattern, e.g. wds:/data/shard-{000..003}.tar.",
        )
    return [u if _is_remote(u) else os.path.expanduser(u) for u in urls]


def _image_member(sample: dict[str, Any]) -> tuple[str, bytes] | None:
    for key in WDS_IMAGE_KEYS:
        if isinstance(sample.get(key), bytes):
            return key, sample[key]
    for key, value in sample.items():  # e.g. "image.jpg" from member "0001.image.jpg"
        if not key.startswith("__") and key.rsplit(".", 1)[-1].lower() in WDS_IMAGE_KEYS:
            if isinstance(value, bytes):
                return key, value
    return None


#: Member extensions read as the image's reference description (``unified-data`` writes ``txt``).
WDS_TEXT_KEYS: tuple[str, ...] = ("txt", "caption.txt")


def _text_member(sample: dict[str, Any]) -> str | None:
    for key in WDS_TEXT_KEYS:
        value = sample.get(key)
        if isinstance(value, bytes):
            text = value.decode("utf-8", errors="replace").strip()
            return text or None
    return None


def load_webdataset(pattern: str, *, name: str | None = None) -> WebDatasetImageSet:
    """Read every sample of the shards matched by ``pattern`` (in shard order, then tar order)."""
    if not pattern:
        raise ImageSetError("Empty WebDataset pattern in 'wds:'.", "Write wds:/path/shard-{000..003}.tar.")
    wds = require("webdataset")
    urls = expand_shards(pattern)
    pipeline = wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples())
    images: list[ReferenceImage] = []
    try:
        for sample in pipeline:
            key, url = sample["__key__"], sample.get("__url__", pattern)
            member = _image_member(sample)
            if member is None:
                found = sorted(k for k in sample if not k.startswith("__"))
                raise ImageSetError(
                    f"WebDataset sample '{key}' in {url} has no image member (found: {found}).",
                    f"Store each image as KEY.jpg, KEY.png or KEY.webp (accepted: {', '.join(WDS_IMAGE_KEYS)}).",
                )
            ext, data = member
            images.append(ReferenceImage(id=str(key), data=data, origin=f"{url}:{key}.{ext}", text=_text_member(sample)))
    except ImageSetError:
        raise
    except Exception as exc:  # webdataset/tarfile/curl raise many types; all mean "unreadable shard"
        raise ImageSetError(
            f"Cannot read WebDataset shards '{pattern}': {type(exc).__name__}: {exc}.",
            "Check that every shard is a complete, uncorrupted tar file (and reachable, for URLs).",
        ) from exc
    if not images:
        raise ImageSetError(
            f"WebDataset shards '{pattern}' contain no samples.",
            "Check the pattern matches the shards that hold the images.",
        )
    stem = os.path.basename(urls[0]).split(".")[0] if len(urls) == 1 else os.path.basename(pattern)
    return WebDatasetImageSet(name or stem or "webdataset", images, pattern, {"n_shards": len(urls)})
