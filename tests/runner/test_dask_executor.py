"""Evaluation on a local Dask cluster of 2 workers equals a single-process run, and survives a worker death.

One cluster for the module (starting worker processes costs seconds on 2 cores). The echo adapter
(``tests/helpers/echo_adapter.py``) appends one line per batch it starts to ``ECHO_ADAPTER_LOG``;
workers inherit the variable when the cluster starts, so the log counts what every worker computed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from unified_bench.runner.dask_executor import client_executor_factory, dask_client, local_worker_pids  # noqa: E402
from unified_bench.runner.evaluate import evaluate  # noqa: E402
from unified_bench.specs import ClusterSpec, ExecutionOptions, RunSpec  # noqa: E402

LIMIT = 4


@pytest.fixture(scope="module")
def echo_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("echo") / "calls.log"


@pytest.fixture(scope="module")
def client(echo_log):
    saved = {k: os.environ.get(k) for k in ("ECHO_ADAPTER_LOG", "ECHO_ADAPTER_DELAY")}
    os.environ["ECHO_ADAPTER_LOG"] = str(echo_log)  # inherited by the worker processes
    os.environ["ECHO_ADAPTER_DELAY"] = "1.5"
    try:
        with dask_client(ClusterSpec(workers=2)) as c:
            yield c
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _spec(model: str, encoders: dict, batch_size: int = 1) -> RunSpec:
    from unified_bench.demo.runs import unified_demo_run

    run = unified_demo_run(model, encoders)
    return dataclasses.replace(run, limit=LIMIT, runtime=dataclasses.replace(run.runtime, batch_size=batch_size))


def _summary(results) -> dict:
    return {
        "samples": [(s.id, s.status, s.outputs.get("caption"), s.outputs.get("generated_sha256"), s.scores, s.seeds)
                    for s in results.samples],
        "aggregates": {k: (a.mean, a.ci_low, a.ci_high, a.n) for k, a in results.aggregates.items()},
        "overall": None if results.overall is None else results.overall.mean,
    }


def _options(out: Path) -> ExecutionOptions:
    return ExecutionOptions(out=out, show_progress=False, report=False)


def test_two_workers_equal_one_process_and_resume_locally(client, demo_encoders, tmp_path):
    from unified_bench.demo.models import build_demo_janus

    janus = str(build_demo_janus(tmp_path / "janus"))
    run = _spec(janus, demo_encoders)
    single = evaluate(run, _options(tmp_path / "single"))
    client_copies = []

    def factory(adapter, spec):
        client_copies.append(adapter)
        return client_executor_factory(client)(adapter, spec)

    distributed = evaluate(run, _options(tmp_path / "dask"), factory)
    assert _summary(distributed.results) == _summary(single.results)
    assert distributed.results.model == single.results.model  # same identity from the description alone
    # The workers did the work: the client's copy was only described (on a GPU box its weights would
    # have shared GPU 0 with worker 0's copy).
    assert client_copies[0].weights_loads == 0
    assert distributed.summaries["caption"].computed == LIMIT
    assert distributed.summaries["generate"].computed == LIMIT
    # Same keys on the cluster and locally: the cluster's run directory resumes in-process with
    # nothing left to compute (and in the other direction the runner code is the same).
    again = evaluate(run, _options(tmp_path / "dask"))
    assert {n: s.computed for n, s in again.summaries.items()} == {"caption": 0, "generate": 0, "score": 0}
    assert _summary(again.results) == _summary(single.results)


def _generate_lines(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("generate")]


def test_a_killed_worker_loses_only_its_batch(client, demo_encoders, echo_log, tmp_path):
    echo_log.unlink(missing_ok=True)
    run = _spec("py:tests.helpers.echo_adapter:make_slow", demo_encoders)
    killed: dict[str, int] = {}
    pids = local_worker_pids(client)  # asked now, so the kill below follows the log line at once

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while len(_generate_lines(echo_log)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # both workers are now inside a generate batch (1.5 s each)
        busy = [addr for addr, keys in client.processing().items() if keys and addr in pids]
        addr = busy[0]
        killed[addr] = pids[addr]
        os.kill(pids[addr], signal.SIGKILL)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    distributed = evaluate(run, _options(tmp_path / "dask"), client_executor_factory(client))
    killer.join(timeout=5)
    assert killed, "the test did not manage to kill a worker"
    lines = _generate_lines(echo_log)
    # Batch size 1: LIMIT batches, plus exactly one recomputed: the batch the dead worker was running.
    assert sum(lines) == LIMIT + 1, lines
    assert distributed.summaries["generate"].computed == LIMIT

    echo_log.unlink(missing_ok=True)
    single = evaluate(run, _options(tmp_path / "single"))
    assert sum(_generate_lines(echo_log)) == LIMIT
    assert _summary(distributed.results) == _summary(single.results)


def test_what_a_served_model_refused_on_a_worker_reaches_the_results(client, demo_encoders, tmp_path):
    """The workers talk to the server, so only they learn that it refused the seed: the flag must come back."""
    from tests.models.served_server import ServedTestServer

    with ServedTestServer(accepts_image_seed=False) as server:
        run = _spec(f"openai:tiny-vlm@{server.url}", demo_encoders, batch_size=2)
        distributed = evaluate(run, _options(tmp_path / "dask"), client_executor_factory(client))
    flags = distributed.results.settings["provenance_flags"]
    assert "seed" in flags["parameters refused by the server"]
    assert "unpinned served model" in flags


def _worker_settings() -> tuple:
    import dask

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled")


def test_local_workers_run_without_the_malloc_trim_threshold_and_the_profiler(monkeypatch):
    # Dask's default MALLOC_TRIM_THRESHOLD_ made every batch of the demo Stable Diffusion ~35% slower
    # (each activation over 128 KB mmapped and page-faulted afresh); the profiler samples every 10 ms.
    # Not inherited from this process either (the pipeline's tests export Dask's pre-spawn variables).
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask_client(ClusterSpec(workers=1)) as c:
        pid = next(iter(local_worker_pids(c).values()))
        assert set(c.run(_worker_settings).values()) == {(None, False)}
        os.kill(pid, signal.SIGKILL)  # its replacement is a new Nanny: same settings
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                pids = set(local_worker_pids(c).values())
            except OSError:  # the dead worker's connection, asked before the scheduler noticed
                continue
            if pids and pid not in pids:
                break
        assert set(c.run(_worker_settings).values()) == {(None, False)}
