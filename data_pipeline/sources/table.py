"""Parquet / CSV / JSONL URL lists (img2dataset-style input): url, optional caption, extras."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.errors import SourceError
from data_pipeline.records import InputRecord, stable_id

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe, TableSource

BATCH_ROWS = 65_536  # rows read at once (parquet, CSV)
CSV_BLOCK_BYTES = 1 << 20  # CSV bytes read at once (pyarrow's default block)
JSONL_ROWS = 8192  # JSONL lines parsed at once (a parsed row is a dict: ~10x the bytes of an arrow row)


def _read_batches(path: str, kind: str, columns: list[str], text_columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    """The file's ``columns`` in batches of rows ({column: values}), streamed: a 10M-row list is
    never one table in memory. Remote files (``scheme://``) are read whole, as before. JSONL is parsed
    line by line (pyarrow's streaming JSON reader fixes column types from its first block and fails
    on a column that is null there and a string later; ``read_json`` did not). CSV: see ``_open_csv``."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    if "://" in path:
        table = pq.read_table(path) if kind == "parquet" else (
            pacsv.read_csv(path) if kind == "csv" else pajson.read_json(path))
        _check_columns(path, table.column_names, columns)
        batches = table.select(columns).to_batches(BATCH_ROWS)
    elif kind == "parquet":
        pf = pq.ParquetFile(path)
        _check_columns(path, pf.schema_arrow.names, columns)
        batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    elif kind == "csv":
        batches = _open_csv(path, columns, text_columns)
    else:
        yield from _jsonl_batches(path, columns)
        return
    for batch in batches:
        yield {c: batch.column(c).to_pylist() for c in columns}


def _open_csv(path: str, columns: list[str], text_columns: list[str]) -> Any:
    """A streaming CSV reader. Its column types are fixed before the first block (pyarrow's streaming
    reader infers them from the first block and fails on a column empty there and filled later;
    ``read_csv`` did not): ``text_columns`` (url, caption) are read as strings, and the other needed
    columns (the extras, usually none) get the types ``read_csv`` infers over the whole file, from a
    first pass that reads those columns only. An empty caption cell is ``""``, as with ``read_csv``
    (except in a caption column that is empty in every row, which ``read_csv`` read as nulls)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = pacsv.open_csv(path).schema.names
    _check_columns(path, names, columns)
    others = [c for c in columns if c not in text_columns]
    types = {c: pa.string() for c in text_columns}
    if others:
        inferred = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=others)).schema
        types |= {c: inferred.field(c).type for c in others}
    return pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                          convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns))


def _jsonl_batches(path: str, columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    import json

    found: set[str] = set()  # every column of any row (a missing one is an error, as with read_json)
    with open(path, encoding="utf-8") as fh:
        while lines := list(islice(fh, JSONL_ROWS)):
            rows = [json.loads(line) for line in lines if line.strip()]
            for row in rows:
                found.update(row)
            if not found.issuperset(columns) and len(lines) < JSONL_ROWS:
                break  # the last batch: report before yielding it
            yield {c: [row.get(c) for row in rows] for c in columns}
    _check_columns(path, sorted(found), columns)


def _check_columns(path: str, cols: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in cols]
    if missing:
        raise SourceError(f"Source '{path}' has no column(s) {missing}; columns are {cols}.",
                          "set url_column / caption_column / extra_columns to existing columns")


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
        needed = list(dict.fromkeys([spec.url_column, *([spec.caption_column] if spec.caption_column else []),
                                     *spec.extra_columns]))
        base = Path(file).parent
        text = [spec.url_column, *([spec.caption_column] if spec.caption_column else [])]
        for batch in _read_batches(file, spec.type, needed, text):
            urls = batch[spec.url_column]
            caps = batch[spec.caption_column] if spec.caption_column else [None] * len(urls)
            extras = {c: batch[c] for c in spec.extra_columns}
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
