"""LocalCluster workers come from a fork server that pre-imported the worker-side modules and froze
the garbage collector, so a worker starts warm and is not a fork of the multi-threaded client."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest

from data_pipeline.executor import WORKER_MODULES, ClusterOptions, dask_client, local_start_method


def _worker_state() -> dict:
    return {"loaded": [m for m in WORKER_MODULES if m in sys.modules], "frozen": gc.get_freeze_count(),
            "parent": os.getppid(), "env": (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MALLOC_TRIM_THRESHOLD_")),
            "timers": _timers()}


def _timers() -> tuple:
    """The periodic-work settings this process's Dask servers were started with (``LOCAL_WORKER_CONFIG``)."""
    import dask

    return tuple(dask.config.get(k) for k in ("distributed.admin.tick.interval",
                                              "distributed.admin.system-monitor.interval",
                                              "distributed.worker.profile.enabled"))


@pytest.mark.skipif(sys.platform != "linux", reason="forkserver is the default start method on POSIX")
def test_workers_start_warm_from_the_fork_server_not_from_the_client():
    opts = ClusterOptions(workers=1)
    assert local_start_method(opts) == "forkserver"
    with dask_client(opts) as client:
        state = client.submit(_worker_state, pure=False).result()
    assert state["loaded"] == list(WORKER_MODULES)
    assert state["frozen"] > 0  # 0 unless gc.freeze() ran: the fork server froze the heap the worker inherited
    assert state["parent"] != os.getpid()  # forked by the fork server, not by this multi-threaded process
    # Dask's pre-spawn environment, less MALLOC_TRIM_THRESHOLD_ (~30% of the per-image work: core.dask_workers)
    assert state["env"] == ("1", None)
    # the event-loop tick and the system monitor at 200 ms / 2 s, not 20 ms / 0.5 s (benchmarks/bench_cluster_idle.py)
    assert state["timers"] == ("200ms", "2s", False)


def test_torch_is_preloaded_only_for_the_resizes_it_runs():
    from data_pipeline.fast_bilinear import preload_modules
    from data_pipeline.recipe import ImageConfig

    assert preload_modules(ImageConfig(resize_mode="keep_ratio", resample="bilinear")) == ("torch",)
    assert preload_modules(ImageConfig(resize_mode="pad", resample="bilinear")) == ("torch",)
    assert preload_modules(ImageConfig(resize_mode="center_crop", resample="bilinear")) == ()
    assert preload_modules(ImageConfig(resize_mode="keep_ratio", resample="lanczos")) == ()
    assert preload_modules(None) == ()


def test_start_method_follows_the_options():
    assert local_start_method(ClusterOptions(start_method="spawn")) == "spawn"
    assert local_start_method(ClusterOptions(processes=False)) is None
    assert local_start_method(ClusterOptions(scheduler="tcp://127.0.0.1:8786")) is None


def _new_modules_after_a_shard(recipe, shard, out_dir: str) -> list[str]:
    from data_pipeline.stages.finalize import finalize_shard
    from data_pipeline.stages.ingest import ingest_shard

    before = set(sys.modules)
    ingest_shard(shard, recipe=recipe, out_dir=out_dir)
    finalize_shard(shard.index, recipe, out_dir, {})
    return sorted(set(sys.modules) - before)


def _modules_a_worker_imports_for_a_shard(folder: str) -> list[str]:
    """In a fresh interpreter (``__main__`` of the subprocess below): one shard of a bilinear keep-ratio
    build on a 1-worker LocalCluster started for that recipe, as ``unified-data build`` starts it."""
    from pathlib import Path

    from data_pipeline.plan import prepare_plan
    from data_pipeline.recipe import recipe_from_dict

    tmp = Path(folder)
    recipe = recipe_from_dict({"sources": [{"type": "folder", "path": str(tmp / "imgs")}],
                               "image": {"size": 16}, "captioner": None})
    shard = prepare_plan(recipe, tmp / "out")[0].shards[0]  # tasks refuse a folder the client did not plan into
    (tmp / "out" / "_stage").mkdir()
    with dask_client(ClusterOptions(workers=1), recipe.image) as client:
        return client.submit(_new_modules_after_a_shard, recipe, shard, str(tmp / "out"), pure=False).result()


@pytest.mark.skipif(sys.platform != "linux", reason="forkserver is the default start method on POSIX")
def test_a_warm_worker_imports_nothing_heavy_while_working(tmp_path):
    """Unpickling a task's arguments and running it must not import modules on the worker's clock
    (it did: the pydantic recipe, ~0.2 s per worker at its first task; torch would be ~1.3 s). In a fresh
    interpreter: a process has one fork server, started with the preload of the first cluster it ran."""
    import json
    import subprocess

    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.new("RGB", (40, 30), (90 * i, 50, 20)).save(tmp_path / "imgs" / f"{i}.jpg")
    code = ("import json, sys; from tests.data_pipeline.test_cluster_start import _modules_a_worker_imports_for_a_shard"
            " as run; print(json.dumps(run(sys.argv[1])))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    new = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = ("data_pipeline", "pydantic", "pyarrow", "pandas", "PIL", "scipy", "numpy", "imagehash", "urllib3", "torch",
             "simplejpeg")
    bad = [m for m in new if m.split(".")[0] in heavy]
    assert bad == [], " ".join(bad[:20])
