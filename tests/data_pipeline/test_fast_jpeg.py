"""The libjpeg-turbo array decode (``fast_jpeg``): Pillow's pixels exactly, at Pillow's draft scale, and
Pillow's verdict wherever it steps aside."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data_pipeline import fast_jpeg
from data_pipeline.decode import decode_image
from data_pipeline.recipe import ImageConfig

pytest.importorskip("simplejpeg")


def _photo_jpeg(width: int, height: int, subsampling: int = -1, **kw) -> bytes:
    """A real photo (scikit-image's coffee) stretched to an odd size, so a reduced-scale decode rounds up."""
    from skimage import data

    buf = io.BytesIO()
    img = Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BICUBIC)
    img.save(buf, format="JPEG", quality=95, subsampling=subsampling, **kw)
    return buf.getvalue()


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_jpeg, "decode_rgbx", lambda *a, **k: None)


@pytest.mark.parametrize("width, height, scale", [(1001, 751, 1), (1203, 1601, 2), (2411, 1203, 4), (3203, 2409, 8)])
@pytest.mark.parametrize("subsampling", [0, 2])  # 4:4:4 and 4:2:0
def test_same_pixels_as_pillow_at_pillows_draft_scale(width, height, scale, subsampling):
    data = _photo_jpeg(width, height, subsampling)
    with Image.open(io.BytesIO(data)) as img:
        if scale > 1:
            img.draft("RGB", (width // scale, height // scale))
        img.load()
        ref = np.asarray(img.convert("RGB"))
    assert fast_jpeg.draft_scale((width, height), (width // scale, height // scale)) == scale
    got = fast_jpeg.decode_rgbx(data, (width, height), scale)
    assert got is not None and got.shape == (*ref.shape[:2], 4)
    assert np.array_equal(got[..., :3], ref)


@pytest.mark.parametrize("encoding", [{"progressive": True}, {"optimize": True}, {"subsampling": 1},
                                      {"keep_rgb": True}, {"restart_marker_blocks": 4},
                                      {"subsampling": 2, "progressive": True}])
def test_same_pixels_as_pillow_for_other_encodings(encoding):
    """Progressive, optimised Huffman tables, 4:2:2, an Adobe RGB (not YCbCr) file, restart markers."""
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.coffee()).resize((1003, 755)).save(buf, format="JPEG", quality=90, **encoding)
    for scale in (1, 2):
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            if scale > 1:
                img.draft("RGB", (1003 // scale, 755 // scale))
            img.load()
            ref = np.asarray(img.convert("RGB"))
        got = fast_jpeg.decode_rgbx(buf.getvalue(), (1003, 755), scale)
        assert got is not None and np.array_equal(got[..., :3], ref)


@pytest.mark.parametrize("size", [(1001, 751), (1601, 1203), (97, 3000), (5000, 700)])
@pytest.mark.parametrize("request_", [(640, 480), (300, 300), (100, 100), (1, 1), (2000, 2000)])
def test_draft_scale_is_pillows_choice(size, request_):
    img = Image.new("RGB", size)
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    with Image.open(buf) as jpg:
        _, box = jpg.draft("RGB", request_)  # box: the full image in decoded pixels, (0, 0, w/scale, h/scale)
        pillow_scale = round(size[0] / box[2])
        assert jpg.size == (-(-size[0] // pillow_scale), -(-size[1] // pillow_scale))
    assert fast_jpeg.draft_scale(size, request_) == pillow_scale


@pytest.mark.parametrize("mode, size", [("keep_ratio", 512), ("keep_ratio", 200), ("pad", 300), ("keep_ratio", 2000)])
def test_decode_image_is_unchanged_by_the_array_path(mode, size, monkeypatch):
    """Full and drafted decodes, pad and an upscale: the same output image and bookkeeping as Pillow's decode."""
    cfg = ImageConfig(size=size, resize_mode=mode)
    for width, height in ((1001, 751), (1283, 1601)):
        data = _photo_jpeg(width, height)
        fast = decode_image(data, cfg)
        with monkeypatch.context() as m:
            _pillow_only(m)
            ref = decode_image(data, cfg)
        assert ref.reason is None, ref.detail
        assert (fast.original_size, fast.used_draft, fast.original_mode) == (ref.original_size, ref.used_draft, "RGB")
        assert fast.image.size == ref.image.size and np.array_equal(np.asarray(fast.image), np.asarray(ref.image))


def test_the_array_path_really_runs(monkeypatch):
    """Guard for the test above: a colour JPEG at a bilinear keep-ratio recipe goes through decode_rgbx."""
    calls = []
    real = fast_jpeg.decode_rgbx
    monkeypatch.setattr(fast_jpeg, "decode_rgbx", lambda *a: calls.append(a[1:3]) or real(*a))
    decode_image(_photo_jpeg(1283, 1601), ImageConfig(size=512, resize_mode="keep_ratio"))
    assert calls == [((1283, 1601), 2)]


def test_a_file_libjpeg_only_warns_about_is_still_decoded_as_pillow_does(monkeypatch):
    """Junk bytes before the end marker: libjpeg warns, simplejpeg (strict) refuses, Pillow accepts. The
    sample must be accepted exactly as before."""
    data = _photo_jpeg(801, 601)
    junk = data[:-2] + b"\x00\x17\x2a" + data[-2:]
    assert fast_jpeg.decode_rgbx(junk, (801, 601)) is None
    cfg = ImageConfig(size=256, resize_mode="keep_ratio")
    got = decode_image(junk, cfg)
    with monkeypatch.context() as m:
        _pillow_only(m)
        ref = decode_image(junk, cfg)
    assert got.reason is None and np.array_equal(np.asarray(got.image), np.asarray(ref.image))


def test_truncated_and_garbage_keep_pillows_verdict():
    data = _photo_jpeg(801, 601)
    cfg = ImageConfig(size=256, resize_mode="keep_ratio")
    assert fast_jpeg.decode_rgbx(data[: len(data) // 2], (801, 601)) is None
    assert decode_image(data[: len(data) // 2], cfg).reason == "decode_error"
    assert decode_image(data[:200] + b"\x00" * 400, cfg).reason == "decode_error"


def test_what_the_array_path_does_not_serve_goes_to_pillow(monkeypatch):
    """Grey and CMYK JPEGs, EXIF-rotated ones, centre crops and Lanczos never reach decode_rgbx."""
    calls = []
    monkeypatch.setattr(fast_jpeg, "decode_rgbx", lambda *a, **k: calls.append(a) or None)
    rgb = Image.open(io.BytesIO(_photo_jpeg(801, 601)))
    exif = Image.Exif()
    exif[0x0112] = 6
    cases = [(rgb.convert("L"), {}, "keep_ratio", "bilinear"), (rgb.convert("CMYK"), {}, "keep_ratio", "bilinear"),
             (rgb, {"exif": exif.tobytes()}, "keep_ratio", "bilinear"), (rgb, {}, "center_crop", "bilinear"),
             (rgb, {}, "keep_ratio", "lanczos")]
    for img, kw, mode, resample in cases:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90, **kw)
        got = decode_image(buf.getvalue(), ImageConfig(size=128, resize_mode=mode, resample=resample))
        assert got.reason is None and got.image.mode == "RGB"
    assert calls == []


def test_without_simplejpeg_pillow_decodes(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # ``import simplejpeg`` raises ImportError
    data = _photo_jpeg(801, 601)
    assert fast_jpeg.decode_rgbx(data, (801, 601)) is None
    got = decode_image(data, ImageConfig(size=256, resize_mode="keep_ratio"))
    assert got.reason is None and got.image.size == (256, 192)


def test_decode_buffers_are_reused_and_bounded(monkeypatch):
    """A buffer goes back to the pool after its decode and serves the next one that fits; a smaller image
    decoded into a larger, dirty buffer gives the same pixels as a fresh decode; huge ones are not pooled."""
    monkeypatch.setattr(fast_jpeg, "_pool", [])  # empty, whatever earlier tests decoded
    big, small = _photo_jpeg(1601, 1203), _photo_jpeg(801, 601)
    fresh = fast_jpeg.decode_rgbx(small, (801, 601))
    with fast_jpeg.pooled_buffer(1601 * 1203 * 4) as first:
        assert fast_jpeg.decode_rgbx(big, (1601, 1203), 1, first) is not None
    with fast_jpeg.pooled_buffer(801 * 601 * 4) as again:
        assert again is first  # the same memory: no new pages to fault in
        reused = fast_jpeg.decode_rgbx(small, (801, 601), 1, again)
        assert np.shares_memory(reused, again) and np.array_equal(reused, fresh)
    with fast_jpeg.pooled_buffer(fast_jpeg.POOL_MAX_BYTES + 1) as none:
        assert none is None


def test_without_torch_a_jpeg_is_decoded_once_by_pillow(monkeypatch):
    """The array would only feed torch's resize: without torch it is never decoded (not decoded twice)."""
    import sys

    calls = []
    monkeypatch.setattr(fast_jpeg, "decode_rgbx", lambda *a, **k: calls.append(a) or None)
    monkeypatch.setitem(sys.modules, "torch", None)  # ``import torch`` raises ImportError
    got = decode_image(_photo_jpeg(801, 601), ImageConfig(size=256, resize_mode="keep_ratio"))
    assert got.reason is None and got.image.size == (256, 192) and calls == []
