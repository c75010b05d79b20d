"""Resume after a real SIGKILL of the CLI (and its Dask workers): every input exactly once.

The CLI runs as a subprocess in its own process group with a 1-process LocalCluster. It is killed
once during ingest (first staged shard) and once during writing (first committed shard), then
run to completion; the output must validate with each planned input in exactly one row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from data_pipeline.plan import iter_plan_records, load_plan
from data_pipeline.validate import validate_dir

pytestmark = pytest.mark.slow


def _cli(args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "data_pipeline.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def _run_and_kill_when(args, marker_glob: Path, timeout: float = 90.0) -> None:
    proc = _cli(args)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if list(marker_glob.parent.glob(marker_glob.name)):
                os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its nanny and worker: all of our group
                break
            if proc.poll() is not None:
                pytest.fail(f"CLI ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        else:
            pytest.fail("marker never appeared")
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()


def test_sigkill_twice_then_resume_gives_exactly_once(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(src / f"img{i:03d}.png")
    (src / "img999.png").write_bytes(b"")  # one broken input among them
    recipe = {"name": "kill", "sources": [{"type": "folder", "path": str(src)}],
              "sharding": {"samples_per_shard": 2}, "image": {"size": 32, "format": "jpg"},
              "fetch": {"threads": 2}, "filters": {"exact_dedup": True, "near_dup_distance": 2}, "captioner": None}
    rpath = tmp_path / "recipe.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    args = ["build", str(rpath), "--out", str(out), "--workers", "1"]

    _run_and_kill_when(args, out / "_stage" / "*_stats.json")
    assert not (out / "manifest.json").exists()
    _run_and_kill_when(args, out / "*_stats.json")
    n_committed = len(list(out.glob("*_stats.json")))
    assert 0 < n_committed < 31 and not (out / "manifest.json").exists()

    done = subprocess.run([sys.executable, "-m", "data_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    planned = [r.id for r in iter_plan_records(load_plan(out))]
    assert len(planned) == 61 == len(set(planned))
    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted(r["key"] for r in rows) == sorted(planned)  # every input exactly once
    keys_in_tars = []
    for tar in sorted(out.glob("*.tar")):
        with tarfile.open(tar) as tf:
            keys_in_tars += sorted({m.name.split(".")[0] for m in tf.getmembers()})
    assert sorted(keys_in_tars) == sorted(r["key"] for r in rows if r["status"] == "accepted")
    assert len(keys_in_tars) == len(set(keys_in_tars)) == 60
    assert [r["reason"] for r in rows if r["status"] != "accepted"] == ["empty"]
    assert validate_dir(out) == []
    assert not list(out.glob("*.tmp-*")) and not list((out / "_stage").glob("*.parquet"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_inputs"] == 61 and manifest["n_shards"] == 31
