"""Hugging Face datasets: a ``save_to_disk`` folder or a hub id already in the local cache.

Records point at a row index; the worker reopens the (memory-mapped) dataset once and reads the
image column with decoding off, so the original bytes are hashed and decoded by our own code.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.errors import SourceError
from data_pipeline.records import InputRecord, stable_id

if TYPE_CHECKING:
    from data_pipeline.recipe import HFSource, Recipe

META_ROWS = 10_000  # rows of caption/extra columns read at once while planning


@functools.lru_cache(maxsize=8)
def open_hf(path: str, split: str, image_column: str) -> Any:
    """Open (once per process) with the image column left undecoded."""
    import datasets

    try:
        p = Path(path)
        if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()):
            ds = datasets.load_from_disk(path)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            ds = datasets.load_dataset(path, split=split)
    except (FileNotFoundError, ValueError, ConnectionError, KeyError) as exc:
        raise SourceError(f"Cannot open HF dataset '{path}' split '{split}': {exc}",
                          "pass a save_to_disk folder or a hub id present in the local HF cache") from None
    if image_column not in ds.column_names:
        raise SourceError(f"HF dataset '{path}' has no column '{image_column}'; columns: {ds.column_names}.",
                          "set 'image_column' in the source")
    feature = ds.features[image_column]
    if type(feature).__name__ == "Image":
        ds = ds.cast_column(image_column, datasets.Image(decode=False))
    return ds


def read_hf_bytes(locator: str) -> bytes | None:
    ref = json.loads(locator)
    ds = open_hf(ref["path"], ref["split"], ref["column"])
    value = ds[int(ref["row"])][ref["column"]]
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            return Path(value["path"]).read_bytes()
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return None


def iter_hf(spec: HFSource, recipe: Recipe, name: str) -> Iterator[InputRecord]:
    path = recipe.resolve_path(spec.path) if Path(recipe.resolve_path(spec.path)).exists() else spec.path
    ds = open_hf(path, spec.split, spec.image_column)
    cols = [c for c in [spec.caption_column, *spec.extra_columns] if c]
    missing = [c for c in cols if c not in ds.column_names]
    if missing:
        raise SourceError(f"HF dataset '{path}' has no column(s) {missing}.", "fix caption_column / extra_columns")
    meta_ds = ds.select_columns(cols) if cols else None
    for start in range(0, len(ds), META_ROWS):  # caption/extra columns a slice at a time, never whole
        meta = meta_ds[start:start + META_ROWS] if meta_ds is not None else {}
        for j, row in enumerate(range(start, min(start + META_ROWS, len(ds)))):
            loc = json.dumps({"path": path, "split": spec.split, "column": spec.image_column, "row": row},
                             sort_keys=True)
            cap = meta[spec.caption_column][j] if spec.caption_column else None
            yield InputRecord(id=stable_id(name, f"{path}:{spec.split}:{row}"), kind="hf", locator=loc, source=name,
                              original_caption=None if cap is None else str(cap),
                              extra={c: meta[c][j] for c in spec.extra_columns})
