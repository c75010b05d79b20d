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

import contextlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

#: Decode buffers up to this size go back to a small pool for the next decode (see ``pooled_buffer``).
POOL_MAX_BYTES = 64 << 20
_POOL_SLOTS = 4
_pool: list[np.ndarray] = []
_pool_lock = threading.Lock()


def draft_scale(size: tuple[int, int], request: tuple[int, int] | None) -> int:
    """The reduction ``Image.draft(mode, request)`` picks for a JPEG of ``size``: the largest of 8, 4, 2 that
    keeps both sides at least the request's, else 1 (its rule, restated so both decoders agree)."""
    if request is None:
        return 1
    fit = min(size[0] // max(1, request[0]), size[1] // max(1, request[1]))
    return next((s for s in (8, 4, 2) if fit >= s), 1)


def decoded_shape(size: tuple[int, int], scale: int = 1) -> tuple[int, int, int]:
    """The array ``decode_rgbx`` gives for a JPEG of ``size`` (``(w, h)``) at ``scale``: libjpeg rounds up."""
    return -(-size[1] // scale), -(-size[0] // scale), 4


def decode_rgbx(data: bytes, size: tuple[int, int], scale: int = 1,
                out: np.ndarray | None = None) -> np.ndarray | None:
    """``(ceil(h/scale), ceil(w/scale), 4)`` uint8 RGBX pixels of the colour JPEG ``data`` whose full size is
    ``size`` (``(w, h)``, from Pillow's header parse), or ``None`` (see the module docstring). ``out``: a
    uint8 buffer of at least that many bytes to decode into (the result is a view of it)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    want = decoded_shape(size, scale)
    kwargs = {} if scale == 1 else {"min_height": want[0], "min_width": want[1]}  # libjpeg's scale: exactly 1/scale
    try:
        pixels = simplejpeg.decode_jpeg(data, "RGBX", buffer=out, **kwargs)
    except (ValueError, RuntimeError, OSError):  # corrupt, unsupported, or only a warning: Pillow decides
        return None
    return pixels if pixels.shape == want else None


@contextlib.contextmanager
def pooled_buffer(nbytes: int) -> Iterator[np.ndarray | None]:
    """A reused uint8 buffer of at least ``nbytes`` for one decode, or ``None`` above ``POOL_MAX_BYTES`` (the
    decoder then allocates). Why: a fresh ~4 MB array per photo is fresh pages from the kernel, faulted in and
    zeroed on first touch (~3% of a build's CPU in ``perf``); a buffer already written to costs neither. The
    pool holds as many buffers as decodes ran at once (a worker's CPU slots), at most ``_POOL_SLOTS``."""
    import numpy as np

    if nbytes > POOL_MAX_BYTES:
        yield None
        return
    with _pool_lock:  # by position: ``list.remove`` would compare arrays element-wise
        i = next((i for i, b in enumerate(_pool) if b.nbytes >= nbytes), None)
        buf = _pool.pop(i) if i is not None else np.empty(max(nbytes, 4 << 20), np.uint8)
    try:
        yield buf
    finally:
        with _pool_lock:
            if len(_pool) < _POOL_SLOTS:
                _pool.append(buf)
