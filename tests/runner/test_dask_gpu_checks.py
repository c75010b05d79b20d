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


class RecordingClient(FakeClient):
    """Records what each submitted task would run with (no cluster: the argument plumbing only)."""

    def __init__(self) -> None:
        super().__init__({"a": {}})
        self.submitted: list[tuple] = []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(args)
        return None


def test_a_release_rides_with_every_later_batch_instead_of_a_round_trip():
    # Why: a blocking ``client.run`` to every worker between stages idled all workers ~0.3 s per stage.
    from unified_bench.models.base import Capability
    from unified_bench.runner.executor import BatchCall

    client = RecordingClient()
    executor = dask_executor.DaskExecutor(client, parse_model_spec("hf:org/m"), RuntimeOptions("cpu", "fp32"))
    call = BatchCall("caption", Capability.CAPTION, None, (), ())
    executor.submit(call)
    executor.release(frozenset({Capability.CAPTION}))
    executor.submit(call)
    executor.submit(call)
    releases = [args[3] for args in client.submitted]
    assert releases == [frozenset(), frozenset({Capability.CAPTION}), frozenset({Capability.CAPTION})]


def test_a_worker_drops_the_released_half_before_running_the_batch(tmp_path):
    """The composite's captioner leaves the worker before the generator's first batch (real tiny models)."""
    import io

    from PIL import Image

    from unified_bench.demo.models import build_demo_t2i, build_demo_vlm
    from unified_bench.models.base import Capability
    from unified_bench.runner.executor import BatchCall
    from unified_bench.specs import CaptionSettings, GenerationSettings
    from unified_bench.tasks.base import Request

    model = parse_model_spec(f"{build_demo_vlm(tmp_path / 'vlm')}+{build_demo_t2i(tmp_path / 't2i')}")
    runtime = RuntimeOptions("cpu", "fp32", seed=0)
    png = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(png, format="PNG")
    caption = BatchCall("caption", Capability.CAPTION, CaptionSettings(max_new_tokens=4),
                        (Request("s", images=(png.getvalue(),)),), (1,))
    generate = BatchCall("generate", Capability.GENERATE,
                         GenerationSettings(height=64, width=64, num_inference_steps=2),
                         (Request("s", text="a red square"),), (2,))
    try:
        dask_executor.run_batch_on_worker(model, runtime, caption)
        adapter = dask_executor._WORKER_MODELS[dask_executor.model_key(model, runtime)]
        assert adapter.understanding._model is not None
        done = frozenset(adapter.capabilities - {Capability.GENERATE})  # what the runner releases after captions
        out = dask_executor.run_batch_on_worker(model, runtime, generate, done)
        assert "png" in out[0]
        assert adapter.understanding._model is None  # released before the generator ran
        assert adapter.generation._pipe is not None
    finally:
        dask_executor.release_worker_models()
