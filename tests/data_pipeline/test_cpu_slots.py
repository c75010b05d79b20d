"""Fetch threads overlap their network waits, but only as many images as the worker has CPU slots
are decoded / resized / encoded at once (GIL contention otherwise costs CPU per image)."""

from __future__ import annotations

import io
import threading
import time

from PIL import Image

import data_pipeline.cpu_slots as cpu_slots_module
import data_pipeline.decode as decode_module
import data_pipeline.fetch as fetch_module
from data_pipeline.cpu_slots import cpu_slots
from data_pipeline.plan import prepare_plan
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.stages.ingest import ingest_shard
from tests.data_pipeline.conftest import Route


def _free_permits(sem: threading.BoundedSemaphore) -> int:
    n = 0
    while sem.acquire(blocking=False):
        n += 1
    for _ in range(n):
        sem.release()
    return n


def test_each_dask_worker_has_its_own_slots_one_per_task_thread(dask_client):
    workers = sorted(dask_client.scheduler_info()["workers"])
    got = [dask_client.submit(lambda: (id(cpu_slots()), _free_permits(cpu_slots())), workers=[w], pure=False).result()
           for w in workers]
    # the session cluster has 1 thread per worker; each worker may still use every core (see cpu_slots)
    assert [permits for _, permits in got] == [cpu_slots_module._cores()] * 2
    assert got[0][0] != got[1][0]  # two workers in one process do not share


def test_ingest_decodes_at_most_slots_images_at_once(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_slots_module, "_slots", {})
    monkeypatch.setattr(cpu_slots_module, "_cores", lambda: 1)  # outside Dask: one slot per CPU
    lock = threading.Lock()

    def counting(real, state: dict, pause: float):
        def wrapper(*args, **kwargs):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(pause)  # long enough for other threads to arrive meanwhile
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    state["now"] -= 1
        return wrapper

    decoding, fetching = {"now": 0, "peak": 0}, {"now": 0, "peak": 0}
    monkeypatch.setattr(decode_module, "decode_image", counting(decode_module.decode_image, decoding, 0.02))
    monkeypatch.setattr(fetch_module, "fetch_record", counting(fetch_module.fetch_record, fetching, 0.0))
    urls = []
    for i in range(12):
        buf = io.BytesIO()
        Image.new("RGB", (48, 40), (20 * i, 100, 200 - 10 * i)).save(buf, format="PNG")
        urls.append(http_server.add(f"/slot{i}.png", Route(body=buf.getvalue(), ctype="image/png", delay=0.05)))
    (tmp_path / "urls.jsonl").write_text("".join(f'{{"url": "{u}"}}\n' for u in urls))
    recipe = recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl"}], "image": {"size": 32},
                               "sharding": {"samples_per_shard": 12}, "fetch": {"threads": 8},
                               "captioner": None}, base_dir=tmp_path)
    shard = prepare_plan(recipe, tmp_path / "out")[0].shards[0]  # tasks refuse a folder the client did not plan into
    (tmp_path / "out" / "_stage").mkdir()
    st = ingest_shard(shard, recipe, str(tmp_path / "out"))
    assert st["n_pending"] == 12
    assert decoding["peak"] == 1  # one CPU slot: never two decodes at once
    assert fetching["peak"] > 1  # while the fetches (50 ms server delay each) still overlapped
