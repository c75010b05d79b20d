"""Decode a colour JPEG straight into an RGBX numpy array with libjpeg-turbo (simplejpeg), for the torch resize.

Why: decoding is the largest per-image cost at real photo sizes (~4.8 ms per ~1 MP photo through Pillow).
simplejpeg drives the same libjpeg-turbo decoder through its TurboJPEG API and writes the pixels into one
numpy array, ~0.6 ms faster per photo here (``benchmarks/bench_ingest.py --corpus photos``), and that array
is exactly the memory layout ``fast_bilinear.resize_rgbx`` reads, so nothing is copied on the way.

Same pixels as Pillow, bit for bit (tested on photos, full and reduced scale): both ask libjpeg for the
accurate integer IDCT and the smooth ("fancy") chroma upsampling, and a reduced-scale decode uses the
scale ``Image.draft`` would pick (1/2, 1/4 or 1/8 of each side, rounded up). Everything else answers
``None`` and the caller decodes with Pillow, which stays the judge of what is a valid image: simplejpeg
not installed, a decode error or even a libjpeg warning (simplejpeg's strict mode; Pillow accepts some of
those files, e.g. extra bytes before a marker), or an output size that is not the one Pillow would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def draft_scale(size: tuple[int, int], request: tuple[int, int] | None) -> int:
    """The reduction ``Image.draft(mode, request)`` picks for a JPEG of ``size``: the largest of 8, 4, 2 that
    keeps both sides at least the request's, else 1 (its rule, restated so both decoders agree)."""
    if request is None:
        return 1
    fit = min(size[0] // max(1, request[0]), size[1] // max(1, request[1]))
    return next((s for s in (8, 4, 2) if fit >= s), 1)


def decode_rgbx(data: bytes, size: tuple[int, int], scale: int = 1) -> np.ndarray | None:
    """``(ceil(h/scale), ceil(w/scale), 4)`` uint8 RGBX pixels of the colour JPEG ``data`` whose full size is
    ``size`` (``(w, h)``, from Pillow's header parse), or ``None`` (see the module docstring)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    w, h = size
    want = (-(-h // scale), -(-w // scale))
    try:
        if scale == 1:
            pixels = simplejpeg.decode_jpeg(data, "RGBX")
        else:  # the smallest of libjpeg's scales that is at least this large: exactly 1/scale
            pixels = simplejpeg.decode_jpeg(data, "RGBX", min_height=want[0], min_width=want[1])
    except (ValueError, RuntimeError, OSError):  # corrupt, unsupported, or only a warning: Pillow decides
        return None
    return pixels if pixels.shape[:2] == want else None
