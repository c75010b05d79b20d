"""GPU placement checks of the Dask executor that need neither a GPU nor a cluster."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

from unified_bench.errors import SpecError  # noqa: E402
from unified_bench.runner import dask_executor  # noqa: E402
from unified_bench.specs import ClusterSpec, RuntimeOptions, parse_model_spec  # noqa: E402


class FakeClient:
    def __init__(self, workers: dict) -> None:
        self._workers = workers

    def scheduler_info(self) -> dict:
        return {"workers": self._workers}


def test_cuda_batches_ask_for_one_gpu_and_need_gpu_workers():
    gpu = FakeClient({"tcp://a:1": {"resources": {"GPU": 1}}})
    assert dask_executor.worker_resources(gpu, "cuda") == {"GPU": 1}
    assert dask_executor.worker_resources(gpu, "cpu") is None
    with pytest.raises(SpecError, match="no Dask worker advertises a GPU"):
        dask_executor.worker_resources(FakeClient({"tcp://a:1": {"resources": {}}}), "cuda")


def test_more_local_workers_than_gpus_is_refused(monkeypatch):
    monkeypatch.setattr(dask_executor, "cuda_device_count", lambda: 2)
    with pytest.raises(SpecError, match="needs 3 GPUs"), dask_executor.dask_client(ClusterSpec(workers=3), "cuda"):
        pass


def test_worker_model_cache_key_ignores_batch_size_and_seed():
    model = parse_model_spec("hf:org/model")
    a = RuntimeOptions("cpu", "fp32", batch_size=2, seed=1)
    b = RuntimeOptions("cpu", "fp32", batch_size=8, seed=7)
    assert dask_executor.model_key(model, a) == dask_executor.model_key(model, b)
    assert dask_executor.model_key(model, a) != dask_executor.model_key(model, RuntimeOptions("cpu", "bf16"))


def test_in_flight_scales_with_workers_and_the_runner_sees_a_concurrent_executor():
    from unified_bench.runner.executor import ConcurrentExecutor

    client = FakeClient({"a": {}, "b": {}, "c": {}})
    executor = dask_executor.DaskExecutor(client, parse_model_spec("hf:org/m"), RuntimeOptions("cpu", "fp32"))
    assert executor.max_in_flight == 6
    # Every member of the protocol (run, submit, release, close, max_in_flight): otherwise the runner
    # would silently take the one-batch-at-a-time path and a cluster would run on one worker.
    assert isinstance(executor, ConcurrentExecutor)
