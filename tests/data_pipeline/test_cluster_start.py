"""LocalCluster workers are forked from a client that pre-imported the worker-side modules, so a
worker starts with them already loaded; ``spawn`` remains selectable."""

from __future__ import annotations

import sys

import pytest

from data_pipeline.executor import ClusterOptions, dask_client


def _loaded(name: str) -> bool:
    return name in sys.modules


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux only")
def test_forked_worker_inherits_preloaded_modules():
    with dask_client(ClusterOptions(workers=1), preload=("data_pipeline.decode", "csv")) as client:
        assert client.submit(_loaded, "data_pipeline.decode", pure=False).result()
        assert client.submit(_loaded, "csv", pure=False).result()
