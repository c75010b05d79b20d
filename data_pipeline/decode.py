"""Decode untrusted image bytes safely, normalise to RGB, resize and re-encode.

Why: web images are hostile or odd. A decompression bomb must become a rejection, not an
out-of-memory kill; truncated files must not be silently padded; EXIF orientation must be
applied or half the photos are sideways; CMYK, 16-bit, palette, LA and animated images all need
one defined conversion to RGB. For JPEG, ``Image.draft`` lets libjpeg decode at 1/2, 1/4 or 1/8
scale, which is much faster; we request at least 1.25x the target size so the final resize
still anti-aliases, which keeps the result within a small tolerance of a full decode (tested).

An upright colour JPEG resized with the bilinear filter (a recipe's default) takes a faster route to the
same image: libjpeg-turbo decodes it into an array (``fast_jpeg``) that torch resizes (``fast_bilinear``),
with no Pillow image in between. Pillow still parses the header first (size, EXIF, bomb and filter checks)
and decodes everything that route declines, so it stays the judge of what is a valid image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL.Image import Image

    from data_pipeline.recipe import ImageConfig

#: libjpeg decodes at >= DRAFT_MARGIN x the final size, then the resize filter finishes the job. 1.25 keeps the
#: result within the tolerance tested in tests/data_pipeline/test_decode.py (mean |diff| < 2 grey levels, PSNR
#: >= 35 dB and no worse than the q95 re-encode's own error); 1.0 does not (a 1/8 draft that lands on the target
#: is a box filter). On ~1 MP photos at 512 px (benchmarks/bench_ingest.py --corpus photos) 1.25 decodes the
#: third of them with a longer side >= 1280 at 1/2 scale, where 1.5 decoded almost all in full. Checked on all
#: 2910 photos of that corpus: 1.25 keeps every one within the tolerance (its worst PSNR still 0.8 dB above the
#: re-encode's); 1.2 would draft 42% instead of 31% but 3 photos fall below the re-encode's PSNR (1.15: 7).
DRAFT_MARGIN = 1.25
_PIL_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass
class DecodeResult:
    image: Image | None
    reason: str | None = None
    detail: str = ""
    original_size: tuple[int, int] | None = None  # after EXIF transpose
    original_mode: str | None = None
    original_format: str | None = None
    used_draft: bool = False


def _to_rgb(img: Image) -> Image:
    """One conversion rule for every mode (16-bit, CMYK, palette/LA with alpha on white)."""
    from PIL import Image as PILImage

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = PILImage.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype("uint8"), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        bg = PILImage.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img if img.mode == "RGB" else img.convert("RGB")


def resize(img: Image, size: int, mode: str, resample: str = "bilinear",
           full_size: tuple[int, int] | None = None,
           box: tuple[float, float, float, float] | None = None) -> Image:
    """Resize to the geometry each mode promises (never a 0-pixel side), with the recipe's filter
    (``ImageConfig.resample``).

    ``full_size`` and ``box``: for a JPEG decoded at reduced scale (``draft``), the full image's size
    and the region of ``img`` it covers (libjpeg rounds a scaled side up, so the last row or column
    is partly padding). The output geometry and the crop are computed on the full size, so they are
    exactly what a full decode gives (not off by one pixel from the rounded draft size)."""
    from PIL import Image as PILImage

    if mode == "none":
        return img
    method = PILImage.Resampling.LANCZOS if resample == "lanczos" else PILImage.Resampling.BILINEAR
    fw, fh = full_size or img.size
    bx0, by0, bx1, by1 = box or (0.0, 0.0, float(img.width), float(img.height))
    sx, sy = (bx1 - bx0) / fw, (by1 - by0) / fh  # img pixels per full-size pixel
    if mode == "center_crop":  # ImageOps.fit's crop (centred, output ratio 1), on the full size
        cw = ch = min(fw, fh)
        left, top = (fw - cw) * 0.5, (fh - ch) * 0.5
        crop = (bx0 + left * sx, by0 + top * sy, bx0 + (left + cw) * sx, by0 + (top + ch) * sy)
        return _resize(img, (size, size), method, crop)
    inner = _resize(img, contain_size((fw, fh), size), method, (bx0, by0, bx1, by1))
    return _pad(inner, size) if mode == "pad" else inner  # keep_ratio: longer side = size (upscaling too)


def _pad(inner: Image, size: int) -> Image:
    """``pad``: the ratio-kept image centred on a white ``size`` x ``size`` square."""
    from PIL import Image as PILImage

    canvas = PILImage.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(inner, (round((size - inner.width) * 0.5), round((size - inner.height) * 0.5)))
    return canvas


def _resize(img: Image, out: tuple[int, int], method: int, box: tuple[float, float, float, float]) -> Image:
    """``img.resize(out, method, box=box)``; bilinear goes through torch's vectorised copy of the same
    filter wherever that gives Pillow's image (``data_pipeline.fast_bilinear``), ~6x faster on photos."""
    from PIL import Image as PILImage

    if method == PILImage.Resampling.BILINEAR:
        from data_pipeline.fast_bilinear import bilinear_resize

        fast = bilinear_resize(img, out, box)
        if fast is not None:
            return fast
    return img.resize(out, method, box=box)


def contain_size(orig: tuple[int, int], size: int) -> tuple[int, int]:
    """Longer side = ``size``, ratio kept, and each side at least 1 pixel. Why not ``ImageOps.contain``:
    it rounds the short side of a 3000x1 divider to 0 pixels, which the encoder then refuses."""
    w, h = orig
    if w >= h:
        return size, max(1, round(h * size / w))
    return max(1, round(w * size / h)), size


