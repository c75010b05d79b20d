"""Crash safety: odd and hostile images end as rejections with reasons (never a failed task), and a
finalize task run twice (Dask recomputing it after its worker died post-commit) returns the
committed stats instead of failing on its deleted input."""

from __future__ import annotations

import io
import json
import random

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_pipeline.executor import run_build
from data_pipeline.plan import prepare_plan
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.records import InputRecord
from data_pipeline.sample import Sample
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import FIXTURE_IMAGES


def _thin_png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (20, 120, 220)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["keep_ratio", "pad", "center_crop"])
def test_a_3000x1_divider_is_resized_to_at_least_one_pixel(mode, tmp_path):
    from data_pipeline.stages.ingest import process_sample

    for w, h in ((3000, 1), (1, 3000)):
        p = tmp_path / f"thin{w}x{h}.png"
        p.write_bytes(_thin_png(w, h))
        recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(tmp_path)}],
                                   "image": {"size": 512, "resize_mode": mode}}, base_dir=tmp_path)
        s = process_sample(Sample(InputRecord("k", "path", str(p), "t")), recipe)
        assert s.pending and s.image_bytes, (s.reason, s.detail)
        assert min(s.width, s.height) >= 1 and max(s.width, s.height) == 512
        assert Image.open(io.BytesIO(s.image_bytes)).size == (s.width, s.height)


def test_size_and_aspect_filters_judge_the_original_before_any_resize(tmp_path, monkeypatch):
    from data_pipeline import decode
    from data_pipeline.filters import per_sample_filters
    from data_pipeline.stages.ingest import process_sample

    resized = []
    real = decode.resize
    monkeypatch.setattr(decode, "resize", lambda img, *a, **k: resized.append(img.size) or real(img, *a, **k))
    p = tmp_path / "thin.png"
    p.write_bytes(_thin_png(3000, 1))
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(tmp_path)}], "image": {"size": 64},
                               "filters": {"max_aspect_ratio": 3.0, "min_width": 10, "min_height": 10}},
                              base_dir=tmp_path)
    s = process_sample(Sample(InputRecord("k", "path", str(p), "t")), recipe, None,
                       per_sample_filters(recipe.filters))
    assert (s.stage, s.reason) == ("filter", "too_small") and (s.orig_width, s.orig_height) == (3000, 1)
    assert resized == []  # rejected on the header's size: no pixel decoded or resized


def _fuzzed_corpus(folder, n_per_format: int = 8, seed: int = 3) -> int:
    """Mutated JPEG/PNG/GIF/WebP/TIFF files: flipped bytes, truncations, spliced headers. Seed 3 includes
    a GIF whose decode raised a ValueError outside any guard before this was fixed."""
    rng = random.Random(seed)
    base = Image.open(FIXTURE_IMAGES / "astronaut.jpg").convert("RGB").resize((48, 40))
    n = 0
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("TIFF", "tif")):
        buf = io.BytesIO()
        base.save(buf, format=fmt)
        good = bytearray(buf.getvalue())
        for i in range(n_per_format):
            data = bytearray(good)
            kind = i % 4
            if kind == 0:  # flip bytes, header included
                for _ in range(rng.randint(1, 12)):
                    data[rng.randrange(min(len(data), 64 if i % 8 == 0 else len(data)))] ^= 1 << rng.randrange(8)
            elif kind == 1:
                data = data[: rng.randrange(8, len(data))]
            elif kind == 2:  # dimension fields blown up or zeroed
                for _ in range(4):
                    data[rng.randrange(min(len(data), 40))] = rng.choice((0, 255))
            else:  # a chunk repeated in the middle
                a = rng.randrange(len(data) // 2)
                data = data[:a] + data[a:a + 200] * 3 + data[a:]
            (folder / f"fuzz_{ext}_{i}.{ext}").write_bytes(bytes(data))
            n += 1
    return n


def test_a_fuzzed_corpus_and_thin_images_complete_with_reasons(tmp_path, dask_client):
    src = tmp_path / "src"
    src.mkdir()
    n = _fuzzed_corpus(src)
    (src / "divider.png").write_bytes(_thin_png(3000, 1))
    (src / "pole.png").write_bytes(_thin_png(1, 3000))
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(src)}], "sharding": {"samples_per_shard": 7},
                               "image": {"size": 48, "resize_mode": "keep_ratio"}, "captioner": None},
                              base_dir=tmp_path)
    s = run_build(recipe, tmp_path / "out", client=dask_client)
    rows = [r for p in sorted((tmp_path / "out").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert s.n_inputs == len(rows) == n + 2
    assert all(r["status"] == "accepted" or (r["reason"] and r["stage"]) for r in rows)
    thin = {r["locator"].rsplit("/", 1)[1]: r for r in rows if "divider" in r["locator"] or "pole" in r["locator"]}
    assert {k: (r["status"], r["width"], r["height"]) for k, r in thin.items()} == \
        {"divider.png": ("accepted", 48, 1), "pole.png": ("accepted", 1, 48)}
    assert validate_dir(tmp_path / "out") == []


def test_finalize_run_twice_returns_the_committed_stats(tmp_path):
    from data_pipeline.stages.dedup_pass import IncrementalDedup
    from data_pipeline.stages.finalize import finalize_shard
    from data_pipeline.stages.ingest import ingest_shard, stage_paths

    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}],
                               "sharding": {"samples_per_shard": 8}, "image": {"size": 32}, "captioner": None},
                              base_dir=tmp_path)
    out = tmp_path / "out"
    shard = prepare_plan(recipe, out)[0].shards[0]  # tasks refuse a folder the client did not plan into
    st = ingest_shard(shard, recipe, str(out))
    dups = IncrementalDedup(out, recipe.filters).decide(0, st["dedup_hashes"])
    first = finalize_shard(0, recipe, str(out), dups)
    assert stage_paths(out, 0)["parquet"].exists()  # the task leaves its input; the client removes it
    tar_bytes = (out / "00000.tar").read_bytes()
    stage_paths(out, 0)["parquet"].unlink()  # the client removed the stage after recording the result ...
    again = finalize_shard(0, recipe, str(out), dups)  # ... and Dask recomputes the task anyway
    assert again == first and (out / "00000.tar").read_bytes() == tar_bytes
    assert json.loads((out / "00000_stats.json").read_text())["n_accepted"] == first["n_accepted"] == 7
