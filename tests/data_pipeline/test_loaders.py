"""The shards load with their consumers, whatever the source and whatever the sample order:
``datasets.load_dataset("webdataset")`` (streaming and not) and the dataset card's own webdataset
snippet, on the builds that used to break them: a folder with partial sidecar captions, a URL list
whose very first sample has no alt text, a captioner-on build (caption records that differ across
samples), and a build with an all-rejected shard. ``validate`` must agree."""

from __future__ import annotations

import csv
import glob
import io
import json
import shutil

import pytest
from PIL import Image

from data_pipeline.executor import run_build
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from data_pipeline.writers.sample_schema import SAMPLE_SHAPE, json_shape
from tests.data_pipeline.captioner_fixtures import ChatServer, completion
from tests.data_pipeline.conftest import FIXTURE_IMAGES, Route


def assert_loads_everywhere(out, n_accepted: int, cache_dir) -> list[dict]:
    """Every consumer reads exactly n_accepted samples with jpg, txt and json; returns the JSONs."""
    import datasets
    import webdataset as wds

    tars = sorted(glob.glob(str(out / "*.tar")))
    # the dataset card's snippet, verbatim apart from the folder
    card = (out / "README.md").read_text()
    assert "to_tuple('jpg', 'txt')" in card
    pairs = list(wds.WebDataset(tars, shardshuffle=False).decode("pil").to_tuple("jpg", "txt"))
    assert len(pairs) == n_accepted and all(isinstance(t, str) for _, t in pairs)
    ds = datasets.load_dataset("webdataset", data_files={"train": tars}, split="train", cache_dir=str(cache_dir))
    assert len(ds) == n_accepted and {"jpg", "txt", "json"} <= set(ds.column_names)
    assert all(isinstance(t, str) for t in ds["txt"])
    stream = datasets.load_dataset("webdataset", data_files={"train": tars}, split="train", streaming=True)
    rows = list(stream)
    assert len(rows) == n_accepted and all(r["txt"] is not None and r["json"] is not None for r in rows)
    metas = [r["json"] for r in rows]
    assert all(json_shape(m) == SAMPLE_SHAPE for m in metas)
    assert validate_dir(out) == []
    return metas


def test_folder_with_partial_sidecars(fixture_copy, tmp_path, dask_client):
    names = sorted(p.name for p in fixture_copy.glob("*.jpg"))
    for p in fixture_copy.glob("*.txt"):
        p.unlink()
    (fixture_copy / names[-1]).with_suffix(".txt").write_text("a caption only the last image has")
    (fixture_copy / names[3]).with_suffix(".txt").write_text("")  # an empty sidecar is no caption
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(fixture_copy)}],
                               "sharding": {"samples_per_shard": 3}, "image": {"size": 32}, "captioner": None},
                              base_dir=tmp_path)
    s = run_build(recipe, tmp_path / "out", client=dask_client)
    metas = assert_loads_everywhere(tmp_path / "out", s.n_accepted, tmp_path / "hf")
    assert s.n_accepted >= 6
    assert sorted(m["original_caption"] for m in metas)[-1] == "a caption only the last image has"
    assert sum(m["original_caption"] == "" for m in metas) == s.n_accepted - 1


