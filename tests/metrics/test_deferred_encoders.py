"""Encoders described before the run, weights loaded only for scoring (issue 8, item 7).

Why: the runner loads the judges before any model work so a missing or broken encoder fails first,
but their weights must not sit on the device while the model under test runs. A deferred encoder
must therefore catch everything checkable without its weights at construction, know its full
fingerprint (the feature-cache key) already, and embed exactly as an eager one once loaded.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from unified_bench.errors import EncoderError
from unified_bench.metrics.encoders.base import EncoderSpec
from unified_bench.metrics.encoders.loader import load_encoder

NAMES = ("clip", "dinov2", "dinov3", "longclip")


@pytest.mark.parametrize("name", NAMES)
def test_deferred_encoder_has_no_weights_until_scoring_and_embeds_the_same(name, tiny_encoder_paths, photos):
    spec = EncoderSpec(name, str(tiny_encoder_paths[name]))
    deferred = load_encoder(spec, defer_weights=True)
    assert not deferred.weights_loaded and deferred.weights_loads == 0
    eager = load_encoder(spec)
    assert deferred.fingerprint() == eager.fingerprint()  # the cache key needs no weights
    np.testing.assert_array_equal(deferred.embed(photos), eager.embed(photos))
    assert deferred.weights_loaded and deferred.weights_loads == 1


@pytest.mark.parametrize("name", ["clip", "dinov2", "dinov3"])
def test_missing_or_truncated_weights_fail_before_any_work(name, tiny_encoder_paths, tmp_path):
    broken = tmp_path / name
    shutil.copytree(tiny_encoder_paths[name], broken)
    weights = broken / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:7])  # header cut short
    with pytest.raises(EncoderError):
        load_encoder(EncoderSpec(name, str(broken)), defer_weights=True)
    weights.unlink()
    with pytest.raises(EncoderError, match="no weight file"):
        load_encoder(EncoderSpec(name, str(broken)), defer_weights=True)


def test_longclip_with_a_non_clip_file_fails_before_any_work(tmp_path):
    import torch

    path = tmp_path / "longclip-L.pt"
    torch.save({"not": torch.zeros(1)}, path)
    with pytest.raises(EncoderError, match="visual.conv1.weight"):
        load_encoder(EncoderSpec("longclip", str(path)), defer_weights=True)
