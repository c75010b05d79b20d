"""Transport settings (timeouts, retries, concurrency, endpoint, user agent) are not part of the data
set's identity: changing them between resumes is allowed and recorded in the manifest. And every
fetch has a total deadline, so a slow-drip host cannot hold a shard (and, through plan-order dedup,
the whole build) for long."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from data_pipeline.errors import PlanMismatchError
from data_pipeline.executor import run_build
from data_pipeline.fetch import fetch_url
from data_pipeline.recipe import FetchConfig, recipe_from_dict
from tests.data_pipeline.conftest import Route


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (40 * i, 90, 200 - 30 * i)).save(buf, format="PNG")
    return buf.getvalue()


def _data(jsonl: str, **over) -> dict:
    data = {"sources": [{"type": "jsonl", "path": jsonl}], "sharding": {"samples_per_shard": 2}, "image": {"size": 32},
            "fetch": {"read_timeout_s": 5, "retries": 1},
            "captioner": {"backend": "openai", "model": "m", "endpoint": "http://a:1/v1", "concurrency": 4},
            "qc": {"min_words": 1}}
    for k, v in over.items():
        data[k] = {**data[k], **v} if isinstance(data.get(k), dict) else v
    return data


def test_transport_settings_leave_the_fingerprint_alone(tmp_path):
    base = recipe_from_dict(_data("u.jsonl"), base_dir=tmp_path)
    eased = recipe_from_dict(_data(
        "u.jsonl", fetch={"read_timeout_s": 60, "connect_timeout_s": 30, "total_timeout_s": 600, "retries": 8,
                          "backoff_s": 4, "threads": 4, "user_agent": "my-crawler/2 (admin@example.org)"},
        captioner={"endpoint": "http://b:2/v1", "api_key_env": "K", "concurrency": 1, "timeout_s": 900,
                   "max_retries": 9, "breaker_failures": 2, "outage_wait_s": 60,
                   "extra": {"backoff_max_s": 120}}), base_dir=tmp_path)
    assert eased.fingerprint() == base.fingerprint()
    for what in ({"image": {"size": 64}}, {"fetch": {"max_bytes": 10}}, {"captioner": {"model": "other"}},
                 {"captioner": {"extra": {"image_format": "jpeg"}}}):
        assert recipe_from_dict(_data("u.jsonl", **what), base_dir=tmp_path).fingerprint() != base.fingerprint()
    assert eased.transport()["captioner"]["concurrency"] == 1
    assert eased.transport()["captioner"]["extra"] == {"backoff_max_s": 120}


def test_resume_with_eased_fetch_settings_is_allowed_and_recorded(http_server, tmp_path, dask_client):
    urls = [http_server.add(f"/tr{i}.png", Route(body=_png(i), ctype="image/png")) for i in range(4)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps({"url": u}) + "\n" for u in urls))
    first = recipe_from_dict({**_data("u.jsonl"), "captioner": None, "target_accepted": 2}, base_dir=tmp_path)
    out = tmp_path / "out"
    s1 = run_build(first, out, client=dask_client)
    assert s1.n_accepted >= 2
    eased = recipe_from_dict({**_data("u.jsonl", fetch={"read_timeout_s": 30, "threads": 2, "retries": 5,
                                                       "user_agent": "eased/1"}), "captioner": None},
                             base_dir=tmp_path)
    s2 = run_build(eased, out, client=dask_client)
    assert s2.resumed and s2.n_accepted == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["transport"]["fetch"]["read_timeout_s"] == 30.0
    assert manifest["transport"]["fetch"]["user_agent"] == "eased/1"
    changed = recipe_from_dict({**_data("u.jsonl", image={"size": 48}), "captioner": None}, base_dir=tmp_path)
    with pytest.raises(PlanMismatchError):  # what *is* written still may not change
        run_build(changed, out, client=dask_client)


def test_a_slow_drip_host_hits_the_total_deadline(http_server):
    url = http_server.add("/drip.png", Route(body=_png(1) + b"\0" * 400, ctype="image/png", drip_s=0.02))
    cfg = FetchConfig(read_timeout_s=1.5, total_timeout_s=1.0, retries=0)
    t0 = time.monotonic()
    got = fetch_url(url, cfg)
    elapsed = time.monotonic() - t0
    assert got.reason == "timeout" and "total deadline" in got.detail
    assert elapsed < 1.0 + 1.5 + 0.5  # deadline + at most one read timeout (the drip alone takes > 10 s)


def test_retries_and_retry_after_stop_at_the_total_deadline(http_server):
    url = http_server.add("/busy.png", Route(status=503, headers={"Retry-After": "120"}))
    t0 = time.monotonic()
    got = fetch_url(url, FetchConfig(retries=5, total_timeout_s=1.0))
    assert got.reason == "http_503" and time.monotonic() - t0 < 2.5  # not 5 x 120 s of obeying Retry-After
    assert http_server.routes["/busy.png"].hits == 2  # one retry began before the deadline, none after


def test_a_slow_url_does_not_hold_the_build(http_server, tmp_path, dask_client):
    slow = http_server.add("/drip2.png", Route(body=_png(2) + b"\0" * 400, ctype="image/png", drip_s=0.02))
    fast = [http_server.add(f"/fast{i}.png", Route(body=_png(i + 3), ctype="image/png")) for i in range(5)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps({"url": u}) + "\n" for u in [slow, *fast]))
    recipe = recipe_from_dict({**_data("u.jsonl", fetch={"read_timeout_s": 1.5, "total_timeout_s": 1.0,
                                                        "retries": 0}), "captioner": None}, base_dir=tmp_path)
    t0 = time.monotonic()
    s = run_build(recipe, tmp_path / "out", client=dask_client)
    assert s.n_accepted == 5 and s.reasons == {"timeout": 1}
    assert time.monotonic() - t0 < 8  # the drip alone would hold shard 0 (and dedup after it) for > 10 s
