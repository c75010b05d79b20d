"""Synthetic run directories for the report tests.

Why build them through the pydantic models: if ``results/schema.py`` changes incompatibly, these
helpers stop constructing and the report tests fail, instead of silently testing a stale shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from unified_bench.results.schema import (
    Aggregate,
    BenchmarkInfo,
    ComponentInfo,
    Coverage,
    MetricInfo,
    ModelInfo,
    Provenance,
    Results,
    SampleRecord,
    StageCoverage,
    write_results,
)

IN_OVERALL = ("clip", "dinov2", "dinov3", "longclip")
AUX = ("lpips", "ssim", "psnr")


@dataclass
class SampleSpec:
    """What one synthetic sample looks like on disk and in results.json."""

    id: str
    scores: dict[str, float | None]
    caption: str | None = "a photo"
    status: str = "ok"
    error: str | None = None
    write_generated: bool = True  # False: results.json names an image file that is not on disk
    has_generated: bool = True  # False: results.json records no generated image at all
    ref_ext: str = "png"
    ref_size: tuple[int, int] = (48, 32)
    ref_mode: str = "RGB"
    reference_path: str | None = None  # override (e.g. a path escaping the run dir)
    outputs_extra: dict[str, Any] = field(default_factory=dict)


def _scores(base: float) -> dict[str, float | None]:
    return {
        "clip": base,
        "dinov2": base - 0.1,
        "dinov3": base - 0.05,
        "longclip": base + 0.02,
        "lpips": 1.0 - base,
        "ssim": base / 2,
        "psnr": 10 + 20 * base,
    }


TRICKY_CAPTION = "<script>alert('pwned')</script> a cat & a \"dog\" <b>bold</b>"
TRICKY_ERROR = "RuntimeError: generation failed <oom> & 'bad'"


def default_samples() -> list[SampleSpec]:
    """Five samples: good, worst, middling with a tricky caption, failed, and one with a missing file."""
    return [
        SampleSpec("img_good", _scores(0.9), caption="a red bus on a street"),
        SampleSpec("img_worst", _scores(0.1), caption="blurry nothing", ref_ext="jpg", ref_size=(600, 400)),
        SampleSpec('x<&>"id', _scores(0.5), caption=TRICKY_CAPTION, ref_mode="RGBA"),
        SampleSpec(
            "img_failed",
            # as the unified task writes a failure: 0 on every encoder (it counts in the mean), no aux
            {**{k: 0.0 for k in IN_OVERALL}, **{k: None for k in AUX}},
            caption=None,
            status="failed",
            error=TRICKY_ERROR,
            has_generated=False,
        ),
        SampleSpec(
            "img_missing", _scores(0.6), caption="its reconstruction file was deleted", write_generated=False
        ),
    ]


def _write_png(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = tuple((seed * 53 + k * 97) % 256 for k in range(3))
    img = Image.new("RGB", size, color)
    img.putpixel((0, 0), (255, 255, 255))
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(128)
    fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
    img.save(path, format=fmt)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_results(
    run_dir: Path,
    samples: list[SampleSpec] | None = None,
    *,
    standard: bool = True,
    non_standard_reasons: list[str] | None = None,
    overall: bool = True,
    settings: dict[str, Any] | None = None,
    model_spec: str = "hf:example-org/tiny-unified",
) -> Results:
    """Write images for ``samples`` under ``run_dir`` and return schema-valid Results describing them."""
    samples = default_samples() if samples is None else samples
    records: list[SampleRecord] = []
    for i, s in enumerate(samples):
        safe = hashlib.sha1(s.id.encode()).hexdigest()[:10]
        ref_rel = s.reference_path or f"references/{safe}.{s.ref_ext}"
        ref_sha = None
        if s.reference_path is None:
            ref_sha = _write_png(run_dir / ref_rel, s.ref_size, i, s.ref_mode)
        gen_rel, gen_sha = None, None
        if s.has_generated:
            gen_rel = f"images/{safe}.png"
            gen_sha = "0" * 64
            if s.write_generated:
                gen_sha = _write_png(run_dir / gen_rel, (32, 32), i + 100)
        outputs = {
            "reference_path": ref_rel,
            "reference_sha256": ref_sha,
            "caption": s.caption,
            "generated_image": gen_rel,
            "generated_sha256": gen_sha,
            **s.outputs_extra,
        }
        records.append(
            SampleRecord(id=s.id, status=s.status, error=s.error, outputs=outputs, scores=s.scores)
        )

    metrics = [
        MetricInfo(
            name=n,
            higher_is_better=True,
            lower_bound=-100.0,  # declared on the aggregate's x100 scale, as the unified task does
            upper_bound=100.0,
            in_overall=True,
            details={"scale": 100, "checkpoint": f"tiny/{n}", "revision": "abc123",
                     "preprocessing": "resize 32 <bicubic>"},
        )
        for n in IN_OVERALL
    ] + [
        MetricInfo(
            name="lpips", higher_is_better=False, lower_bound=0.0, upper_bound=None, details={"net": "alex"}
        ),
        MetricInfo(name="ssim", higher_is_better=True, lower_bound=-1.0, upper_bound=1.0),
        MetricInfo(name="psnr", higher_is_better=True, lower_bound=0.0, upper_bound=None),
    ]
    aggregates = {}
    for m in metrics:
        vals = [r.scores[m.name] for r in records if r.scores.get(m.name) is not None]
        if not vals:
            continue
        scale = 100.0 if m.in_overall else 1.0
        mean = scale * sum(vals) / len(vals)
        aggregates[m.name] = Aggregate(mean=mean, ci_low=mean - 1.5, ci_high=mean + 1.5, n=len(vals))
    n_ok = sum(1 for r in records if r.status == "ok")
    return Results(
        benchmark=BenchmarkInfo(name="unified", version="1.0", view="unified"),
        model=ModelInfo(
            spec=model_spec,
            components=[
                ComponentInfo(role="unified", source=model_spec, revision="deadbeef", architecture="Janus")
            ],
        ),
        dataset={
            "name": "tiny-set",
            "kind": "folder",
            "source": "/data/tiny",
            "n_images": len(records),
            "content_sha256": "c" * 64,
            "archive_sha256": "a" * 64,
            "limit": None,
        },
        settings=settings
        if settings is not None
        else {"caption_prompt": "Describe the image.", "image_size": 32},
        metrics=metrics,
        standard=standard,
        non_standard_reasons=non_standard_reasons or [],
        aggregates=aggregates,
        overall=Aggregate(mean=55.0, ci_low=50.0, ci_high=60.0, n=n_ok) if overall else None,
        coverage=Coverage(
            n_samples=len(records),
            n_scored=n_ok,
            stages={
                "caption": StageCoverage(total=len(records), ok=n_ok, failed=len(records) - n_ok),
                "generate": StageCoverage(total=n_ok, ok=n_ok, failed=0),
            },
        ),
        samples=records,
        provenance=Provenance(
            unified_bench_version="0.1.0",
            git_commit="0123456789abcdef0123456789abcdef01234567",
            package_versions={"torch": "2.14.1", "transformers": "5.23.0"},
            device="cpu",
            dtype="float32",
            seed=1234,
            batch_size=4,
            deterministic=True,
            created_at="2026-01-01T00:00:00Z",
            wall_time_s=3725.0,
            python="3.11.9",
            platform="Linux-x86_64",
        ),
    )


@pytest.fixture
def make_run_dir(tmp_path: Path) -> Callable[..., tuple[Path, Results]]:
    """Factory: ``make_run_dir(**build_results_kwargs) -> (run_dir, results)`` with results.json written."""
    counter = {"n": 0}

    def _make(**kwargs: Any) -> tuple[Path, Results]:
        counter["n"] += 1
        run_dir = tmp_path / f"run{counter['n']}"
        run_dir.mkdir()
        results = build_results(run_dir, **kwargs)
        write_results(results, run_dir / "results.json")
        return run_dir, results

    return _make
