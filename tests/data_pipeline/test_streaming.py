"""Streamed phases: target mode stops fetching early, dedup stays "first in plan order wins" when a
later shard is staged first, equals one pass over the whole job, and survives resume after the
stage files of committed shards are gone (the carried state is replayed from _stage/dedup/)."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from data_pipeline.executor import ClusterOptions, run_build
from data_pipeline.filters import dedup_filters
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.stages.dedup_pass import _entry
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import Route


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _recipe(tmp_path, urls, target=None, near=2):
    (tmp_path / "urls.jsonl").write_text("".join(f'{{"url": "{u}"}}\n' for u in urls))
    return recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl"}],
                             "sharding": {"samples_per_shard": 2}, "image": {"size": 32},
                             "fetch": {"threads": 2, "read_timeout_s": 10},
                             "filters": {"exact_dedup": True, "near_dup_distance": near},
                             "captioner": None, "target_accepted": target}, base_dir=tmp_path)


def _rows(out):
    return [r for p in sorted(out.glob("[0-9]*.parquet")) for r in pq.read_table(p).to_pylist()]


def _one_pass_reference(rows, cfg):
    """The pre-streaming design, computed independently: all dedup filters over every sample that
    reached dedup, in plan order (rows are read in shard order = plan order)."""
    entries = [_entry(r["key"], r["sha256"], r["phash"]) for r in rows
               if r["status"] == "accepted" or r["stage"] == "dedup"]
    for f in dedup_filters(cfg):
        f.apply(entries)
    return {e.id: (e.reason, e.duplicate_of) for e in entries if not e.pending}


def test_target_mode_fetches_fewer_inputs_than_planned(http_server, tmp_path, dask_client):
    routes = [Route(body=_png(100 + i), ctype="image/png") for i in range(20)]
    urls = [http_server.add(f"/tgt{i}.png", r) for i, r in enumerate(routes)]
    out = tmp_path / "out"
    s = run_build(_recipe(tmp_path, urls, target=2), out, ClusterOptions(max_in_flight=1), client=dask_client)
    hits = sum(r.hits for r in routes)
    staged_or_done = len(list((out / "_stage").glob("*_stats.json")))
    # window 1, at most 3 open shards: shard 0 commits 2 accepted before a 4th shard can start
    assert s.n_planned_shards == 10 and s.n_accepted >= 2 and s.n_shards >= 1
    assert hits <= 6 < 20 and staged_or_done <= 3 < 10
    assert validate_dir(out) == []
    # raising the target resumes: every remaining input is fetched once, the staged ones are reused
    s2 = run_build(_recipe(tmp_path, urls), out, ClusterOptions(max_in_flight=1), client=dask_client)
    assert s2.n_shards == 10 and s2.n_accepted == 20 and all(r.hits == 1 for r in routes)


def test_first_in_plan_order_wins_when_a_later_shard_is_staged_first(http_server, tmp_path, dask_client):
    a, b = _png(1), _png(2)
    img_b = Image.open(io.BytesIO(b)).convert("RGB")
    img_b.putpixel((0, 0), (0, 0, 0))  # different bytes, same resized phash (near duplicate)
    buf = io.BytesIO()
    img_b.save(buf, format="PNG")
    paths = {"/pa.png": Route(body=a, ctype="image/png", delay=0.8),  # shard 0 is slow
             "/pb.png": Route(body=b, ctype="image/png", delay=0.8),
             "/pa_copy.png": Route(body=a, ctype="image/png"),  # shard 1, staged first
             "/pb_near.png": Route(body=buf.getvalue(), ctype="image/png"),
             "/pc.png": Route(body=_png(3), ctype="image/png"),  # shard 2
             "/pa_again.png": Route(body=a, ctype="image/png")}
    urls = [http_server.add(p, r) for p, r in paths.items()]
    recipe = _recipe(tmp_path, urls)
    out = tmp_path / "out"
    s = run_build(recipe, out, client=dask_client)
    # shard 1 was fetched completely before shard 0 (the client removes committed stages, so the
    # server's clock is the witness)
    assert max(paths[p].served_at[-1] for p in ("/pa_copy.png", "/pb_near.png")) < \
        min(paths[p].served_at[-1] for p in ("/pa.png", "/pb.png"))
    rows = _rows(out)
    by = {r["locator"].rsplit("/", 1)[1]: r for r in rows}
    assert [by[n]["status"] for n in ("pa.png", "pb.png", "pc.png")] == ["accepted"] * 3
    assert by["pa_copy.png"]["reason"] == "duplicate_exact" and by["pa_copy.png"]["duplicate_of"] == by["pa.png"]["key"]
    assert by["pa_again.png"]["duplicate_of"] == by["pa.png"]["key"]
    assert by["pb_near.png"]["reason"] == "duplicate_near" and by["pb_near.png"]["duplicate_of"] == by["pb.png"]["key"]
    assert s.n_accepted == 3
    got = {r["key"]: (r["reason"], r["duplicate_of"]) for r in rows if r["stage"] == "dedup"}
    assert got == _one_pass_reference(rows, recipe.filters)
    decisions = sorted(p.name for p in (out / "_stage" / "dedup").glob("*.json"))
    assert decisions == ["00000.json", "00001.json", "00002.json"]


def test_resume_replays_dedup_state_of_committed_shards(http_server, tmp_path, dask_client):
    a = _png(7)
    routes = {"/r0.png": Route(body=a, ctype="image/png"), "/r1.png": Route(body=_png(8), ctype="image/png"),
              "/r2.png": Route(body=_png(9), ctype="image/png"), "/r3.png": Route(body=_png(10), ctype="image/png"),
              "/r4.png": Route(body=_png(11), ctype="image/png"), "/r5.png": Route(body=_png(12), ctype="image/png"),
              "/r6.png": Route(body=a, ctype="image/png"), "/r7.png": Route(body=_png(13), ctype="image/png")}
    urls = [http_server.add(p, r) for p, r in routes.items()]
    out = tmp_path / "out"
    opts = ClusterOptions(max_in_flight=1)
    first = run_build(_recipe(tmp_path, urls, target=1), out, opts, client=dask_client)
    assert first.n_shards < 4 and not (out / "_stage" / "00000.parquet").exists()  # shard 0's stage is gone
    assert not (out / "_stage" / "00003_stats.json").exists()  # so shard 3 is decided from replayed state
    run_build(_recipe(tmp_path, urls), out, opts, client=dask_client)
    by = {r["locator"].rsplit("/", 1)[1]: r for r in _rows(out)}
    assert by["r6.png"]["reason"] == "duplicate_exact" and by["r6.png"]["duplicate_of"] == by["r0.png"]["key"]
    assert sum(r["status"] == "accepted" for r in by.values()) == 7 and validate_dir(out) == []
    saved = json.loads((out / "_stage" / "dedup" / "00003.json").read_text())
    assert saved["rejected"][by["r6.png"]["key"]]["duplicate_of"] == by["r0.png"]["key"]


def test_hashes_returned_by_ingest_are_the_staged_ones(http_server, tmp_path):
    """The client decides dedup from the hashes in the ingest result; a resumed build reads them back
    from the staged parquet instead. Both must be the same list, in plan order, pending samples only."""
    from data_pipeline.plan import prepare_plan
    from data_pipeline.stages.dedup_pass import read_staged_hashes
    from data_pipeline.stages.ingest import ingest_shard

    bodies = [_png(40), _png(41), b"", _png(40)]  # the empty body is rejected at fetch: not in the hashes
    urls = [http_server.add(f"/hh{i}.png", Route(body=b, ctype="image/png")) for i, b in enumerate(bodies)]
    (tmp_path / "urls.jsonl").write_text("".join(f'{{"url": "{u}"}}\n' for u in urls))
    recipe = recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl"}], "image": {"size": 32},
                               "sharding": {"samples_per_shard": 4}, "filters": {"exact_dedup": True},
                               "captioner": None}, base_dir=tmp_path)
    out = tmp_path / "out"
    shard = prepare_plan(recipe, out)[0].shards[0]  # tasks refuse a folder the client did not plan into
    (out / "_stage").mkdir()
    st = ingest_shard(shard, recipe, str(out))
    assert st["n_pending"] == 3 and len(st["dedup_hashes"]) == 3
    assert st["dedup_hashes"] == read_staged_hashes(out, shard.index)
    assert [h[0] for h in st["dedup_hashes"]] == [r.id for r in shard.records if r.locator != urls[2]]


def test_the_client_never_reads_a_shard_the_workers_read_each_once(http_server, tmp_path, dask_client, monkeypatch):
    """The executor keeps shard indices only: it never walks ``plan.shards`` (all records) or reads a
    shard's plan file; each ingest task reads its own shard's file on its worker, once; a re-run of a
    finished build reads none. (The test cluster's workers are threads of this process, so the reads
    are seen here and told apart by thread.)"""
    import threading

    import data_pipeline.plan as plan_mod

    urls = [http_server.add(f"/lazy{i}.png", Route(body=_png(300 + i), ctype="image/png")) for i in range(7)]
    recipe = _recipe(tmp_path, urls)
    reads: list[tuple[int, bool]] = []
    real_read = plan_mod.read_shard

    def counting_read(folder, index):
        reads.append((index, threading.current_thread() is threading.main_thread()))
        return real_read(folder, index)

    def no_walk(self):
        raise AssertionError("the client walked every shard's records")

    monkeypatch.setattr(plan_mod, "read_shard", counting_read)
    monkeypatch.setattr(plan_mod.ShardPlan, "shards", property(no_walk))
    out = tmp_path / "out"
    s = run_build(recipe, out, ClusterOptions(max_in_flight=1), client=dask_client)
    assert s.n_planned_shards == 4 and s.n_inputs == 7
    assert sorted(reads) == [(0, False), (1, False), (2, False), (3, False)]  # on workers, once each
    reads.clear()
    again = run_build(recipe, out, ClusterOptions(max_in_flight=1), client=dask_client)
    assert again.resumed and again.skipped_shards == 4 and reads == []
    assert validate_dir(out, load=False) == []
