"""A captioner outage never burns inputs: a circuit breaker stops hammering a failing endpoint, the
caption stage waits for it (up to ``outage_wait_s``), a shard still uncaptioned then is left staged
(deferred) instead of committing ``caption_error`` rows, and a re-run captions it."""

from __future__ import annotations

import time

import pyarrow.parquet as pq

from data_pipeline.captioners.base import CaptionerConfig
from data_pipeline.captioners.openai_compat import OpenAICompatCaptioner
from data_pipeline.executor import run_build
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from tests.data_pipeline.captioner_fixtures import ChatServer, completion, make_images
from tests.data_pipeline.conftest import FIXTURE_IMAGES

CAPTION = " ".join(f"word{i}" for i in range(20)) + "."
FAST = {"backoff_base_s": 0.05, "backoff_max_s": 0.2}


def _down_for(n_failures: int):
    """Answers 503 to the first requests (the endpoint is down), then captions."""
    def behaviour(i, body):
        return (503, {}, None, 0) if i < n_failures else (200, {}, completion(CAPTION), 0)
    return behaviour


def _recipe(tmp_path, endpoint: str, outage_wait_s: float, **extra):
    return recipe_from_dict({
        "sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}], "sharding": {"samples_per_shard": 4},
        "image": {"size": 32}, "filters": {"exact_dedup": False},
        "captioner": {"backend": "openai", "model": "m", "endpoint": endpoint, "max_retries": 1, "concurrency": 2,
                      "batch_size": 4, "breaker_failures": 2, "outage_wait_s": outage_wait_s, "extra": FAST},
        "qc": {"min_words": 5, "max_words": 100}, **extra}, base_dir=tmp_path)


def _rows(out):
    return [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_endpoint_down_then_up_loses_no_sample(tmp_path, dask_client):
    with ChatServer(_down_for(12)) as server:
        s = run_build(_recipe(tmp_path, server.endpoint, outage_wait_s=60), tmp_path / "out", client=dask_client)
        n_requests = len(server.requests)
    rows = _rows(tmp_path / "out")
    assert s.n_inputs == 8 and s.n_accepted == 8, {r["reason"] for r in rows}
    assert not any(r["reason"] == "caption_error" for r in rows)
    assert n_requests >= 12 + 8  # the outage was real: 12 failed requests came before the 8 captions
    assert validate_dir(tmp_path / "out") == []


def test_breaker_stops_requests_to_a_failing_endpoint():
    with ChatServer(lambda i, b: (503, {}, None, 0)) as server:
        cap = OpenAICompatCaptioner(CaptionerConfig(backend="openai", model="m", endpoint=server.endpoint,
                                                    max_retries=0, concurrency=1, breaker_failures=3,
                                                    extra={"backoff_base_s": 5.0, "backoff_max_s": 5.0}))
        t0 = time.monotonic()
        results = cap.caption_batch(make_images(6))
        elapsed = time.monotonic() - t0
    assert all(r.transport_error and r.text is None for r in results)
    assert len(server.requests) == 3  # then the circuit opened: the other requests failed fast, unsent
    assert elapsed < 5  # the open circuit answered at once, without waiting for its 5 s pause


def test_long_outage_defers_shards_and_a_rerun_captions_them(tmp_path, dask_client):
    out = tmp_path / "out"
    with ChatServer(lambda i, b: (503, {}, None, 0)) as down:
        first = run_build(_recipe(tmp_path, down.endpoint, outage_wait_s=0.5, target_accepted=8), out,
                          client=dask_client)
    assert first.n_accepted == 0 and first.n_shards == 0  # nothing committed, no caption_error rows
    assert len(list((out / "_stage").glob("*.parquet"))) == 2  # both shards staged, waiting
    with ChatServer(lambda i, b: (200, {}, completion(CAPTION), 0)) as up:
        # a new endpoint is a transport change: the same folder resumes
        second = run_build(_recipe(tmp_path, up.endpoint, outage_wait_s=0.5, target_accepted=8), out,
                           client=dask_client)
    assert second.resumed and second.n_accepted == 8
    assert not any(r["reason"] == "caption_error" for r in _rows(out))
    assert validate_dir(out) == []


def test_an_unreachable_endpoint_does_not_consume_the_url_list_in_target_mode(http_server, tmp_path, dask_client):
    import io
    import json

    from PIL import Image

    from tests.data_pipeline.conftest import Route

    routes = []
    for i in range(60):
        buf = io.BytesIO()
        Image.new("RGB", (36, 30), (4 * i, 255 - 4 * i, 90)).save(buf, format="PNG")
        routes.append(Route(body=buf.getvalue(), ctype="image/png"))
    urls = [http_server.add(f"/tgt{i}.png", r) for i, r in enumerate(routes)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps({"url": u}) + "\n" for u in urls))
    with ChatServer(lambda i, b: (503, {}, None, 0)) as down:
        recipe = recipe_from_dict({
            "sources": [{"type": "jsonl", "path": "u.jsonl"}], "sharding": {"samples_per_shard": 2},
            "image": {"size": 32}, "target_accepted": 60,
            "captioner": {"backend": "openai", "model": "m", "endpoint": down.endpoint, "max_retries": 0,
                          "breaker_failures": 2, "outage_wait_s": 0.3, "extra": FAST},
            "qc": {"min_words": 5}}, base_dir=tmp_path)
        s = run_build(recipe, tmp_path / "out", client=dask_client)
    fetched = sum(r.hits > 0 for r in routes)
    assert s.n_accepted == 0 and not _rows(tmp_path / "out")  # no caption_error committed
    # at most 3W shards open (W = 2 per worker, 2 workers) of 2 inputs, and none issued after the outage
    assert fetched <= 3 * 4 * 2 < 60


def test_bad_outage_settings_are_named():
    import pytest

    from data_pipeline.captioners.errors import CaptionerError

    with pytest.raises(CaptionerError, match="breaker_failures=0"):
        OpenAICompatCaptioner(CaptionerConfig(backend="openai", model="m", endpoint="http://127.0.0.1:9/v1",
                                              breaker_failures=0))
