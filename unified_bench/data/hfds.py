"""Image sets read from Hugging Face datasets (hub repos or ``save_to_disk`` folders).

Why: many reference collections are published as datasets with an ``Image`` column. They are
read with the ``datasets`` library itself. The image column is the first column whose feature
type is ``datasets.Image`` unless ``#column`` names it; images are read *undecoded*
(``Image(decode=False)``) so the bytes, and so the content hash, are exactly what the dataset
stores. The id is the ``id`` column when present (ids must be stable across runs for caching),
else the row index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unified_bench.data.base import ImageSet, ReferenceImage
from unified_bench.errors import ImageSetError, SpecError, require

HFDS_FORMS = (
    "hfds:ORG/NAME[@REVISION][:SPLIT][#COLUMN] or hfds:/path/saved_with_save_to_disk[:SPLIT][#COLUMN]"
)


class HFDatasetImageSet(ImageSet):
    """Images from a Hugging Face dataset; ``source`` is the spec body."""

    kind = "hf-dataset"


@dataclass(frozen=True)
class HFDatasetSpec:
    """A parsed ``hfds:`` spec body."""

    name: str  # hub repo id, or a local directory when ``local``
    revision: str | None = None
    split: str | None = None
    column: str | None = None
    local: bool = False


def parse_hfds_spec(body: str) -> HFDatasetSpec:
    """Parse ``NAME[@REVISION][:SPLIT][#COLUMN]`` (NAME may be a local save_to_disk directory)."""
    text, _, column = body.partition("#")
    if not text:
        raise SpecError(f"Empty dataset name in 'hfds:{body}'.", f"Write {HFDS_FORMS}.")
    if "#" in body and not column:
        raise SpecError(f"Empty column name after '#' in 'hfds:{body}'.", "Write #COLUMN or drop the '#'.")
    column = column or None
    expanded = os.path.expanduser(text)
    if os.path.isdir(expanded):
        return HFDatasetSpec(name=expanded, column=column, local=True)
    head, sep, split = text.rpartition(":")
    if sep and os.path.isdir(os.path.expanduser(head)):
        return HFDatasetSpec(name=os.path.expanduser(head), split=split or None, column=column, local=True)
    if text.startswith(("/", "./", "../", "~")):
        raise ImageSetError(
            f"Dataset folder '{text}' does not exist.",
            "Check the path (a folder written by Dataset.save_to_disk), or give a hub id as hfds:ORG/NAME.",
        )
    name, split = (head, split) if sep else (text, "")
    repo, _, revision = name.partition("@")
    if not repo:
        raise SpecError(f"Empty dataset name in 'hfds:{body}'.", f"Write {HFDS_FORMS}.")
    return HFDatasetSpec(name=repo, revision=revision or None, split=split or None, column=column)


def _pick_split(ds: Any, spec: HFDatasetSpec, where: str) -> Any:
    """Reduce a DatasetDict to one split: the requested one, or the only one there is."""
    datasets = require("datasets")
    if not isinstance(ds, datasets.DatasetDict):
        if spec.split:
            raise SpecError(
                f"'{where}' holds a single dataset without splits, but split '{spec.split}' was requested.",
                "Drop the ':SPLIT' suffix.",
            )
        return ds
    splits = sorted(ds)
    if spec.split:
        if spec.split not in ds:
            raise SpecError(
                f"Dataset '{where}' has no split '{spec.split}'.", f"Use one of: {', '.join(splits)}."
            )
        return ds[spec.split]
    if len(splits) == 1:
        return ds[splits[0]]
    raise SpecError(
        f"Dataset '{where}' has several splits ({', '.join(splits)}) and none was chosen.",
        f"Add ':SPLIT' to the spec, e.g. hfds:{where}:{splits[0]}.",
    )


def _open_dataset(spec: HFDatasetSpec) -> Any:
    datasets = require("datasets")
    if spec.local:
        try:
            ds = datasets.load_from_disk(spec.name)
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise ImageSetError(
                f"Cannot load the dataset saved in '{spec.name}': {exc}.",
                "Point hfds: at a folder written by Dataset.save_to_disk or DatasetDict.save_to_disk.",
            ) from exc
        return _pick_split(ds, spec, spec.name)
    try:
        ds = datasets.load_dataset(spec.name, revision=spec.revision, split=spec.split)
    except Exception as exc:  # hub, network, auth and format errors come from many layers
        raise ImageSetError(
            f"Cannot load Hugging Face dataset '{spec.name}'"
            f"{'@' + spec.revision if spec.revision else ''}: {type(exc).__name__}: {exc}.",
            "Check the dataset id, revision and split; log in with `hf auth login` for gated datasets; "
            "when offline (HF_DATASETS_OFFLINE=1) it must already be in the local cache.",
        ) from exc
    return _pick_split(ds, spec, spec.name)


def image_column(ds: Any, requested: str | None) -> str:
    """The requested column (must be an Image feature) or the first Image column."""
    datasets = require("datasets")
    image_cols = [c for c, f in ds.features.items() if isinstance(f, datasets.Image)]
    if requested:
        if requested not in ds.features:
            raise SpecError(
                f"Dataset has no column '{requested}'.", f"Columns: {', '.join(ds.column_names)}."
            )
        if requested not in image_cols:
            raise SpecError(
                f"Column '{requested}' is not an Image feature ({ds.features[requested]}).",
                f"Image columns: {', '.join(image_cols) or '(none)'}.",
            )
        return requested
    if not image_cols:
        raise ImageSetError(
            f"The dataset has no Image column (columns: {', '.join(ds.column_names)}).",
            "Cast the image column to datasets.Image(), or name it with a '#COLUMN' suffix.",
        )
    return image_cols[0]


def load_hf_dataset(body: str, *, name: str | None = None) -> HFDatasetImageSet:
    """Load the ``hfds:`` spec ``body`` as an image set (see module docstring)."""
    datasets = require("datasets")
    spec = parse_hfds_spec(body)
    ds = _open_dataset(spec)
    col = image_column(ds, spec.column)
    id_col = "id" if "id" in ds.column_names and col != "id" else None
    ds = ds.select_columns([c for c in (col, id_col) if c]).cast_column(col, datasets.Image(decode=False))
    where = spec.name if spec.local else f"hf://{spec.name}"
    images: list[ReferenceImage] = []
    for idx, row in enumerate(ds):
        cell = row[col]
        rid = str(row[id_col]) if id_col else str(idx)
        if cell is None:
            raise ImageSetError(
                f"Row {idx} (id '{rid}') of {where} has no image.", "Remove or fill that row."
            )
        data = cell.get("bytes")
        if data is None and cell.get("path"):
            try:
                data = Path(cell["path"]).read_bytes()
            except OSError as exc:
                raise ImageSetError(
                    f"Row {idx} (id '{rid}') of {where} points to an unreadable image file: {exc}.",
                    "Embed the images in the dataset (Image feature with bytes) or fix the paths.",
                ) from exc
        if data is None:
            raise ImageSetError(
                f"Row {idx} (id '{rid}') of {where} has no image bytes.", "Remove or fill that row."
            )
        images.append(ReferenceImage(id=rid, data=data, origin=f"{where} row {idx} (column '{col}')"))
    extra = {"image_column": col, "split": spec.split, "revision": spec.revision}
    label = name or (Path(spec.name).name if spec.local else spec.name)
    source = str(Path(spec.name).resolve()) if spec.local else body.split("#", 1)[0]
    return HFDatasetImageSet(label, images, source, {k: v for k, v in extra.items() if v is not None})
