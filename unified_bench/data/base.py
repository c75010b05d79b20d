"""The image-set interface.

Why: results on different image sets must never mix, so every set reports a ``fingerprint``
(kind, source, and a content hash) that goes into results.json and the cache keys. Images are
carried as encoded bytes plus their sha256 so a corrupt file is caught once, up front, with
a message naming the file, and so reference features can be cached by content.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from unified_bench.data.dataset import Dataset
from unified_bench.errors import ImageSetError

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class ReferenceImage:
    """One reference image: a stable id (e.g. '0' for 0.jpg), its encoded bytes and origin."""

    id: str
    data: bytes = field(repr=False)
    origin: str = ""  # file path / URL / shard key, for error messages

    @cached_property
    def sha256(self) -> str:  # cached: used in several cache keys per image
        return hashlib.sha256(self.data).hexdigest()

    def open(self) -> Image:
        """Decode to RGB. Raises ImageSetError naming the file when it is corrupt."""
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            with PILImage.open(io.BytesIO(self.data)) as img:
                img.load()
                return img.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageSetError(
                f"Image '{self.id}' ({self.origin or 'in memory'}) is corrupt or not an image: {exc}.",
                "Replace or remove that file from the image set, then run the same command again.",
            ) from exc


class ImageSet(Dataset):
    """An ordered, finite collection of reference images. Subclasses fill ``_images``."""

    kind: str = "base"

    def __init__(self, name: str, images: list[ReferenceImage], source: str, extra: dict[str, Any] | None = None):
        if not images:
            raise ImageSetError(
                f"Image set '{name}' ({source}) contains no images.",
                "Point --images at a folder or dataset holding .jpg/.png/.webp images.",
            )
        ids = [im.id for im in images]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ImageSetError(
                f"Image set '{name}' has duplicate image ids: {dup}.",
                "Give every image a unique file name (ids are file names without extension).",
            )
        self.name = name
        self.source = source
        self.extra = dict(extra or {})
        self._images = images

    def __iter__(self) -> Iterator[ReferenceImage]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)

    def limit(self, n: int | None) -> ImageSet:
        """The first ``n`` images (stable order), keeping the fingerprint of the full set."""
        if n is None or n >= len(self._images):
            return self
        sub = ImageSet(self.name, self._images[:n], self.source, self.extra | {"limit": n})
        sub.kind = self.kind
        sub._content_sha256 = self.content_sha256()  # noqa: SLF001 - same set, truncated
        return sub

    def content_sha256(self) -> str:
        """Hash of the sorted (id, sha256) pairs: identical sets hash identically."""
        cached = getattr(self, "_content_sha256", None)
        if cached:
            return cached
        h = hashlib.sha256()
        for im in sorted(self._images, key=lambda i: i.id):
            h.update(f"{im.id}\t{im.sha256}\n".encode())
        self._content_sha256 = h.hexdigest()
        return self._content_sha256

    def fingerprint(self) -> dict[str, Any]:
        """Recorded in results.json: results with different fingerprints are not comparable."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "n_images": len(self),
            "content_sha256": self.content_sha256(),
            **self.extra,
        }

    def validate(self) -> None:
        """Decode every image once so a corrupt file fails before any model work."""
        for im in self._images:
            im.open()
