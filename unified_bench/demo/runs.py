"""Run specs sized for the tiny demo models on a CPU (the demo command, the tests, the benchmarks).

Why here: the demo package builds everything offline and random-weighted; the settings that make a
run of those models quick (few tokens, 64 px, 2 steps, the tiny encoders) belong with them, not in
the CLI.
"""

from __future__ import annotations

from pathlib import Path

from unified_bench.specs import RunSpec


def unified_demo_run(model: str, encoders: dict[str, Path], notice: str | None = None) -> RunSpec:
    """The unified task on the demo images with settings sized for tiny models on a CPU."""
    from unified_bench.metrics.encoders.base import EncoderSpec
    from unified_bench.specs import CaptionSettings, GenerationSettings, RuntimeOptions, parse_model_spec
    from unified_bench.tasks.unified import UnifiedConfig

    config = UnifiedConfig(
        caption=CaptionSettings(max_new_tokens=24),
        generation=GenerationSettings(height=64, width=64, num_inference_steps=2),
        size_policy="explicit",
        encoders=tuple(EncoderSpec(name, str(path)) for name, path in encoders.items()),
        lpips_pretrained_trunk=False,
        encoder_batch_size=8,
    )
    return RunSpec(
        task="unified",
        model=parse_model_spec(model),
        task_config=config,
        data="demo",
        runtime=RuntimeOptions(device="cpu", dtype="fp32", batch_size=4, deterministic=True).resolved(),
        notice=notice,
    )


def geneval_demo_run(model: str, geneval_models: dict[str, Path], notice: str | None = None,
                     images_per_prompt: int = 2, per_tag: int = 1) -> RunSpec:
    """GenEval on an offline generated prompt set with the tiny detector and colour model.

    The tiny detectors have random weights, so the judge's thresholds are 0 (``demo_judge_options``):
    otherwise nothing is ever detected and every verdict is the same.
    """
    from unified_bench.demo.geneval import demo_judge_options
    from unified_bench.specs import GenerationSettings, RuntimeOptions, parse_model_spec
    from unified_bench.tasks.geneval.task import GenevalConfig

    config = GenevalConfig(
        generation=GenerationSettings(height=64, width=64, num_inference_steps=2),
        images_per_prompt=images_per_prompt,
        detector="mask2former",
        detector_checkpoint=str(geneval_models["mask2former"]),
        colour_model=f"local-dir:{geneval_models['open_clip']}",
        colour_pretrained=None,
        judge=demo_judge_options(),
    )
    return RunSpec(
        task="geneval",
        model=parse_model_spec(model),
        task_config=config,
        data=f"generated:0:{per_tag}",
        runtime=RuntimeOptions(device="cpu", dtype="fp32", batch_size=2, deterministic=True).resolved(),
        notice=notice,
    )
