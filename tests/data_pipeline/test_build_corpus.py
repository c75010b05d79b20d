"""End to end on the loopback corpus: every broken input becomes one row with the right reason,
good ones (CMYK, 16-bit, palette, LA, animated, EXIF-rotated) are accepted, and the shards load
with webdataset and with datasets' webdataset builder."""

from __future__ import annotations

import csv
import glob
import json

import pyarrow.parquet as pq
import pytest

from data_pipeline.executor import run_build
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import corpus_recipe_dict


@pytest.fixture(scope="module")
def built(corpus, dask_client, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    csv_path = root / "urls.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["url", "alt", "license"])
        for i, url in enumerate(corpus):
            w.writerow([url, f"alt text {i}", "cc-by"])
    recipe = recipe_from_dict(corpus_recipe_dict(csv_path), base_dir=root)
    out = root / "out"
    summary = run_build(recipe, out, client=dask_client)
    return recipe, out, summary


def _rows(out):
    rows = []
    for p in sorted(out.glob("*.parquet")):
        rows += pq.read_table(p).to_pylist()
    return rows


def test_every_input_has_one_row_with_the_expected_reason(built, corpus, http_server):
    _, out, summary = built
    rows = _rows(out)
    assert len(rows) == len(corpus) == summary.n_inputs
    by_url = {r["locator"]: r for r in rows}
    assert set(by_url) == set(corpus)
    wrong = {u.rsplit("/", 1)[1]: (by_url[u]["status"], by_url[u]["reason"], exp)
             for u, exp in corpus.items()
             if (by_url[u]["reason"] != exp) or ((exp is None) != (by_url[u]["status"] == "accepted"))}
    assert not wrong, wrong
    assert http_server.routes["/flaky.jpg"].hits == 2  # one 503, retried once, then served
    assert http_server.routes["/error.jpg"].hits == 2  # 500 retried (retries=1), then given up
    assert by_url[f"{http_server.base}/ok_dup.jpg"]["duplicate_of"] == by_url[f"{http_server.base}/ok.jpg"]["key"]
    assert summary.n_accepted == sum(1 for e in corpus.values() if e is None)


def test_odd_modes_are_decoded_and_rotated(built, http_server):
    _, out, _ = built
    by_url = {r["locator"]: r for r in _rows(out)}
    rot = by_url[f"{http_server.base}/rotated.jpg"]
    assert (rot["orig_width"], rot["orig_height"]) == (64, 96)  # stored 96x64, EXIF orientation 6
    assert (rot["width"], rot["height"]) == (32, 48)  # keep_ratio: longer side 48
    assert by_url[f"{http_server.base}/cmyk.jpg"]["orig_mode"] == "CMYK"
    assert by_url[f"{http_server.base}/gray16.png"]["orig_mode"].startswith("I;16")
    assert by_url[f"{http_server.base}/palette.png"]["orig_mode"] == "P"
    assert by_url[f"{http_server.base}/anim.gif"]["orig_format"] == "GIF"


def test_gray16_is_scaled_not_clipped(built, http_server):
    import io

    import numpy as np
    import webdataset as wds
    from PIL import Image

    _, out, _ = built
    key = {r["locator"]: r["key"] for r in _rows(out)}[f"{http_server.base}/gray16.png"]
    for sample in wds.WebDataset(sorted(glob.glob(str(out / "*.tar"))), shardshuffle=False):
        if sample["__key__"] == key:
            arr = np.asarray(Image.open(io.BytesIO(sample["jpg"])).convert("L"), dtype=float)
            # a 0..65535 ramp must map to a 0..255 ramp, not saturate at 255
            assert arr[:4].mean() < 40 and arr[-4:].mean() > 215
            break
    else:
        pytest.fail("gray16 sample not in the tars")


def test_shards_load_with_webdataset_and_datasets(built):
    import datasets
    import webdataset as wds

    _, out, summary = built
    tars = sorted(glob.glob(str(out / "*.tar")))
    samples = list(wds.WebDataset(tars, shardshuffle=False).decode("pil"))
    assert len(samples) == summary.n_accepted
    for s in samples:
        assert "." not in s["__key__"]
        assert s["jpg"].mode == "RGB" and max(s["jpg"].size) == 48
        meta = s["json"]
        assert meta["key"] == s["__key__"] and json.loads(meta["extra_json"]) == {"license": "cc-by"}
        assert s["txt"] == meta["original_caption"]  # captioner null: source caption in .txt
    ds = datasets.load_dataset("webdataset", data_files={"train": tars}, split="train")
    assert len(ds) == summary.n_accepted
    assert {"jpg", "txt", "json"} <= set(ds.column_names)
    assert sorted(ds["__key__"]) == sorted(s["__key__"] for s in samples)


def test_outputs_validate_and_manifest_agrees(built):
    _, out, summary = built
    assert validate_dir(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_accepted"] == summary.n_accepted and manifest["n_inputs"] == summary.n_inputs
    assert manifest["reasons"]["http_404"] == 1
    assert manifest["recipe"]["image"]["size"] == 48 and manifest["versions"]["webdataset"]
    card = (out / "README.md").read_text()
    assert "decompression_bomb" in card and (out / "caption_lengths.png").stat().st_size > 1000


def test_validate_detects_a_corrupted_tar(built, tmp_path):
    import shutil

    _, out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    tar = sorted(copy.glob("*.tar"))[0]
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    problems = validate_dir(copy)
    assert any("sha256" in p for p in problems) and any(tar.name in p for p in problems)


def test_rerun_skips_committed_shards(built, dask_client):
    recipe, out, summary = built
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    again = run_build(recipe, out, client=dask_client)
    assert again.resumed and again.skipped_shards == summary.n_shards
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")} == before
    assert again.n_accepted == summary.n_accepted


def test_streamed_dedup_equals_one_pass_over_the_whole_job(built):
    from tests.data_pipeline.test_streaming import _one_pass_reference

    recipe, out, _ = built
    rows = _rows(out)  # shard order = plan order
    got = {r["key"]: (r["reason"], r["duplicate_of"]) for r in rows if r["stage"] == "dedup"}
    assert got and got == _one_pass_reference(rows, recipe.filters)
