"""Images from the run directory as small inline data URIs.

Why: the report must be one portable file, so every picture is embedded; downscaling to a
thumbnail keeps a page of hundreds of samples to a few megabytes. A missing, unreadable or
out-of-directory image never breaks the report: it becomes a placeholder plus a note saying why.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Longest side of an embedded thumbnail, in pixels.
MAX_THUMB_PX = 256
_JPEG_QUALITY = 85


@dataclass(frozen=True)
class Thumbnail:
    """What the template shows for one image slot: a data URI and, if it is a placeholder, why."""

    src: str
    note: str | None = None
    missing: bool = False  # listed in results.json but the file is not in the run directory


def placeholder(label: str) -> str:
    """A grey square with a short label, as an SVG data URI (no external file, no font download)."""
    from html import escape

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
        '<rect width="128" height="128" fill="#e5e7eb" stroke="#9ca3af" stroke-dasharray="6 4"/>'
        '<text x="64" y="68" font-family="sans-serif" font-size="13" fill="#4b5563" '
        f'text-anchor="middle">{escape(label)}</text></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def encode_thumbnail(path: Path, max_px: int = MAX_THUMB_PX) -> str:
    """Decode ``path``, downscale so the longest side is at most ``max_px``, return a data URI.

    JPEG for opaque images (small), PNG when there is transparency (JPEG would lose it).
    Raises OSError / PIL errors for unreadable files; callers turn those into placeholders.
    """
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
        img = img.convert("RGBA" if has_alpha else "RGB")
        img.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        if has_alpha:
            img.save(buf, format="PNG", optimize=True)
            mime = "image/png"
        else:
            img.save(buf, format="JPEG", quality=_JPEG_QUALITY)
            mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail_for(
    run_dir: Path, rel_path: str | None, absent_label: str, max_px: int = MAX_THUMB_PX
) -> Thumbnail:
    """The thumbnail for an image recorded in results.json as a path relative to ``run_dir``.

    ``rel_path`` None means the run produced no image (e.g. a failed sample): placeholder
    labelled ``absent_label``. Paths that escape the run directory are refused, so a crafted
    results.json cannot make the report embed arbitrary files from the machine rendering it.
    """
    from PIL import UnidentifiedImageError

    if not rel_path:
        return Thumbnail(placeholder(absent_label), f"no image ({absent_label})")
    root = run_dir.resolve()
    path = (root / rel_path).resolve()
    if not path.is_relative_to(root):
        logger.warning("Image path %r points outside the run directory; not embedded.", rel_path)
        return Thumbnail(placeholder("outside run dir"), f"{rel_path} is outside the run directory")
    if not path.is_file():
        logger.warning("Image %s is missing from the run directory.", path)
        return Thumbnail(placeholder("missing file"), f"{rel_path} not found in the run directory", missing=True)
    try:
        return Thumbnail(encode_thumbnail(path, max_px))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        logger.warning("Image %s could not be decoded: %s", path, exc)
        return Thumbnail(placeholder("unreadable"), f"{rel_path} could not be decoded ({exc})")
