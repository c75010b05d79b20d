"""Parquet / CSV / JSONL URL lists (img2dataset-style input): url, optional caption, extras."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.errors import SourceError
from data_pipeline.records import InputRecord, stable_id

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe, TableSource


def _read_table(path: str, kind: str):
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    if kind == "parquet":
        return pq.read_table(path)
    if kind == "csv":
        return pacsv.read_csv(path)
    return pajson.read_json(path)


def _files(pattern: str) -> list[str]:
    if "://" in pattern:
        return [pattern]  # fsspec-style remote files are read by pyarrow directly
    files = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise SourceError(f"Source file(s) '{pattern}' not found.", "check 'sources[].path' (relative to the recipe file)")
    return files


def iter_table(spec: TableSource, recipe: Recipe, name: str) -> Iterator[InputRecord]:
    for file in _files(recipe.resolve_path(spec.path)):
        table = _read_table(file, spec.type)
        cols = table.column_names
        needed = [spec.url_column, *([spec.caption_column] if spec.caption_column else []), *spec.extra_columns]
        missing = [c for c in needed if c not in cols]
        if missing:
            raise SourceError(f"Source '{file}' has no column(s) {missing}; columns are {cols}.",
                              "set url_column / caption_column / extra_columns to existing columns")
        base = Path(file).parent
        urls = table.column(spec.url_column).to_pylist()
        caps = table.column(spec.caption_column).to_pylist() if spec.caption_column else [None] * len(urls)
        extras = {c: table.column(c).to_pylist() for c in spec.extra_columns}
        for i, url in enumerate(urls):
            if not url:
                continue
            url = str(url)
            if url.startswith(("http://", "https://")):
                kind, loc = "url", url
            else:
                kind, loc = "path", str(Path(url) if Path(url).is_absolute() else (base / url).resolve())
            yield InputRecord(id=stable_id(name, url), kind=kind, locator=loc, source=name,
                              original_caption=None if caps[i] is None else str(caps[i]),
                              extra={c: extras[c][i] for c in spec.extra_columns})
