"""LocalCluster workers come from a fork server that pre-imported the worker-side modules and froze
the garbage collector, so a worker starts warm and is not a fork of the multi-threaded client."""

from __future__ import annotations

import gc
import os
import sys

import pytest

from data_pipeline.executor import WORKER_MODULES, ClusterOptions, dask_client, local_start_method


def _worker_state() -> dict:
    return {"loaded": [m for m in WORKER_MODULES if m in sys.modules], "frozen": gc.get_freeze_count(),
            "parent": os.getppid()}


@pytest.mark.skipif(sys.platform != "linux", reason="forkserver is the default start method on POSIX")
def test_workers_start_warm_from_the_fork_server_not_from_the_client():
    opts = ClusterOptions(workers=1)
    assert local_start_method(opts) == "forkserver"
    with dask_client(opts) as client:
        state = client.submit(_worker_state, pure=False).result()
    assert state["loaded"] == list(WORKER_MODULES)
    assert state["frozen"] > 10_000  # the inherited heap is frozen (gc.freeze before the fork)
    assert state["parent"] != os.getpid()  # forked by the fork server, not by this multi-threaded process


def test_start_method_follows_the_options():
    assert local_start_method(ClusterOptions(start_method="spawn")) == "spawn"
    assert local_start_method(ClusterOptions(processes=False)) is None
    assert local_start_method(ClusterOptions(scheduler="tcp://127.0.0.1:8786")) is None
