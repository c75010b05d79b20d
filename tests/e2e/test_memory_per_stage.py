"""Memory as a user's single GPU needs it: one component on the device at a time (issue 8, item 7).

A composite ``LLaVA+StableDiffusion`` run must caption with only the captioner loaded, release it
before the generator loads, and keep every scoring encoder's weights out of memory until both are
gone. Observed from the outside on the real demo models: live ``torch.nn.Module`` objects created
during the run (``gc`` + weak references; nothing of the loading code is replaced), and on CUDA
``torch.cuda.memory_allocated`` at the start of each stage (skipped without CUDA).
"""

from __future__ import annotations

import dataclasses
import gc
import weakref
from pathlib import Path
from typing import Any

import pytest


def _module_classes() -> dict[str, tuple[type, ...]]:
    """The classes whose live instances say which component holds memory."""
    from diffusers import UNet2DConditionModel
    from open_clip.model import CLIP
    from transformers import CLIPModel, Dinov2Model, DINOv3ViTModel, LlavaForConditionalGeneration

    return {
        "captioner": (LlavaForConditionalGeneration,),
        "generator": (UNet2DConditionModel,),
        "encoders": (CLIPModel, Dinov2Model, DINOv3ViTModel, CLIP),
    }


class _Census:
    """Live instances per component, counting only objects created after ``__init__``.

    Why a baseline: other tests in the session may keep demo models alive (session fixtures);
    only this run's objects matter."""

    def __init__(self) -> None:
        self.classes = _module_classes()
        self.baseline = {name: {id(o) for o in self._live(name)} for name in self.classes}

    def _live(self, name: str) -> list[Any]:
        return [o for o in gc.get_objects() if isinstance(o, self.classes[name])]

    def new(self, name: str) -> list[weakref.ref]:
        gc.collect()
        return [weakref.ref(o) for o in self._live(name) if id(o) not in self.baseline[name]]


@pytest.fixture(scope="module")
def composite_assets(tmp_path_factory):
    from unified_bench.cli.demo import build_demo_assets

    out = tmp_path_factory.mktemp("memory")
    models, encoders = build_demo_assets(out, ["composite"])
    return out, models["composite"], encoders


def _run(out: Path, spec: str, encoders: dict[str, Path], device: str, monkeypatch) -> dict[str, list]:
    """Evaluate the composite on ``device``; return what was alive at each observed moment.

    Moments: before each model batch (through the public ``executor_factory`` seam), and just
    before / after the task's ``prepare_scoring`` (the first scoring step, where encoders load)."""
    from unified_bench.demo.runs import unified_demo_run
    from unified_bench.models.base import Capability
    from unified_bench.runner.evaluate import evaluate
    from unified_bench.runner.executor import BatchCall, LocalExecutor
    from unified_bench.specs import ExecutionOptions
    from unified_bench.tasks.unified import UnifiedTask

    run = unified_demo_run(spec, encoders)
    if device != "cpu":
        run = dataclasses.replace(run, runtime=dataclasses.replace(run.runtime, device=device, deterministic=False))
    census = _Census()
    captioner_refs: list[weakref.ref] = []
    seen: dict[str, list] = {"caption": [], "generate": [], "score": []}

    def cuda_allocated() -> int | None:
        if device == "cpu":
            return None
        import torch

        gc.collect()
        return int(torch.cuda.memory_allocated())

    def moment() -> dict[str, Any]:
        return {**{name: len(census.new(name)) for name in census.classes}, "allocated": cuda_allocated(),
                "captioners_seen_alive": _alive(captioner_refs), "captioners_seen": len(captioner_refs)}

    class Observing(LocalExecutor):
        """The default executor; it only looks around before each batch."""

        def run(self, call: BatchCall) -> list[dict[str, Any]]:
            seen[call.kind.value].append(moment())
            out = super().run(call)
            if call.kind is Capability.CAPTION:
                captioner_refs.extend(census.new("captioner"))  # the captioner that just ran
            return out

    real_prepare = UnifiedTask.prepare_scoring

    def observed_prepare(self, judges, dataset, run_dir, show_progress=True):
        seen["score"].append(moment())
        real_prepare(self, judges, dataset, run_dir, show_progress)
        seen["score"].append(moment())

    monkeypatch.setattr(UnifiedTask, "prepare_scoring", observed_prepare)
    seen["baseline_allocated"] = [cuda_allocated()]
    evaluate(run, ExecutionOptions(out=out, show_progress=False, report=False),
             executor_factory=lambda adapter, _run: Observing(adapter))
    return seen


def _alive(refs: list[weakref.ref]) -> int:
    gc.collect()
    return sum(r() is not None for r in refs)


def test_composite_holds_one_component_at_a_time_and_encoders_only_for_scoring(composite_assets, monkeypatch):
    root, spec, encoders = composite_assets
    seen = _run(root / "run-cpu", spec, encoders, "cpu", monkeypatch)
    assert seen["caption"] and seen["generate"] and len(seen["score"]) == 2
    for moment in seen["caption"]:
        assert moment["generator"] == 0, "the generator is loaded while captions are computed"
        assert moment["encoders"] == 0, "encoder weights are loaded during captioning"
    assert seen["caption"][-1]["captioner"] >= 1, "the census did not see the captioner (it would prove nothing)"
    for moment in seen["generate"]:
        assert moment["captioners_seen"] >= 1
        assert moment["captioners_seen_alive"] == 0, "the captioner is still in memory during generation"
        assert moment["captioner"] == 0
        assert moment["encoders"] == 0, "encoder weights are loaded during generation"
    assert seen["generate"][-1]["generator"] >= 1, "the census did not see the generator"
    before, after = seen["score"]
    assert before["captioner"] == before["generator"] == before["encoders"] == 0
    # Positive control: the census sees the encoders once they load for scoring.
    assert after["encoders"] == len(encoders)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_device_memory_holds_only_the_running_component(composite_assets, monkeypatch):
    root, spec, encoders = composite_assets
    seen = _run(root / "run-cuda", spec, encoders, "cuda", monkeypatch)
    base = seen["baseline_allocated"][0]
    # Before the first caption batch nothing is on the device (no encoder, no generator, and the
    # captioner loads on first use); the same before the first generation batch (captioner freed).
    assert seen["caption"][0]["allocated"] == base
    assert seen["generate"][0]["allocated"] == base
    before, after = seen["score"]
    assert before["allocated"] == base, "model weights still on the device when scoring starts"
    assert after["allocated"] > base, "encoders not on the device for scoring"
