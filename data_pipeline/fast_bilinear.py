"""Pillow's antialiased bilinear resize, run by torch's vectorised uint8 kernel where it gives the same image.

Why: on ~1 MP photos the resize to 512 px was the largest per-image cost after the decode (Pillow's
resampling is scalar C: ~6 ms per photo here). torch's CPU kernel for ``interpolate(..., mode="bilinear",
antialias=True)`` on uint8 channels-last images is a port of Pillow-SIMD's resampler: the same triangle
filter, the same support and pixel-centre mapping, computed with AVX2 in ~1 ms. Its fixed-point rounding
differs from Pillow's by one grey level on ~0.1% of pixels (tested in tests/data_pipeline/test_decode.py);
nothing else differs.

The pixels reach torch without a copy: Pillow exports its pixel buffer through the Arrow C data interface
(``Image.__arrow_c_array__``, RGB stored as 4 bytes per pixel), pyarrow imports it and numpy/torch view
it. ``np.asarray(img)`` instead costs as much as Pillow's own resize (~4 ms per photo).

``bilinear_resize`` answers ``None`` where it cannot give Pillow's result, and the caller runs Pillow:
a mode other than RGB, a source region that does not start at the top-left corner (Pillow's filter also
reads pixels left of and above a region, which a view cannot supply), an image Pillow stores in several
memory blocks (> ~16 MB, i.e. not exportable), or a process without torch.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from data_pipeline.recipe import ImageConfig

#: Resize modes whose region starts at the image's top-left corner: the ones this path can serve. A centre
#: crop's region starts inside the image, so those stay with Pillow (see ``bilinear_resize``).
_SERVED_MODES = ("keep_ratio", "pad")


def serves(image: ImageConfig) -> bool:
    """Whether this recipe's resizes can run through this path (bilinear, a region from the top-left)."""
    return image.resample == "bilinear" and image.resize_mode in _SERVED_MODES


def torch_available() -> bool:
    """Whether this path can run at all here (torch importable). Asked before a JPEG is decoded into an
    array for it (``decode._decode_resize_fast``): without torch that decode would be thrown away."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def preload_modules(image: ImageConfig | None) -> tuple[str, ...]:
    """What a warm worker should have imported for this recipe's images: torch (~1.3 s to import) only
    where this path will run, so a centre-crop or Lanczos build does not wait for it at start-up."""
    return ("torch",) if image is not None and serves(image) else ()


class _ArrowExport:
    """Offers only the Arrow protocol, so ``pyarrow.array`` takes the zero-copy import rather than the
    ``__array_interface__`` path (a full copy) that a Pillow image also offers."""

    def __init__(self, img: Image) -> None:
        self._img = img

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self._img.__arrow_c_array__(requested_schema)


def _serves_region(size: tuple[int, int], box: tuple[float, float, float, float]) -> bool:
    """A non-empty output from a region that starts at the top-left corner (see the module docstring)."""
    return min(size) >= 1 and box[0] == 0 and box[1] == 0


def bilinear_resize(img: Image, size: tuple[int, int],
                    box: tuple[float, float, float, float]) -> Image | None:
    """``img.resize(size, BILINEAR, box=box)`` (to within one grey level), or ``None`` where only Pillow
    can give it (see the module docstring). ``box`` must start at (0, 0); its far edges may be fractional
    (a reduced-scale JPEG decode whose last row and column are partly padding)."""
    if img.mode != "RGB" or not _serves_region(size, box):  # before the export: nothing to undo
        return None
    try:
        import pyarrow as pa
    except ImportError:
        return None
    try:
        pixels = pa.array(_ArrowExport(img)).values.to_numpy(zero_copy_only=True)
    except (ValueError, TypeError, AttributeError, pa.ArrowException):  # several blocks, or an older Pillow
        return None
    return resize_rgbx(pixels.reshape(img.height, img.width, 4), size, box)


def resize_rgbx(pixels: np.ndarray, size: tuple[int, int],
                box: tuple[float, float, float, float] | None = None) -> Image | None:
    """The same resize from a ``(height, width, 4)`` uint8 RGBX array (Pillow's RGB memory layout, and what
    ``data_pipeline.fast_jpeg`` decodes into), read without a copy. ``None``: no torch, or torch would not
    give the requested size (the caller runs Pillow)."""
    if pixels.dtype.name != "uint8" or pixels.ndim != 3 or pixels.shape[2] != 4:
        return None
    height, width = pixels.shape[:2]
    box = box or (0.0, 0.0, float(width), float(height))
    if not _serves_region(size, box):
        return None
    try:
        import torch
        from PIL import Image as PILImage
    except ImportError:
        return None
    with warnings.catch_warnings():  # a read-only view: the kernel only reads it
        warnings.simplefilter("ignore", UserWarning)
        nhwc = torch.from_numpy(pixels)
    out_w, out_h = size
    nchw = nhwc.permute(2, 0, 1).unsqueeze(0)  # a channels-last view: the layout the vectorised kernel takes
    if box == (0, 0, width, height):
        out = torch.nn.functional.interpolate(nchw, size=(out_h, out_w), mode="bilinear", antialias=True)
    else:  # Pillow's box: output/input pixels over the region (the partly padded last row/column is not counted)
        scale = (out_h / (box[3] - box[1]), out_w / (box[2] - box[0]))
        out = torch.nn.functional.interpolate(nchw, scale_factor=scale, mode="bilinear", antialias=True,
                                              recompute_scale_factor=False)
        if tuple(out.shape[2:]) != (out_h, out_w):  # torch sizes it floor(input x scale): not the caller's size
            return None
    planes = out[0].contiguous().numpy()  # (4, h, w): each plane one contiguous band (already so: no copy)
    return PILImage.merge("RGB", [PILImage.frombuffer("L", (out_w, out_h), planes[c], "raw", "L", 0, 1)
                                  for c in range(3)])
