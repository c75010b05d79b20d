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
