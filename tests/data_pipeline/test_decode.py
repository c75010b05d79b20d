"""Decode: JPEG draft stays within tolerance of a full decode, mode conversions, bombs, EXIF."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data_pipeline.decode import decode_image, encode_image, resize
from data_pipeline.recipe import ImageConfig


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("resample", ["lanczos", "bilinear"])
@pytest.mark.parametrize("name, mode, size", [("astronaut", "keep_ratio", 64), ("coffee", "center_crop", 96),
                                              ("rocket", "pad", 48)])
def test_draft_within_tolerance_of_full_decode(name, mode, size, resample):
    from skimage import data

    data_bytes = _jpeg(Image.fromarray(getattr(data, name)()))
    cfg = ImageConfig(size=size, resize_mode=mode, resample=resample)
    fast = decode_image(data_bytes, cfg, use_draft=True)
    full = decode_image(data_bytes, cfg, use_draft=False)
    assert fast.used_draft and not full.used_draft
    assert fast.image.size == full.image.size and fast.original_size == full.original_size
    a = np.asarray(fast.image, dtype=float)
    b = np.asarray(full.image, dtype=float)
    # Tolerance: the draft's error must be small in absolute terms AND no larger than the error the
    # output's own JPEG q95 re-encode adds to every sample anyway. Measured (margin 1.5): PSNR
    # 45 / 49 / 36.5 dB vs re-encode 31.6 / 34.2 / 35.3 dB; mean |diff| 0.9 / 0.5 / 1.2 grey levels
    # (lanczos); 42.4 / 49.6 / 38.0 dB vs 33.4 / 35.6 / 36.7 dB, 1.2 / 0.5 / 1.1 levels (bilinear).
    # (Pillow's BOX filter, i.e. area averaging, fails this: 33.2 dB on coffee, so it is not offered.)
    assert np.abs(a - b).mean() < 2.0
    draft_psnr = _psnr(a, b)
    reencoded = np.asarray(Image.open(io.BytesIO(encode_image(full.image, cfg))), dtype=float)
    assert draft_psnr >= 35.0 and draft_psnr >= _psnr(reencoded, b)


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / max(np.mean((x - y) ** 2), 1e-12)))


def test_no_draft_when_the_scale_gives_no_margin():
    img = Image.fromarray(np.full((100, 100, 3), 128, np.uint8))
    res = decode_image(_jpeg(img), ImageConfig(size=70))  # 70 * 1.25 > 100 / 2: no reduced level keeps the margin
    assert not res.used_draft and res.image.size == (70, 70)


def test_bomb_is_a_rejection():
    buf = io.BytesIO()
    Image.new("L", (2500, 2500)).save(buf, format="PNG")
    res = decode_image(buf.getvalue(), ImageConfig(size=32, max_pixels=1_000_000))
    assert res.reason == "decompression_bomb" and res.image is None


def test_truncated_and_garbage_are_decode_errors():
    good = _jpeg(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    assert decode_image(good[: len(good) // 2], ImageConfig(size=32)).reason == "decode_error"
    assert decode_image(b"<html></html>", ImageConfig(size=32)).reason == "decode_error"


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    res = decode_image(buf.getvalue(), ImageConfig(size=40, resize_mode="none"))
    assert res.image.mode == "RGB" and res.image.getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_applied():
    img = Image.new("RGB", (60, 30), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 30, 30))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left half -> top half
    res = decode_image(_jpeg(img, exif=exif.tobytes()), ImageConfig(size=60, resize_mode="none"))
    assert res.original_size == (30, 60) and res.image.size == (30, 60)
    arr = np.asarray(res.image.convert("L"), dtype=float)
    assert arr[:25].mean() > 200 and arr[35:].mean() < 50


def _within_one_level(a: np.ndarray, b: np.ndarray) -> bool:
    """torch's vectorised copy of Pillow's filter rounds differently: one grey level, on few pixels."""
    diff = np.abs(a.astype(int) - b.astype(int))
    return diff.max() <= 1 and (diff > 0).mean() < 0.01


@pytest.mark.parametrize("mode", ["keep_ratio", "center_crop", "pad"])
def test_bilinear_resample_is_pillows_bilinear_filter(mode):
    from PIL import ImageOps
    from skimage import data

    src = Image.fromarray(data.astronaut())
    geometry = {"keep_ratio": lambda m: ImageOps.contain(src, (80, 80), method=m),
                "center_crop": lambda m: ImageOps.fit(src, (80, 80), method=m),
                "pad": lambda m: ImageOps.pad(src, (80, 80), method=m, color=(255, 255, 255))}[mode]
    ours = np.asarray(resize(src, 80, mode, resample="bilinear"))
    assert _within_one_level(ours, np.asarray(geometry(Image.Resampling.BILINEAR)))
    assert np.abs(ours.astype(int) - np.asarray(geometry(Image.Resampling.LANCZOS), dtype=int)).mean() > 1.0


@pytest.mark.parametrize("width, height, box, full, size", [
    (1202, 901, None, (1202, 901), 512), (901, 1202, None, (901, 1202), 512),  # full decodes
    (601, 451, (0, 0, 600.5, 450.5), (1201, 901), 512),  # 1/2 draft
    (376, 301, (0, 0, 375.25, 300.75), (1501, 1203), 256),  # 1/4 draft
    (100, 80, None, (100, 80), 512), (3000, 1, None, (3000, 1), 512)])  # upscaled (keep_ratio does), a sliver
def test_fast_bilinear_is_pillows_filter_on_photos(width, height, box, full, size):
    """Whole images, the partly padded regions a 1/2 or 1/4 JPEG draft leaves, an upscale and a 1-pixel
    sliver: the fast path runs and matches ``Image.resize(..., BILINEAR, box=...)`` to one grey level."""
    from skimage import data

    from data_pipeline.decode import contain_size
    from data_pipeline.fast_bilinear import bilinear_resize

    src = Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BICUBIC)
    region = box or (0, 0, width, height)
    out = contain_size(full, size)
    fast = bilinear_resize(src, out, region)
    assert fast is not None and fast.mode == "RGB" and fast.size == out
    assert _within_one_level(np.asarray(fast), np.asarray(src.resize(out, Image.Resampling.BILINEAR, box=region)))


def test_fast_bilinear_leaves_what_it_cannot_match_to_pillow():
    from data_pipeline.fast_bilinear import bilinear_resize

    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8))
    assert bilinear_resize(rgb, (40, 30), (10, 0, 100, 90)) is None  # Pillow also filters left of the region
    assert bilinear_resize(rgb.convert("L"), (40, 30), (0, 0, 120, 90)) is None
    crop = resize(rgb, 30, "center_crop", resample="bilinear")  # its region starts at x=15: Pillow's own result
    assert np.array_equal(np.asarray(crop), np.asarray(rgb.resize((30, 30), Image.Resampling.BILINEAR,
                                                                  box=(15, 0, 105, 90))))


def test_resize_modes_geometry_and_encode():
    img = Image.new("RGB", (200, 100))
    assert resize(img, 50, "keep_ratio").size == (50, 25)
    assert resize(img, 50, "center_crop").size == (50, 50)
    assert resize(img, 50, "pad").size == (50, 50)
    assert resize(img, 50, "none").size == (200, 100)
    for fmt, magic in (("jpg", b"\xff\xd8"), ("png", b"\x89PNG"), ("webp", b"RIFF")):
        assert encode_image(img, ImageConfig(format=fmt)).startswith(magic)


def _photo_jpeg(width: int, height: int, **kw) -> bytes:
    """A real photo (scikit-image's coffee) stretched to an odd size, so a reduced-scale decode rounds up."""
    from skimage import data

    return _jpeg(Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BICUBIC), **kw)


