"""Tiny random-weight Mask2Former and OWLv2 checkpoints (built once per session) and small photos."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_detectors(tmp_path_factory):
    from unified_bench.demo.geneval import build_geneval_models

    return build_geneval_models(tmp_path_factory.mktemp("tiny-detectors"), include=("mask2former", "owlv2"))


@pytest.fixture(scope="session")
def det_photos():
    """Real photographs (skimage.data): two of one size and one of another (batches group by size)."""
    from PIL import Image
    from skimage import data

    return [
        Image.fromarray(data.astronaut()).resize((64, 48), Image.Resampling.BICUBIC),
        Image.fromarray(data.coffee()).resize((64, 48), Image.Resampling.BICUBIC),
        Image.fromarray(data.chelsea()).resize((40, 56), Image.Resampling.BICUBIC),
    ]
