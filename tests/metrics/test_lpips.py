"""LPIPS through our scorer against the lpips package called directly on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unified_bench.errors import EncoderError
from unified_bench.metrics.lpips_metric import LpipsScorer


@pytest.fixture(scope="module")
def scorer():
    torch.manual_seed(0)
    return LpipsScorer(net="alex", pretrained_trunk=False, batch_size=2)


def test_matches_lpips_package(scorer, photos, reconstructions):
    import lpips

    ours = scorer.score(photos, reconstructions)

    def tensor(im):
        return lpips.im2tensor(np.asarray(im.convert("RGB").resize((256, 256), Image.Resampling.BICUBIC)))

    with torch.no_grad():
        expected = [scorer.model(tensor(a), tensor(b)).item() for a, b in zip(photos, reconstructions, strict=True)]
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    assert np.all(ours > 0)


def test_identical_is_zero_and_details_are_recorded(scorer, photos):
    np.testing.assert_allclose(scorer.score(photos, [p.copy() for p in photos]), 0.0, atol=1e-7)
    details = scorer.details()
    assert details["net"] == "alex" and "random" in details["trunk"] and "256" in details["resize"]


def test_trunk_download_failure_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached; the network is blocked in tests
    with pytest.raises(EncoderError) as err:
        LpipsScorer(net="alex", pretrained_trunk=True)
    assert "--aux ssim,psnr" in err.value.fix
