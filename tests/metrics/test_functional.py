"""Closed-form checks of cosine similarity, PSNR and SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from unified_bench.metrics.functional.pixel import psnr, ssim
from unified_bench.metrics.functional.similarity import cosine_similarity_rows, l2_normalize


def test_cosine_of_known_vectors_and_defensive_normalisation():
    a = np.array([[1.0, 0.0], [3.0, 4.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[0.0, 2.0], [6.0, 8.0], [-5.0, -5.0]], dtype=np.float32)  # not unit length
    np.testing.assert_allclose(cosine_similarity_rows(a, b), [0.0, 1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(l2_normalize(b), axis=1), 1.0)
    assert np.all(l2_normalize(np.zeros((1, 3))) == 0)
    with pytest.raises(ValueError):
        cosine_similarity_rows(a, b[:2])


def test_identical_images_give_inf_psnr_and_ssim_one(photos):
    ref = photos[0]
    assert psnr(ref, ref.copy()) == math.inf
    assert ssim(ref, ref.copy()) == pytest.approx(1.0, abs=1e-12)


def test_constant_offset_closed_forms():
    # Flat images: MSE = 10^2 and, with zero variance, SSIM = (2*mu_x*mu_y + C1) / (mu_x^2 + mu_y^2 + C1).
    ref = Image.new("RGB", (32, 24), (100, 100, 100))
    recon = Image.new("RGB", (64, 48), (110, 110, 110))  # other size: resized to the reference first
    assert psnr(ref, recon) == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)
    c1 = (0.01 * 255) ** 2
    assert ssim(ref, recon) == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1), abs=1e-9)


def test_textured_offset_psnr(photos):
    arr = np.clip(np.asarray(photos[1]).astype(int), 0, 250)
    ref = Image.fromarray(arr.astype(np.uint8))
    recon = Image.fromarray((arr + 5).astype(np.uint8))
    assert psnr(ref, recon) == pytest.approx(20 * math.log10(255 / 5), abs=1e-9)
    assert 0 < ssim(ref, recon) < 1

