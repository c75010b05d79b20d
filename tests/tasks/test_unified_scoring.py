"""The unified task's scoring and aggregation as pure functions, against hand computations."""

from __future__ import annotations

import math

import pytest

from unified_bench.metrics.encoders.base import STANDARD_ENCODERS
from unified_bench.results.schema import MetricInfo
from unified_bench.tasks.unified import AUX_METRICS, UnifiedTask, aux_metric_info, unified_sample_record

ENCODERS = list(STANDARD_ENCODERS)


def _outputs(sample_id: str, caption: bool = True, generated: bool = True) -> dict:
    out: dict = {"caption": {}, "generate": {}}
    if caption:
        out["caption"][sample_id] = {"text": f"caption of {sample_id}", "key": "k1"}
    if generated:
        out["generate"][sample_id] = {"image": f"images/{sample_id}.png", "sha256": "f" * 64, "key": "k2"}
    return out


def _metrics(in_overall: bool = True) -> list[MetricInfo]:
    enc = [MetricInfo(name=n, higher_is_better=True, in_overall=in_overall, scale=100.0) for n in ENCODERS]
    return enc + [aux_metric_info(a, {}) for a in AUX_METRICS]


def _record(sample_id, values, aux=None, **missing):
    scored = None if values is None else {"scores": dict(zip(ENCODERS, values, strict=True)) | (aux or {})}
    return unified_sample_record(
        sample_id, f"references/{sample_id}.png", "a" * 64, _outputs(sample_id, **missing), scored,
        ENCODERS, AUX_METRICS,
    )


def test_a_scored_sample_keeps_its_scores_and_outputs():
    rec = _record("1", [0.9, 0.8, 0.7, 0.6], {"lpips": 0.2, "ssim": 0.5, "psnr": 20.0})
    assert rec.status == "ok" and rec.error is None
    assert rec.scores == {"clip": 0.9, "dinov2": 0.8, "dinov3": 0.7, "longclip": 0.6,
                          "lpips": 0.2, "ssim": 0.5, "psnr": 20.0}
    assert rec.outputs["caption"] == "caption of 1" and rec.outputs["generated_image"] == "images/1.png"


@pytest.mark.parametrize(
    ("missing", "error"),
    [({"caption": False, "generated": False}, "caption failed"), ({"generated": False}, "generation failed"),
     ({}, "scoring failed")],
)
def test_a_failure_scores_zero_on_every_encoder_and_has_no_aux(missing, error):
    rec = _record("2", None, **missing)
    assert rec.status == "failed" and rec.error == error
    assert [rec.scores[n] for n in ENCODERS] == [0.0, 0.0, 0.0, 0.0]
    assert [rec.scores[a] for a in AUX_METRICS] == [None, None, None]


def test_infinite_psnr_is_recorded_as_null():
    rec = _record("3", [1, 1, 1, 1], {"lpips": 0.0, "ssim": 1.0, "psnr": math.inf})
    assert rec.scores["psnr"] is None and rec.scores["ssim"] == 1.0


def test_aggregation_by_hand():
    samples = [
        _record("a", [0.9, 0.8, 0.7, 0.6], {"lpips": 0.2, "ssim": 0.1, "psnr": 10.0}),
        _record("b", [0.5, 0.5, 0.5, 0.5], {"lpips": 0.4, "ssim": 0.3, "psnr": 20.0}),
        _record("c", None),  # failed: 0 on every encoder, counted in every denominator
    ]
    agg = UnifiedTask.aggregate(samples, _metrics(), {}, seed=0)
    assert agg.aggregates["clip"].mean == pytest.approx(100 * (0.9 + 0.5 + 0.0) / 3)
    assert agg.aggregates["longclip"].mean == pytest.approx(100 * (0.6 + 0.5 + 0.0) / 3)
    assert agg.aggregates["clip"].n == 3
    # Per-sample means 0.75, 0.5, 0 -> overall 41.67 (x100).
    assert agg.overall.mean == pytest.approx(100 * (0.75 + 0.5 + 0.0) / 3)
    assert agg.overall.ci_low <= agg.overall.mean <= agg.overall.ci_high
    # Aux metrics average the samples that have them (scale 1).
    assert agg.aggregates["lpips"].mean == pytest.approx(0.3) and agg.aggregates["lpips"].n == 2
    assert agg.aggregates["psnr"].mean == pytest.approx(15.0)


def test_a_subset_of_encoders_has_no_overall():
    samples = [_record("a", [0.9, 0.8, 0.7, 0.6])]
    agg = UnifiedTask.aggregate(samples, _metrics(in_overall=False), {}, seed=0)
    assert agg.overall is None and agg.aggregates["clip"].mean == pytest.approx(90.0)


def test_aggregation_is_torch_free(tmp_path):
    """The leaderboard recomputes aggregates without torch: importing the task must not need it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from unified_bench.results.recompute import recompute\n"
        "from unified_bench.tasks.unified import UnifiedTask\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def _uae_fingerprint(**changes):
    fp = {"name": "uae-100", "kind": "named", "source": "named:uae-100", "n_images": 100,
          "content_sha256": "c" * 64, "archive_sha256": "a" * 64}
    return fp | changes


def test_standard_means_the_downloaded_set_not_a_name():
    from unified_bench.tasks.unified import is_standard_image_set

    assert is_standard_image_set(_uae_fingerprint())
    # A user folder that happens to be called uae-100.
    assert not is_standard_image_set(_uae_fingerprint(kind="folder", source="/home/me/uae-100"))
    assert not is_standard_image_set(_uae_fingerprint(n_images=3))  # not all of it
    assert not is_standard_image_set(_uae_fingerprint(limit=10))
    assert not is_standard_image_set(_uae_fingerprint(archive_sha256=None))  # digest unknown


def test_a_folder_named_uae_100_runs_as_non_standard(tmp_path, demo_image_dir):
    import shutil

    from unified_bench.data.loader import load_image_set
    from unified_bench.tasks.unified import UnifiedConfig, non_standard_reasons

    folder = tmp_path / "uae-100"
    shutil.copytree(demo_image_dir, folder)
    image_set = load_image_set(str(folder))
    assert image_set.name == "uae-100"
    reasons = non_standard_reasons(UnifiedConfig(), image_set, None, 42)
    assert any("is not the published 'uae-100'" in r for r in reasons)
