"""Encoders as the paper ran them: PIL preprocessing for CLIP / DINOv2, torchvision for DINOv3,
library versions in the fingerprint (and so in the reference-feature cache key), and half
precision that works for all four encoders, LongCLIP included."""

from __future__ import annotations

import numpy as np
import pytest

from unified_bench.metrics.encoders.base import EncoderSpec
from unified_bench.metrics.encoders.loader import load_encoder


@pytest.mark.parametrize(("name", "pil_class"), [("clip", "CLIPImageProcessorPil"), ("dinov2", "BitImageProcessorPil")])
def test_clip_and_dinov2_pixels_equal_the_pil_processor(tiny_encoder_paths, photos, name, pil_class):
    import transformers

    encoder = load_encoder(EncoderSpec(name, str(tiny_encoder_paths[name])))
    reference = getattr(transformers, pil_class).from_pretrained(tiny_encoder_paths[name])
    expected = reference(images=photos, return_tensors="pt")["pixel_values"]
    got = encoder.preprocess(photos)
    assert got.shape == expected.shape
    assert np.array_equal(got.numpy(), expected.numpy())
    assert encoder.fingerprint()["preprocessing"]["backend"] == "pil"


def test_dinov3_stays_on_torchvision(tiny_encoder_paths):
    encoder = load_encoder(EncoderSpec("dinov3", str(tiny_encoder_paths["dinov3"])))
    assert encoder.fingerprint()["preprocessing"]["backend"] == "torchvision"


def test_fingerprint_names_library_versions_and_keys_the_feature_cache(tiny_encoder_paths, monkeypatch):
    from importlib import metadata

    from unified_bench.metrics.feature_cache import feature_dir

    encoder = load_encoder(EncoderSpec("clip", str(tiny_encoder_paths["clip"])))
    libraries = encoder.fingerprint()["libraries"]
    assert libraries["transformers"] == metadata.version("transformers")
    assert libraries["torch"] == metadata.version("torch") and libraries["pillow"]
    before = feature_dir(encoder)
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda n: "4.57.0" if n == "transformers" else real(n))
    again = load_encoder(EncoderSpec("clip", str(tiny_encoder_paths["clip"])))
    assert feature_dir(again) != before
    longclip = load_encoder(EncoderSpec("longclip", str(tiny_encoder_paths["longclip"])))
    assert "open_clip_torch" in longclip.fingerprint()["libraries"]


@pytest.mark.parametrize("name", ["clip", "dinov2", "dinov3", "longclip"])
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precision_embeds_close_to_fp32(tiny_encoder_paths, photos, name, dtype):
    full = load_encoder(EncoderSpec(name, str(tiny_encoder_paths[name])))
    half = load_encoder(EncoderSpec(name, str(tiny_encoder_paths[name])), dtype=dtype)
    a, b = full.embed(photos), half.embed(photos)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(a * b, axis=1)) > 0.98
    assert half.fingerprint()["dtype"] == dtype
    if name == "longclip":
        assert "autocast" in half.fingerprint()["precision"]
