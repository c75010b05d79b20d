"""Sources: tables (parquet/CSV/JSONL) with caption + extra columns, WebDataset shards, HF datasets."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_pipeline.errors import SourceError
from data_pipeline.executor import run_build
from data_pipeline.fetch import fetch_record
from data_pipeline.recipe import FetchConfig, recipe_from_dict
from data_pipeline.sources import iter_records
from tests.data_pipeline.conftest import FIXTURE_IMAGES

NAMES = ["astronaut.jpg", "coffee.jpg", "rocket.jpg"]


def _recipe(source: dict, tmp_path):
    return recipe_from_dict({"sources": [source], "sharding": {"samples_per_shard": 2},
                             "image": {"size": 32}, "captioner": None}, base_dir=tmp_path)


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl"])
def test_table_sources_pass_captions_and_extras(kind, tmp_path):
    rows = {"path": NAMES, "caption": ["a", "b", "c"], "license": ["x", "y", "z"], "ignored": [1, 2, 3]}
    path = tmp_path / f"list.{kind}"
    for n in NAMES:
        (tmp_path / n).write_bytes((FIXTURE_IMAGES / n).read_bytes())
    if kind == "parquet":
        pq.write_table(pa.table(rows), path)
    elif kind == "csv":
        path.write_text("path,caption,license,ignored\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in zip(*rows.values(), strict=True)))
    else:
        path.write_text("".join(json.dumps(dict(zip(rows, vals, strict=True))) + "\n" for vals in zip(*rows.values(), strict=True)))
    recipe = _recipe({"type": kind, "path": path.name, "url_column": "path", "caption_column": "caption",
                      "extra_columns": ["license"]}, tmp_path)
    recs = list(iter_records(recipe))
    assert [r.original_caption for r in recs] == ["a", "b", "c"]
    assert [r.extra for r in recs] == [{"license": v} for v in "xyz"]
    assert all(r.kind == "path" and fetch_record(r, FetchConfig()).data for r in recs)
    assert [r.id for r in recs] == [r.id for r in iter_records(recipe)]  # stable ids


def test_missing_column_is_a_clear_error(tmp_path):
    (tmp_path / "l.csv").write_text("link\nx.jpg\n")
    with pytest.raises(SourceError, match="url"):
        list(iter_records(_recipe({"type": "csv", "path": "l.csv"}, tmp_path)))


def test_webdataset_and_hf_sources_roundtrip(tmp_path, dask_client):
    import datasets

    # 1) build shards from the folder, 2) use those shards as a webdataset source
    first = _recipe({"type": "folder", "path": str(FIXTURE_IMAGES)}, tmp_path)
    s1 = run_build(first, tmp_path / "a", client=dask_client)
    wds_recipe = _recipe({"type": "webdataset", "path": "a/{00000..00003}.tar"}, tmp_path)
    recs = list(iter_records(wds_recipe))
    assert len(recs) == s1.n_accepted and all(r.kind == "tar" for r in recs)
    assert sum(r.original_caption is not None for r in recs) == 1  # astronaut's sidecar caption came along
    s2 = run_build(wds_recipe, tmp_path / "b", client=dask_client)
    assert s2.n_accepted == s1.n_accepted  # already deduplicated, all decode

    # 3) an HF dataset saved to disk with an Image column
    ds = datasets.Dataset.from_dict({"image": [str(FIXTURE_IMAGES / n) for n in NAMES], "text": ["p", "q", "r"]})
    ds = ds.cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "hf"))
    hf = _recipe({"type": "hf", "path": "hf", "caption_column": "text"}, tmp_path)
    recs = list(iter_records(hf))
    assert [r.original_caption for r in recs] == ["p", "q", "r"]
    got = fetch_record(recs[1], FetchConfig())
    assert got.data == (FIXTURE_IMAGES / "coffee.jpg").read_bytes()
    s3 = run_build(hf, tmp_path / "c", client=dask_client)
    assert s3.n_accepted == 3


def test_hf_captions_and_extras_are_read_a_slice_at_a_time(tmp_path, monkeypatch):
    import datasets

    import data_pipeline.sources.hf as hf_mod

    monkeypatch.setattr(hf_mod, "META_ROWS", 2)  # 5 rows: slices of 2, 2, 1
    datasets.Dataset.from_dict({"image": [b"x"] * 5, "text": list("abcde"), "n": [10, 11, 12, 13, 14]}).save_to_disk(
        str(tmp_path / "hf5"))
    recipe = _recipe({"type": "hf", "path": "hf5", "caption_column": "text", "extra_columns": ["n"]}, tmp_path)
    recs = list(iter_records(recipe))
    assert [r.original_caption for r in recs] == list("abcde")
    assert [r.extra for r in recs] == [{"n": 10 + i} for i in range(5)]
    assert [json.loads(r.locator)["row"] for r in recs] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl"])
def test_table_sources_stream_in_batches(kind, tmp_path, monkeypatch):
    """Tables are read a batch at a time (never one 10M-row table): records come out the same, in
    order, across batch boundaries; a column that is empty in the first batch and filled later is read
    (pyarrow's streaming CSV and JSON readers would refuse it); a missing column is still an error."""
    import data_pipeline.sources.table as table_mod

    monkeypatch.setattr(table_mod, "BATCH_ROWS", 3)
    monkeypatch.setattr(table_mod, "JSONL_ROWS", 3)
    monkeypatch.setattr(table_mod, "CSV_BLOCK_BYTES", 64)  # ~3 rows a block
    caps = [None] * 4 + [f"c{i}" for i in range(4, 10)]
    urls = [f"https://h/{i}.jpg" for i in range(10)]
    path = tmp_path / f"list.{kind}"
    if kind == "parquet":
        pq.write_table(pa.table({"url": urls, "alt": caps}), path, row_group_size=4)
    elif kind == "csv":
        path.write_text("url,alt\n" + "".join(f"{u},{c or ''}\n" for u, c in zip(urls, caps, strict=True)))
    else:
        path.write_text("".join(json.dumps({"url": u, "alt": c}) + "\n" for u, c in zip(urls, caps, strict=True)))
    recs = list(iter_records(_recipe({"type": kind, "path": path.name, "caption_column": "alt"}, tmp_path)))
    assert [r.locator for r in recs] == urls
    assert [r.original_caption for r in recs] == [("" if kind == "csv" else None) if c is None else c for c in caps]
    with pytest.raises(SourceError, match="nope"):
        list(iter_records(_recipe({"type": kind, "path": path.name, "caption_column": "nope"}, tmp_path)))
