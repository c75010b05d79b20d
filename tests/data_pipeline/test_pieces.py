"""A shard is ingested as pieces (``stages.ingest.PIECE_SIZE`` records per task) so the last shards of a
build are shared by every worker. The pieces, read back in order, must be the shard: the same tars, rows
and dedup decisions as whole-shard ingest; pieces staged by an interrupted build are not fetched again."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_pipeline.executor import ClusterOptions, run_build
from data_pipeline.plan import prepare_plan
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.stages import dedup_pass, ingest
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import Route


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _corpus(http_server, tag: str) -> list[str]:
    """12 inputs: 8 distinct images, an exact duplicate of input 1 (in a later piece of shard 0 and in
    shard 1), a 404 and an empty body, so pieces carry rejections and cross-piece duplicates."""
    bodies = [_png(700 + i) for i in range(8)]
    routes = [Route(body=b, ctype="image/png") for b in bodies[:4]]
    routes += [Route(body=bodies[1], ctype="image/png"), Route(status=404), Route(body=b"", ctype="image/png")]
    routes += [Route(body=b, ctype="image/png") for b in bodies[4:]] + [Route(body=bodies[1], ctype="image/png")]
    return [http_server.add(f"/{tag}{i}.png", r) for i, r in enumerate(routes)]


def _recipe(tmp_path, urls):
    (tmp_path / "urls.jsonl").write_text("".join(f'{{"url": "{u}"}}\n' for u in urls))
    return recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl"}],
                             "sharding": {"samples_per_shard": 7}, "image": {"size": 32},
                             "fetch": {"threads": 2, "retries": 0, "read_timeout_s": 10},
                             "filters": {"exact_dedup": True, "near_dup_distance": 2}, "captioner": None},
                            base_dir=tmp_path)


def _output(out) -> tuple[list, list]:
    """Every tar member (name, sha256 of its bytes) in order, and every row of the shard parquets."""
    members = []
    for tar in sorted(out.glob("*.tar")):
        with tarfile.open(tar) as tf:
            members += [(m.name, hashlib.sha256(tf.extractfile(m).read()).hexdigest()) for m in tf.getmembers()]
    rows = [r for p in sorted(out.glob("[0-9]*.parquet")) for r in pq.read_table(p).to_pylist()]
    return members, rows


def _count_piece_tasks(monkeypatch) -> list[tuple[int, int]]:
    """(shard, piece) of every piece ingested from now on (the test cluster's workers are threads here)."""
    calls: list[tuple[int, int]] = []
    real = ingest._ingest_piece
    monkeypatch.setattr(ingest, "_ingest_piece", lambda shard, piece, *a: calls.append((shard.index, piece)) or
                        real(shard, piece, *a))
    return calls


def _reference_then_planned(tmp_path, recipe, dask_client):
    """A complete build of ``recipe`` to compare with, and a second folder planned but not built yet."""
    reference = tmp_path / "reference"
    run_build(recipe, reference, ClusterOptions(), client=dask_client)
    out = tmp_path / "out"
    plan = prepare_plan(recipe, out)[0]
    (out / "_stage").mkdir()
    return reference, out, plan


def test_pieces_give_the_same_shards_as_whole_shard_ingest(http_server, tmp_path, dask_client, monkeypatch):
    urls = _corpus(http_server, "pc")
    recipe = _recipe(tmp_path, urls)
    whole = tmp_path / "whole"
    run_build(recipe, whole, ClusterOptions(), client=dask_client)  # PIECE_SIZE 250: one piece per shard
    monkeypatch.setattr(ingest, "PIECE_SIZE", 3)  # shard 0 (7 inputs): 3 pieces; shard 1 (5 inputs): 2
    calls = _count_piece_tasks(monkeypatch)
    pieces = tmp_path / "pieces"
    s = run_build(recipe, pieces, ClusterOptions(), client=dask_client)
    assert sorted(calls) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert s.n_inputs == 12 and s.n_shards == 2
    assert _output(pieces) == _output(whole)
    rows = _output(pieces)[1]
    assert sum(r["reason"] == "duplicate_exact" for r in rows) == 2  # across pieces and across shards
    assert validate_dir(pieces) == []
    assert not [p for p in (pieces / "_stage").iterdir() if p.is_file()]  # the client removed every piece


def test_pieces_staged_by_an_interrupted_build_are_not_fetched_again(http_server, tmp_path, dask_client,
                                                                     monkeypatch):
    monkeypatch.setattr(ingest, "PIECE_SIZE", 3)
    recipe = _recipe(tmp_path, _corpus(http_server, "pr"))
    reference, out, plan = _reference_then_planned(tmp_path, recipe, dask_client)
    for piece in (0, 2):  # an interrupted build staged pieces 0 and 2 of shard 0, then died
        ingest.ingest_shard(plan.shard(0), recipe, str(out), piece=piece)
    assert ingest.read_stage_stats(out, 0, 3) is None and ingest.read_piece_stats(out, 0, 2) is not None
    calls = _count_piece_tasks(monkeypatch)

    def no_plan_read(*_):
        raise AssertionError("the piece count was read from a plan file, not given by the client")

    monkeypatch.setattr(dedup_pass, "shard_pieces", no_plan_read)  # the read-back uses the client's count
    s = run_build(recipe, out, ClusterOptions(), client=dask_client)
    assert s.resumed and sorted(calls) == [(0, 1), (1, 0), (1, 1)]
    # shard 0's dedup hashes: piece 1 from its task, pieces 0 and 2 read back from the stage, in order
    assert _output(out) == _output(reference)
    assert validate_dir(out, load=False) == []


def test_pieces_cut_at_another_size_are_ingested_again(http_server, tmp_path, dask_client, monkeypatch):
    """Stage files from a release with another piece size must not pass for this one's pieces (its piece 0
    would hold records of this one's piece 1): they are ingested again and the output is complete."""
    recipe = _recipe(tmp_path, _corpus(http_server, "ps"))
    reference, out, plan = _reference_then_planned(tmp_path, recipe, dask_client)
    monkeypatch.setattr(ingest, "PIECE_SIZE", 5)
    ingest.ingest_shard(plan.shard(0), recipe, str(out), piece=0)  # records 0-4 of shard 0
    monkeypatch.setattr(ingest, "PIECE_SIZE", 3)
    assert ingest.read_piece_stats(out, 0, 0) is None
    s = run_build(recipe, out, ClusterOptions(), client=dask_client)
    assert s.n_inputs == 12 and _output(out) == _output(reference)


def test_whole_shard_ingest_stages_every_piece_and_returns_the_shards_hashes(http_server, tmp_path, monkeypatch):
    from data_pipeline.stages.dedup_pass import read_staged_hashes
    from data_pipeline.stages.finalize import finalize_shard

    monkeypatch.setattr(ingest, "PIECE_SIZE", 3)
    urls = _corpus(http_server, "pw")
    recipe = _recipe(tmp_path, urls)
    out = tmp_path / "out"
    shard = prepare_plan(recipe, out)[0].shard(0)
    (out / "_stage").mkdir()
    st = ingest.ingest_shard(shard, recipe, str(out))  # piece=None: all three, in order
    assert st["pieces"] == 3 and st["n_inputs"] == 7 and ingest.read_stage_stats(out, 0, 3)["n_inputs"] == 7
    assert st["dedup_hashes"] == read_staged_hashes(out, 0)  # piece count read from the plan file
    pending = [r.id for r in shard.records if r.locator not in (urls[5], urls[6])]  # the 404 and the empty body
    assert [h[0] for h in st["dedup_hashes"]] == pending
    done = finalize_shard(0, recipe, str(out), {})  # pieces counted from the plan file; no dedup decisions
    assert done["n_inputs"] == 7 and done["n_accepted"] == len(pending)


def test_removing_a_committed_shards_stage_takes_every_piece_and_nothing_else(tmp_path):
    from data_pipeline.executor import remove_stage

    stage = tmp_path / "_stage"
    (stage / "dedup").mkdir(parents=True)
    names = ["00003.p000.parquet", "00003.p000_stats.json", "00003.p001.parquet", "00003.p001_stats.json",
             "00003.parquet", "00003_stats.json"]  # the last two: staged before pieces existed
    kept = ["00030.p000.parquet", "00004.p000.parquet", "dedup/00003.json"]
    for name in names + kept:
        (stage / name).write_bytes(b"x")
    remove_stage(tmp_path, 3)
    assert sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()) == sorted(kept)


@pytest.mark.parametrize(("n_records", "expected"), [(0, 1), (1, 1), (250, 1), (251, 2), (1000, 4), (1001, 5)])
def test_piece_count(n_records, expected):
    assert ingest.n_pieces(n_records) == expected
