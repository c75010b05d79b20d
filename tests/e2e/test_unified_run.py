"""End-to-end runs of the unified task through the CLI, on real tiny encoders.

The echo adapter's caption is a lossless encoding of the image, so with noise 0 every
reconstruction equals its reference: a hand-derived case where every encoder must score
exactly 100 and SSIM exactly 1, whatever the (random) encoder weights.
"""

from __future__ import annotations

import json
import shutil

import pytest

from unified_bench.cli.main import main
from unified_bench.results.schema import load_results

LOSSLESS = "py:tests.helpers.echo_adapter:make_lossless"
NOISY = "py:tests.helpers.echo_adapter:make_noisy"


def _evaluate(model, images, out, encoder_args, *extra):
    argv = ["evaluate", "--model", model, "--images", str(images), "--out", str(out), "--quiet",
            "--batch-size", "2", "--lpips-random-trunk", *encoder_args, *extra]
    return main(argv)


def test_lossless_model_scores_100_everywhere(tmp_path, demo_image_dir, encoder_args):
    out = tmp_path / "run"
    assert _evaluate(LOSSLESS, demo_image_dir, out, encoder_args) == 0
    res = load_results(out)
    n = len(list(demo_image_dir.iterdir()))
    assert res.coverage.n_samples == res.coverage.n_scored == n
    for name in ("clip", "dinov2", "dinov3", "longclip"):
        assert res.aggregates[name].mean == pytest.approx(100.0, abs=1e-3)
    assert res.overall is not None and res.overall.mean == pytest.approx(100.0, abs=1e-3)
    assert res.aggregates["ssim"].mean == pytest.approx(1.0, abs=1e-9)
    assert res.aggregates["lpips"].mean == pytest.approx(0.0, abs=1e-6)
    assert "psnr" not in res.aggregates  # identical images: infinite PSNR, recorded as null
    assert all(s.scores["psnr"] is None for s in res.samples)
    # Non-standard: tiny encoder checkpoints and a non-published image set.
    assert not res.standard and any("checkpoint" in r for r in res.non_standard_reasons)
    assert (out / "COMPLETE").exists() and (out / "report.html").exists()
    for sample in res.samples:
        assert (out / sample.outputs["generated_image"]).is_file()
        assert (out / sample.outputs["reference_path"]).is_file()


def test_failed_reconstruction_scores_zero_and_is_counted(tmp_path, demo_image_dir, encoder_args):
    from PIL import Image

    images = tmp_path / "images"
    shutil.copytree(demo_image_dir, images)
    Image.new("RGB", (33, 32), (200, 30, 30)).save(images / "odd.png")  # echo adapter fails odd widths
    out = tmp_path / "run"
    assert _evaluate(LOSSLESS, images, out, encoder_args) == 0
    res = load_results(out)
    n = res.coverage.n_samples
    assert res.coverage.n_scored == n - 1 and res.coverage.stages["caption"].ok == n
    odd = next(s for s in res.samples if s.id == "odd")
    assert odd.status == "failed" and "odd widths" in odd.error
    assert odd.scores["clip"] == 0.0 and odd.scores["ssim"] is None
    # The denominator does not shrink: mean over all n references, the failure counting 0.
    assert res.aggregates["clip"].mean == pytest.approx(100.0 * (n - 1) / n, abs=1e-3)
    assert res.aggregates["clip"].n == n


def test_encoder_subset_is_non_standard_without_overall(tmp_path, demo_image_dir, demo_encoders):
    out = tmp_path / "run"
    code = main(["evaluate", "--model", NOISY, "--images", str(demo_image_dir), "--out", str(out), "--quiet",
                 "--encoders", "clip,dinov2", "--aux", "none", "--no-report",
                 "--encoder-checkpoint", f"clip={demo_encoders['clip']}",
                 "--encoder-checkpoint", f"dinov2={demo_encoders['dinov2']}"])
    assert code == 0
    res = load_results(out)
    assert res.overall is None and not res.standard
    assert set(res.aggregates) == {"clip", "dinov2"}
    assert any("encoders" in r for r in res.non_standard_reasons)


def test_second_run_reuses_everything(tmp_path, demo_image_dir, encoder_args, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("ECHO_ADAPTER_LOG", str(log))
    out = tmp_path / "run"
    assert _evaluate(NOISY, demo_image_dir, out, encoder_args, "--no-report") == 0
    first = json.loads((out / "results.json").read_text())
    calls = log.read_text()
    assert _evaluate(NOISY, demo_image_dir, out, encoder_args, "--no-report") == 0
    assert log.read_text() == calls  # no caption or generation call the second time
    second = json.loads((out / "results.json").read_text())
    assert first["aggregates"] == second["aggregates"] and first["samples"] == second["samples"]
    # A different seed is a different cache key: everything is generated again.
    assert _evaluate(NOISY, demo_image_dir, out, encoder_args, "--no-report", "--seed", "7", "--force") == 0
    assert log.read_text() != calls
    third = json.loads((out / "results.json").read_text())
    assert third["samples"][0]["outputs"]["generated_sha256"] != first["samples"][0]["outputs"]["generated_sha256"]


def test_other_run_in_same_dir_is_refused(tmp_path, demo_image_dir, encoder_args, capsys):
    out = tmp_path / "run"
    assert _evaluate(NOISY, demo_image_dir, out, encoder_args, "--no-report", "--limit", "2") == 0
    before = sorted(p.name for p in out.rglob("*"))
    code = _evaluate(LOSSLESS, demo_image_dir, out, encoder_args, "--no-report", "--limit", "2")
    assert code == 2 and "holds a different run" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before
