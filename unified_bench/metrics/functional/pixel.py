"""Pixel-level auxiliary metrics (PSNR, SSIM) between a reference and its reconstruction.

Why: encoder similarities say whether the *content* survived; PSNR/SSIM say how close the pixels
are. Reconstructions rarely have the reference's size (generators emit 1024x1024), so the
reconstruction is resized to the reference size first. That choice changes the number, so it is
spelled out in ``PIXEL_PREPROCESSING`` and recorded in results.json.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image

#: Everything about the inputs of ``psnr``/``ssim`` that changes the number (recorded in results).
PIXEL_PREPROCESSING: dict[str, Any] = {
    "color": "RGB",
    "dtype": "uint8",
    "data_range": 255,
    "resize": "reconstruction resized to the reference size with PIL bicubic (reference untouched)",
    "psnr": "skimage.metrics.peak_signal_noise_ratio over all pixels and channels; identical images -> inf",
    "ssim": "skimage.metrics.structural_similarity, channel_axis=-1, 7x7 uniform window, default K1/K2",
}

_SSIM_WIN = 7


def _pair_arrays(ref: Image, recon: Image) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image as PILImage

    ref_rgb = ref.convert("RGB")
    recon_rgb = recon.convert("RGB")
    if recon_rgb.size != ref_rgb.size:
        recon_rgb = recon_rgb.resize(ref_rgb.size, PILImage.Resampling.BICUBIC)
    return np.asarray(ref_rgb, dtype=np.uint8), np.asarray(recon_rgb, dtype=np.uint8)


def psnr(ref: Image, recon: Image) -> float:
    """Peak signal-to-noise ratio in dB (higher is better; ``inf`` for identical pixels)."""
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

    a, b = _pair_arrays(ref, recon)
    if mean_squared_error(a, b) == 0:
        return math.inf
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def ssim(ref: Image, recon: Image) -> float:
    """Mean structural similarity in [-1, 1] (1 for identical pixels)."""
    from skimage.metrics import structural_similarity

    a, b = _pair_arrays(ref, recon)
    if min(a.shape[:2]) < _SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WIN}x{_SSIM_WIN} pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=255, win_size=_SSIM_WIN))
