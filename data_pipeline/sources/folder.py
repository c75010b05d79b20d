"""A folder of images, walked in sorted order; optional sidecar caption files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.errors import SourceError
from data_pipeline.records import InputRecord, stable_id

if TYPE_CHECKING:
    from data_pipeline.recipe import FolderSource, Recipe

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def iter_folder(spec: FolderSource, recipe: Recipe, name: str) -> Iterator[InputRecord]:
    root = Path(recipe.resolve_path(spec.path))
    if not root.is_dir():
        raise SourceError(f"Image folder '{root}' does not exist.", "check 'sources[].path' (relative to the recipe file)")
    for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        rel = file.relative_to(root).as_posix()
        caption = None
        if spec.caption_suffix:
            side = file.with_suffix(spec.caption_suffix)
            if side.is_file():
                caption = side.read_text(encoding="utf-8").strip() or None
        yield InputRecord(id=stable_id(name, rel), kind="path", locator=str(file), source=name,
                          original_caption=caption, extra={"relative_path": rel})
