"""Builds on a cluster of separate processes, started the way data_pipeline/README.md tells users to
(``dask scheduler`` + ``dask worker``), with the workers in another working directory: a relative
``--out`` still lands in one folder, a worker killed in the middle of a *finalize* costs nothing, a
worker without the captioner's API key is caught before any ingest, and a second concurrent build
of the same folder is refused. Late-joining workers widen the in-flight window."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_pipeline.errors import DataPipelineError, OutputDirError
from data_pipeline.executor import run_build
from data_pipeline.locking import build_lock
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from tests.data_pipeline.captioner_fixtures import ChatServer, completion
from tests.data_pipeline.conftest import REPO, Route

pytestmark = pytest.mark.slow
DASK = str(Path(sys.executable).with_name("dask"))


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (30 * i % 255, 255 - 30 * i % 255, (70 * i) % 255)).save(buf, format="PNG")
    return buf.getvalue()


class ProcessCluster:
    """``dask scheduler`` and ``dask worker`` subprocesses on loopback, workers in their own cwd."""

    def __init__(self, root: Path, n_workers: int, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.sched_file = root / "scheduler.json"
        self.worker_cwd = root / "worker-cwd"
        self.worker_cwd.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(self.sched_file)], cwd=root, env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        deadline = time.monotonic() + 60
        while not self.sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(n_workers):
            self.add_worker()

    def add_worker(self, env: dict[str, str] | None = None) -> None:
        self.procs.append(subprocess.Popen(
            [DASK, "worker", "--scheduler-file", str(self.sched_file), "--host", "127.0.0.1", "--nthreads", "1",
             "--no-nanny", "--no-dashboard"], cwd=self.worker_cwd, env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def client(self, n_workers: int):
        from distributed import Client

        client = Client(scheduler_file=str(self.sched_file), timeout="60s")
        client.wait_for_workers(n_workers, timeout=120)
        return client

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ProcessCluster(tmp_path_factory.mktemp("cluster"), 2, env={"CAPTION_KEY_T": "sk-test"})
    yield c
    c.close()


def _url_recipe(http_server, tmp_path, n: int, prefix: str, delay: float = 0.0, **extra):
    urls = [http_server.add(f"/{prefix}{i}.png", Route(body=_png(i + 1), ctype="image/png", delay=delay))
            for i in range(n)]
    (tmp_path / "urls.jsonl").write_text("".join(json.dumps({"url": u}) + "\n" for u in urls))
    data = {"sources": [{"type": "jsonl", "path": "urls.jsonl"}], "sharding": {"samples_per_shard": 2},
            "image": {"size": 32}, "fetch": {"threads": 1}, "filters": {"exact_dedup": True}, "captioner": None}
    data.update(extra)
    return recipe_from_dict(data, base_dir=tmp_path), urls


def test_relative_out_on_an_external_cluster(cluster, http_server, tmp_path, monkeypatch):
    recipe, urls = _url_recipe(http_server, tmp_path, 4, "rel")
    client_cwd = tmp_path / "client-cwd"
    client_cwd.mkdir()
    monkeypatch.chdir(client_cwd)
    with cluster.client(2) as client:
        s = run_build(recipe, "data/rel-out", client=client)
    out = client_cwd / "data" / "rel-out"
    assert s.out_dir == str(out) and s.n_accepted == 4
    assert validate_dir(out) == []
    assert not (cluster.worker_cwd / "data").exists()  # nothing went to the workers' own cwd


def test_killed_worker_mid_finalize_on_separate_processes(cluster, http_server, tmp_path):
    caption = " ".join(f"w{i}" for i in range(12)) + "."
    with ChatServer(lambda i, b: (200, {}, completion(caption), 0.4)) as chat:
        recipe, urls = _url_recipe(http_server, tmp_path, 8, "kf", captioner={
            "backend": "openai", "model": "m", "endpoint": chat.endpoint, "api_key_env": "CAPTION_KEY_T",
            "concurrency": 1, "batch_size": 1, "max_new_tokens": 16},
            qc={"min_words": 3, "max_words": 50})
        out = tmp_path / "out"
        with cluster.client(2) as client:
            pids = client.run(os.getpid)
            result: dict = {}
            thread = threading.Thread(target=lambda: result.update(s=run_build(recipe, out, client=client)))
            thread.start()
            victim = None
            first_seen: dict[tuple[str, str], float] = {}
            deadline = time.monotonic() + 90
            while victim is None and time.monotonic() < deadline:
                now = time.monotonic()
                for w, keys in client.processing().items():
                    for k in keys:
                        if "finalize-" in str(k):
                            first_seen.setdefault((w, str(k)), now)
                # A finalize that has run for over a second on one worker has sent at least one caption
                # request (one at a time, 0.4 s each) and is still captioning: kill that worker.
                running = [w for (w, _k), t0 in first_seen.items() if now - t0 > 1.0
                           and any("finalize-" in str(k) for k in client.processing().get(w, ()))]
                if running and chat.requests:
                    victim = running[0]
                time.sleep(0.02)
            assert victim is not None
            os.kill(pids[victim], signal.SIGKILL)
            cluster.add_worker()  # the cluster heals, as a batch system would
            thread.join(timeout=180)
    s = result["s"]
    assert s.n_inputs == 8 and s.n_accepted == 8
    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted(r["locator"] for r in rows) == sorted(urls)
    assert len(chat.requests) > 8  # the killed finalize really captioned, and its shard was captioned again
    assert validate_dir(out) == []


def test_worker_without_the_api_key_is_caught_before_any_ingest(http_server, tmp_path):
    c = ProcessCluster(tmp_path / "c", 1)  # this worker's environment lacks the key
    try:
        recipe, urls = _url_recipe(http_server, tmp_path, 2, "key", captioner={
            "backend": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1", "api_key_env": "NO_SUCH_KEY_T"})
        with c.client(1) as client, pytest.raises(DataPipelineError, match="NO_SUCH_KEY_T") as err:
            run_build(recipe, tmp_path / "out", client=client)
        assert "export NO_SUCH_KEY_T" in str(err.value)
        assert [http_server.routes[f"/key{i}.png"].hits for i in range(2)] == [0, 0]
        assert not list((tmp_path / "out").glob("_stage/*.parquet"))  # nothing was ingested
    finally:
        c.close()


def test_worker_that_cannot_see_the_output_folder_is_named(tmp_path):
    from data_pipeline.preflight import worker_check

    (tmp_path / "out").mkdir()
    assert worker_check(str(tmp_path / "out"), ".preflight-x", [], None) == \
        [f"cannot see the output folder {tmp_path / 'out'} (the client's marker file is not there)"]
    (tmp_path / "out" / ".preflight-x").write_text(".preflight-x")
    assert worker_check(str(tmp_path / "out"), ".preflight-x", [str(tmp_path / "nope.jpg")], None) == \
        [f"cannot read local source {tmp_path / 'nope.jpg'}"]


def test_second_concurrent_build_is_refused(tmp_path, dask_client):
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(REPO / "tests/data_pipeline/fixtures/images")}],
                               "image": {"size": 32}, "captioner": None}, base_dir=tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with build_lock(out), pytest.raises(OutputDirError, match="Another build is writing"):
        run_build(recipe, out, client=dask_client)
    s = run_build(recipe, out, client=dask_client)  # released: the next build runs
    assert s.n_accepted > 0 and not (out / ".unified-data.lock").exists()


def test_late_joining_workers_widen_the_window(http_server, tmp_path):
    from distributed import Client, LocalCluster

    recipe, urls = _url_recipe(http_server, tmp_path, 24, "late", delay=0.3)

    def ingest_in_flight(dask_scheduler) -> int:
        return sum(1 for ts in dask_scheduler.tasks.values()
                   if str(ts.key).startswith("ingest-") and ts.state not in ("memory", "released", "forgotten"))

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      protocol="tcp", host="127.0.0.1") as lc, Client(lc) as client:
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(s=run_build(recipe, tmp_path / "out", client=client)))
        thread.start()
        seen_before, seen_after = 0, 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            seen_before = max(seen_before, client.run_on_scheduler(ingest_in_flight))
            time.sleep(0.05)
        lc.scale(3)
        client.wait_for_workers(3, timeout=60)
        while thread.is_alive():
            seen_after = max(seen_after, client.run_on_scheduler(ingest_in_flight))
            time.sleep(0.05)
        thread.join()
    assert seen_before <= 2 < seen_after  # 2 per worker registered now, not at connect time
    assert result["s"].n_accepted == 24


def test_a_task_on_a_worker_without_the_shared_folder_fails_clearly(tmp_path):
    """A worker that joined after the preflight and lacks the mount must not write shards to its own disk."""
    from data_pipeline.plan import prepare_plan
    from data_pipeline.stages.ingest import ingest_shard

    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(REPO / "tests/data_pipeline/fixtures/images")}],
                               "image": {"size": 16}, "captioner": None}, base_dir=tmp_path)
    missing = tmp_path / "not-mounted-here"
    with pytest.raises(DataPipelineError, match="does not see the output folder"):
        ingest_shard(prepare_plan(recipe, tmp_path / "planned")[0].shards[0], recipe, str(missing))
    assert not missing.exists()


def test_preflight_covers_a_local_source_that_starts_late_in_the_plan(tmp_path):
    from data_pipeline.plan import load_plan, write_plan
    from data_pipeline.preflight import local_paths
    from data_pipeline.records import InputRecord

    def rec(i, source, kind="path"):
        locator = f"/data/{source}/{i}.jpg" if kind == "path" else f"https://h/{i}.jpg"
        return InputRecord(f"{source}-{i}", kind, locator, source)

    records = [rec(i, "urls", "url") for i in range(20)] + [rec(20 + i, "photos") for i in range(3)]
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(tmp_path)}],
                               "sharding": {"samples_per_shard": 1}})
    write_plan(recipe, tmp_path / "out" / "plan", records)
    assert local_paths(load_plan(tmp_path / "out")) == ["/data/photos/20.jpg"]  # kept in the plan head


def test_a_lock_won_on_a_deleted_lock_file_is_not_a_lock(tmp_path, monkeypatch):
    """The holder deletes the file before unlocking: a build that locked the old file must try the new one."""
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    # Simulate the race: a file at the path that is not the one this build will have locked.
    real_open = os.open
    calls = {"n": 0}

    def racing_open(p, flags, mode=0o777):
        fd = real_open(p, flags, mode)
        calls["n"] += 1
        if calls["n"] == 1:  # after our open, the old holder deletes and a third build recreates it
            os.unlink(p)
            real_open(p, os.O_RDWR | os.O_CREAT, 0o644)
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    with build_lock(out) as path:
        fd = real_open(path, os.O_RDWR)
        with pytest.raises(OSError):  # the lock is held on the file that is really there
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    assert calls["n"] == 2  # it opened the path again and locked the file that is there
