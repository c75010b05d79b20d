"""Image sets read from a folder of image files.

Why: the reference protocol ships its images as ``0.jpg .. 99.jpg``; ids are file stems and the
order is numeric when every stem is an integer (so ``10`` comes after ``9``, not after ``1``),
otherwise lexicographic. Only the folder's top level is read, hidden files (``.DS_Store``,
``._0.jpg`` from macOS) are skipped. Images are read when needed (hashing, validation, one batch at
a time in the runner), never held all at once; decoding is left to ``ImageSet.validate`` so a
corrupt file is reported by name once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from unified_bench.data.base import ImageSet, ReferenceImage
from unified_bench.errors import ImageSetError

#: File extensions (lower case) read as images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


class FolderImageSet(ImageSet):
    """A folder of image files; ``source`` is the folder's absolute path."""

    kind = "folder"


def sort_ids(ids: Iterable[str]) -> list[str]:
    """Numeric order when every id is a non-negative integer, else lexicographic."""
    ids = list(ids)
    if ids and all(i.isdigit() for i in ids):
        return sorted(ids, key=lambda i: (int(i), i))
    return sorted(ids)


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, in id order (see module docstring)."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    order = {stem: n for n, stem in enumerate(sort_ids({p.stem for p in files}))}
    return sorted(files, key=lambda p: (order[p.stem], p.name))


def sidecar_text(image: Path) -> str | None:
    """The reference description in ``ID.txt`` next to ``ID.jpg`` (stripped), or None if absent or empty."""
    txt = image.with_suffix(".txt")
    if not txt.is_file():
        return None
    try:
        text = txt.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageSetError(f"Cannot read the description '{txt}': {exc}.", "Save it as UTF-8 text, or remove it.") from exc
    return text or None


def read_images(files: Iterable[Path]) -> list[ReferenceImage]:
    """A path-backed ReferenceImage per file (id = stem): bytes are read when needed, not held.
    A sidecar ``ID.txt`` (small) is read now as the image's reference description."""
    images = []
    for path in files:
        if not path.is_file():
            raise ImageSetError(f"Cannot read image file '{path}'.", "Check that it exists and is a regular file.")
        images.append(ReferenceImage(id=path.stem, origin=str(path), path=path, text=sidecar_text(path)))
    return images


def load_folder(
    path: str | Path,
    *,
    name: str | None = None,
    cls: type[ImageSet] = FolderImageSet,
    source: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ImageSet:
    """Load every image file directly inside ``path`` as an image set.

    ``cls``/``source``/``extra`` let named and downloaded sets reuse this reader while reporting
    their own kind and provenance in the fingerprint.
    """
    folder = Path(path).expanduser().absolute()
    if not folder.exists():
        raise ImageSetError(
            f"Image folder '{folder}' does not exist.",
            "Check the path (it is relative to the current directory), or use a named set such as 'demo'.",
        )
    if not folder.is_dir():
        raise ImageSetError(
            f"'{folder}' is a file, not a folder of images.",
            "Pass the folder that holds the images, or wds:FILE.tar for a WebDataset shard, "
            "or manifest:FILE.json for a manifest.",
        )
    folder = folder.resolve()
    files = image_files(folder)
    if not files:
        raise ImageSetError(
            f"Image folder '{folder}' contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))}).",
            "Put the reference images directly inside that folder (sub-folders are not read).",
        )
    return cls(name or folder.name, read_images(files), source or str(folder), extra)