@pytest.mark.parametrize("mode", ["keep_ratio", "center_crop", "pad"])
@pytest.mark.parametrize("width, height", [(1001, 751), (703, 469), (469, 703)])
def test_draft_gives_the_full_decodes_geometry(mode, width, height):
    """The output size (and the crop) come from the full size, not the draft's rounded-up size."""
    data_bytes = _photo_jpeg(width, height)
    cfg = ImageConfig(size=150 if mode == "center_crop" else 224, resize_mode=mode)  # both draft at 1/2
    fast, full = decode_image(data_bytes, cfg, use_draft=True), decode_image(data_bytes, cfg, use_draft=False)
    assert fast.used_draft and fast.image.size == full.image.size
    a, b = np.asarray(fast.image, dtype=float), np.asarray(full.image, dtype=float)
    assert np.abs(a - b).mean() < 2.0 and _psnr(a, b) >= 35.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_draft_region_follows_exif_orientation(orientation):
    """A drafted, EXIF-rotated image lines up with the full decode (the rounded-up padding row and
    column move with the transpose)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data_bytes = _photo_jpeg(1001, 751, exif=exif.tobytes())
    cfg = ImageConfig(size=224, resize_mode="keep_ratio")
    fast, full = decode_image(data_bytes, cfg, use_draft=True), decode_image(data_bytes, cfg, use_draft=False)
    assert fast.used_draft and fast.image.size == full.image.size == ((224, 168) if orientation < 5 else (168, 224))
    a, b = np.asarray(fast.image, dtype=float), np.asarray(full.image, dtype=float)
    assert _psnr(a, b) >= 45.0  # measured 52 dB; 34-37 dB when the padding is left on the wrong edge
