"""The tiny demo encoders are deterministic and load through the real constructors."""

from __future__ import annotations

import numpy as np
import torch

from unified_bench.demo.encoders import build_demo_encoders
from unified_bench.metrics.encoders.base import EncoderSpec
from unified_bench.metrics.encoders.loader import load_encoder


def test_same_seed_same_weights_and_global_rng_untouched(tmp_path, tiny_encoder_paths, photos):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    again = build_demo_encoders(tmp_path / "again")
    assert torch.equal(torch.rand(1), before), "building demo encoders must not consume the global RNG"
    for name, path in again.items():
        ours = load_encoder(EncoderSpec(name, str(path)), "cpu", "fp32", 4).embed(photos)
        theirs = load_encoder(EncoderSpec(name, str(tiny_encoder_paths[name])), "cpu", "fp32", 4).embed(photos)
        np.testing.assert_array_equal(ours, theirs)
