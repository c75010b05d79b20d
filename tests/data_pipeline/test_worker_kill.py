"""A Dask worker process SIGKILLed in the middle of a shard: the task is rerun elsewhere and the
output still holds every input exactly once."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_pipeline.executor import run_build
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import Route

pytestmark = pytest.mark.slow


def test_killed_worker_mid_shard_is_retried(http_server, tmp_path):
    from distributed import Client, LocalCluster

    urls, routes = [], []
    for i in range(8):
        buf = io.BytesIO()
        Image.new("RGB", (40, 40), (30 * i, 255 - 30 * i, (70 * i) % 255)).save(buf, format="PNG")
        routes.append(Route(body=buf.getvalue(), ctype="image/png", delay=0.6))
        urls.append(http_server.add(f"/wk{i}.png", routes[-1]))
    (tmp_path / "urls.jsonl").write_text("".join(f'{{"url": "{u}"}}\n' for u in urls))
    recipe = recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl"}],
                               "sharding": {"samples_per_shard": 2}, "image": {"size": 32},
                               "fetch": {"threads": 1, "read_timeout_s": 10}, "filters": {"exact_dedup": True},
                               "captioner": None}, base_dir=tmp_path)
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(s=run_build(recipe, out, client=client)))
        thread.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            # mid-shard for certain: the server has seen a request of the shard (each takes 0.6 s)
            started = [i // 2 for i, r in enumerate(routes) if r.hits]  # 2 inputs per shard, plan order
            if started:
                name = f"ingest-{started[0]:05d}-"
                owners = [w for w, keys in client.processing().items() if any(name in str(k) for k in keys)]
                victim = owners[0] if owners else None
            time.sleep(0.02)
        assert victim is not None
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=120)
        assert pids[victim] not in client.run(os.getpid).values()  # the killed process really died
    # the victim's shard really ran again: its first input was requested by both attempts
    assert any(r.hits >= 2 for r in routes), [r.hits for r in routes]
    summary = result["s"]
    assert summary.n_inputs == 8 and summary.n_accepted == 8
    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted(r["locator"] for r in rows) == sorted(urls)
    assert validate_dir(out) == []
