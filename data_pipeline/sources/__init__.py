"""Input sources: each turns one recipe ``sources`` entry into InputRecords (one file per kind)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_pipeline.recipe import Recipe
    from data_pipeline.records import InputRecord


def iter_records(recipe: Recipe) -> Iterator[InputRecord]:
    """All records of all sources, in recipe order; duplicate ids get a ``_N`` suffix."""
    from data_pipeline.sources.folder import iter_folder
    from data_pipeline.sources.hf import iter_hf
    from data_pipeline.sources.table import iter_table
    from data_pipeline.sources.wds import iter_webdataset

    readers = {"parquet": iter_table, "csv": iter_table, "jsonl": iter_table, "folder": iter_folder,
               "webdataset": iter_webdataset, "hf": iter_hf}
    seen: dict[str, int] = {}
    for i, spec in enumerate(recipe.sources):
        name = spec.name or f"{spec.type}{i}"
        for rec in readers[spec.type](spec, recipe, name):
            n = seen.get(rec.id, 0)
            seen[rec.id] = n + 1
            if n:
                from dataclasses import replace

                rec = replace(rec, id=f"{rec.id}_{n}")
            yield rec
