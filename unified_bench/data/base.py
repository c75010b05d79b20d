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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.core.hashing import sha256_file
from unified_bench.data.dataset import Dataset
from unified_bench.errors import ImageSetError

if TYPE_CHECKING:
    from PIL.Image import Image


class ReferenceImage:
    """One reference image: a stable id (e.g. '0' for 0.jpg), its encoded bytes and origin.

    The bytes are either held (``data``: shards, datasets, downloads) or read from ``path`` each
    time they are needed (folders), so a large folder is never held in memory: the runner reads
    one batch of images at a time.
    """

    __slots__ = ("id", "origin", "path", "text", "_data", "_sha256")

    def __init__(
        self, id: str, data: bytes | None = None, origin: str = "", path: Path | None = None, text: str | None = None
    ) -> None:
        if data is None and path is None:
            raise ValueError("a ReferenceImage needs its bytes or a path to read them from")
        self.id = id
        self.origin = origin or (str(path) if path is not None else "")
        self.path = path
        #: A reference long description that came with the image (a WebDataset ``txt`` member, a
        #: sidecar ``ID.txt`` next to a folder image), or None. The unified task can regenerate from
        #: it (``caption_source="reference"``), separating generation quality from captioning quality.
        self.text = text
        self._data = data
        self._sha256: str | None = None

    def __repr__(self) -> str:
        return f"ReferenceImage(id={self.id!r}, origin={self.origin!r})"

    @property
    def data(self) -> bytes:
        """The encoded bytes (read from ``path`` when not held)."""
        if self._data is not None:
            return self._data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise ImageSetError(
                f"Cannot read image file '{self.path}': {exc}.",
                "Check the file's permissions, or remove it from the image set.",
            ) from exc

    @property
    def sha256(self) -> str:
        """sha256 of the bytes, computed once (used in several cache keys per image)."""
        if self._sha256 is None:
            if self._data is None and self.path is not None:
                try:
                    self._sha256 = sha256_file(self.path)
                except OSError as exc:
                    raise ImageSetError(
                        f"Cannot read image file '{self.path}': {exc}.",
                        "Check the file's permissions, or remove it from the image set.",
                    ) from exc
            else:
                self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

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
        # Hash now (streamed for path-backed images): the set's identity is its content at load time.
        self.content_sha256()

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