def _oriented_box(box: tuple[float, float, float, float], size: tuple[int, int],
                  orientation: int) -> tuple[float, float, float, float]:
    """The draft's valid region ``box`` (top-left anchored in the decoded ``size``) after the EXIF
    ``orientation``'s transpose: the rounded-up padding moves to whichever edges the transpose flips."""
    w, h = size
    ex, ey = w - box[2], h - box[3]  # padding at the right and at the bottom before the transpose
    return {2: (ex, 0.0, w, h - ey), 3: (ex, ey, w, h), 4: (0.0, ey, w - ex, h),
            5: (0.0, 0.0, h - ey, w - ex), 6: (ey, 0.0, h, w - ex), 7: (ey, ex, h, w),
            8: (0.0, ex, h - ey, w)}.get(orientation, box)


def _draft_request(orig: tuple[int, int], size: int, mode: str) -> tuple[int, int] | None:
    """Smallest decode size that still leaves 2x margin over the resize target."""
    w, h = orig
    if mode == "none":
        return None
    scale = size / min(w, h) if mode == "center_crop" else size / max(w, h)
    if scale * DRAFT_MARGIN >= 1.0:
        return None  # no reduced-scale level would keep the margin
    return max(1, int(w * scale * DRAFT_MARGIN)), max(1, int(h * scale * DRAFT_MARGIN))


def _decode_resize_fast(data: bytes, size: tuple[int, int], cfg: ImageConfig,
                        draft_request: tuple[int, int] | None) -> tuple[Image, bool] | None:
    """An upright colour JPEG decoded by libjpeg-turbo into an array (``fast_jpeg``, the pixels Pillow's
    decode gives, at the scale its ``draft`` would pick) and resized by torch from that array
    (``fast_bilinear``), with no Pillow image in between; ``(image, drafted)``, or ``None`` where either
    step cannot give Pillow's result (the caller then runs Pillow: the judge of a bad file)."""
    from data_pipeline import fast_bilinear, fast_jpeg

    if not fast_bilinear.serves(cfg) or not fast_bilinear.torch_available():
        return None
    scale = fast_jpeg.draft_scale(size, draft_request)
    h, w, c = fast_jpeg.decoded_shape(size, scale)
    with fast_jpeg.pooled_buffer(h * w * c) as buf:  # the resize's output is a new image: buf is free after it
        pixels = fast_jpeg.decode_rgbx(data, size, scale, buf)
        if pixels is None:
            return None
        box = (0.0, 0.0, size[0] / scale, size[1] / scale)
        inner = fast_bilinear.resize_rgbx(pixels, contain_size(size, cfg.size), box)
    if inner is None:
        return None
    return (_pad(inner, cfg.size) if cfg.resize_mode == "pad" else inner), scale > 1


def decode_image(data: bytes, cfg: ImageConfig, use_draft: bool | None = None,
                 check: Callable[[int, int], tuple[str, str] | None] | None = None) -> DecodeResult:
    """Bytes -> resized RGB image, or a reason: decode_error, decompression_bomb, or the reason
    ``check(width, height)`` gives on the original (EXIF-oriented) size, asked before any pixel is
    decoded or resized (the size and aspect filters: judged on the original, and a sliver they would
    reject never reaches the resize)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    use_draft = cfg.use_draft if use_draft is None else use_draft
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            img = PILImage.open(io.BytesIO(data))
            fmt = img.format
            w, h = img.size
            if w * h > cfg.max_pixels:
                return DecodeResult(None, "decompression_bomb", f"{w}x{h} > {cfg.max_pixels} pixels")
            orig_mode = img.mode
            pre_orientation = img.getexif().get(0x0112, 1)
            if check is not None:
                pw, ph = (h, w) if pre_orientation in (5, 6, 7, 8) else (w, h)
                verdict = check(pw, ph)
                if verdict is not None:
                    return DecodeResult(None, verdict[0], verdict[1], (pw, ph), orig_mode, fmt)
            if getattr(img, "is_animated", False):
                img.seek(0)
            req = _draft_request((w, h), cfg.size, cfg.resize_mode) if use_draft and fmt == "JPEG" else None
            if fmt == "JPEG" and img.mode == "RGB" and pre_orientation == 1:
                fast = _decode_resize_fast(data, (w, h), cfg, req)
                if fast is not None:
                    return DecodeResult(fast[0], None, "", (w, h), orig_mode, fmt, fast[1])
            drafted, box = False, None
            if req is not None:
                got = img.draft("RGB" if img.mode == "RGB" else img.mode, req)
                drafted = got is not None and img.size != (w, h)
                box = got[1] if drafted else None
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            if orientation != 1:  # exif_transpose copies the whole image even when there is nothing to do
                if box is not None:
                    box = _oriented_box(box, img.size, orientation)
                img = ImageOps.exif_transpose(img)
            orig_size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            img = _to_rgb(img)
            img = resize(img, cfg.size, cfg.resize_mode, cfg.resample, full_size=orig_size, box=box)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        return DecodeResult(None, "decompression_bomb", str(exc)[:200])
    except Exception as exc:  # noqa: BLE001 - hostile bytes reach deep into codecs: a reason, never a crash
        return DecodeResult(None, "decode_error", f"{type(exc).__name__}: {str(exc)[:200]}")
    return DecodeResult(img, None, "", orig_size, orig_mode, fmt, drafted)


def encode_image(img: Image, cfg: ImageConfig) -> bytes:
    """Re-encode in the recipe's format (JPEG/WebP quality; PNG lossless)."""
    buf = io.BytesIO()
    fmt = _PIL_FORMAT[cfg.format]
    kwargs: dict[str, Any] = {"quality": cfg.quality} if fmt in ("JPEG", "WEBP") else {"optimize": False}
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()