def test_url_list_with_missing_alt_text_first(http_server, tmp_path, dask_client):
    photos = ["astronaut.jpg", "coffee.jpg", "rocket.jpg", "camera.jpg"]
    urls = [http_server.add(f"/alt/{n}", Route(body=(FIXTURE_IMAGES / n).read_bytes())) for n in photos]
    with open(tmp_path / "urls.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["url", "alt", "license", "width"])
        w.writerow([urls[0], "", "", ""])  # the very first sample: no alt text, no extras
        for i, u in enumerate(urls[1:]):
            w.writerow([u, f"alt {i}", "cc-by", str(100 + i)])
    recipe = recipe_from_dict({"sources": [{"type": "csv", "path": "urls.csv", "caption_column": "alt",
                                            "extra_columns": ["license", "width"]}],
                               "sharding": {"samples_per_shard": 2}, "image": {"size": 32}, "captioner": None},
                              base_dir=tmp_path)
    s = run_build(recipe, tmp_path / "out", client=dask_client)
    assert s.n_accepted == 4
    metas = assert_loads_everywhere(tmp_path / "out", 4, tmp_path / "hf")
    first = next(m for m in metas if m["locator"] == urls[0])
    assert first["original_caption"] == "" and isinstance(json.loads(first["extra_json"]), dict)


def test_captioner_build_with_accepted_samples(tmp_path, dask_client):
    caption = " ".join(f"word{i}" for i in range(30)) + "."

    def reply(i, body):  # alternate servers' records: one answer names a system fingerprint, one does not
        payload = completion(caption)
        if i % 2:
            payload["system_fingerprint"] = "fp-1"
        return 200, {}, payload, 0

    with ChatServer(reply) as server:
        recipe = recipe_from_dict({
            "sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}], "sharding": {"samples_per_shard": 3},
            "image": {"size": 32},
            "captioner": {"backend": "openai", "model": "served-vlm", "endpoint": server.endpoint,
                          "max_new_tokens": 64, "temperature": 0.0, "concurrency": 2, "batch_size": 2},
            "qc": {"min_words": 5, "max_words": 100}}, base_dir=tmp_path)
        s = run_build(recipe, tmp_path / "out", client=dask_client)
    assert s.n_accepted >= 6
    metas = assert_loads_everywhere(tmp_path / "out", s.n_accepted, tmp_path / "hf")
    assert all(m["captioner"]["model"] == "served-vlm" and m["qc"]["checked"] for m in metas)
    assert {m["captioner"]["system_fingerprint"] for m in metas} == {"", "fp-1"}


def test_build_with_an_all_rejected_shard(http_server, tmp_path, dask_client):
    good = [http_server.add(f"/rej/ok{i}.png", Route(body=_png(i), ctype="image/png")) for i in range(3)]
    bad = [http_server.add(f"/rej/gone{i}.png", Route(status=404)) for i in range(2)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps({"url": u}) + "\n" for u in [*good[:2], *bad, good[2]]))
    recipe = recipe_from_dict({"sources": [{"type": "jsonl", "path": "u.jsonl"}], "sharding": {"samples_per_shard": 2},
                               "image": {"size": 32}, "fetch": {"retries": 0}, "captioner": None}, base_dir=tmp_path)
    out = tmp_path / "out"
    s = run_build(recipe, out, client=dask_client)
    assert s.n_accepted == 3 and s.n_shards == 3
    assert sorted(p.name for p in out.glob("*.tar")) == ["00000.tar", "00002.tar"]  # no empty 00001.tar
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"][1]["tar"] is None and manifest["shards"][1]["n_inputs"] == 2
    assert_loads_everywhere(out, 3, tmp_path / "hf")


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 36), (60 * i, 200 - 50 * i, 90)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def built_demo(tmp_path, dask_client):
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}],
                               "sharding": {"samples_per_shard": 4}, "image": {"size": 32}, "captioner": None},
                              base_dir=tmp_path)
    run_build(recipe, tmp_path / "out", client=dask_client)
    return tmp_path / "out"


def _rewrite_tar(tar, edit) -> None:
    """Replace a tar's members by ``edit([(name, bytes), ...])``."""
    import tarfile

    with tarfile.open(tar) as tf:
        members = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]
    with tarfile.open(tar, "w") as tf:
        for name, data in edit(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_validate_finds_schema_drift_missing_txt_duplicate_keys_and_leftovers(built_demo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built_demo, copy)
    tars = sorted(copy.glob("*.tar"))
    with __import__("tarfile").open(tars[0]) as tf:
        first_sample = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()][:3]

    def drift(members):
        out = []
        for name, data in members:
            if name == members[1][0]:
                continue  # the first sample's .txt goes missing
            if name == members[5][0]:  # the second sample's JSON: the old writer's null-vs-string drift
                meta = json.loads(data)
                meta["original_caption"] = None
                data = json.dumps(meta).encode()
            out.append((name, data))
        return out

    _rewrite_tar(tars[0], drift)
    _rewrite_tar(tars[1], lambda members: members + first_sample)  # a key already in tar 0
    shutil.copy(tars[1], copy / "99999.tar")  # a tar the manifest does not list
    (copy / "00000.parquet.tmp-1-abcd").write_bytes(b"x")
    problems = "\n".join(validate_dir(copy, load=False))
    assert "original_caption: NoneType instead of str" in problems
    assert "has members ['jpg', 'json'], expected ['jpg', 'json', 'txt']" in problems
    assert f"duplicate key '{first_sample[0][0].split('.')[0]}'" in problems
    assert "99999.tar is not listed" in problems
    assert "leftover temp file" in problems and "sha256 differs" in problems


def test_the_shipped_demo_recipe_loads(tmp_path, dask_client):
    from data_pipeline.recipe import load_recipe
    from tests.data_pipeline.conftest import REPO

    s = run_build(load_recipe(REPO / "recipes" / "local-demo.yaml"), tmp_path / "demo", client=dask_client)
    assert s.n_accepted > 0
    assert_loads_everywhere(tmp_path / "demo", s.n_accepted, tmp_path / "hf")
