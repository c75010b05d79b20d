"""Tiny random-weight Mask2Former + open_clip colour model for the GenEval scoring tests (built once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def geneval_models(tmp_path_factory):
    from unified_bench.demo.geneval import build_geneval_models

    return build_geneval_models(tmp_path_factory.mktemp("geneval-models"), include=("mask2former", "open_clip"))


@pytest.fixture(scope="session")
def colour_classifier(geneval_models):
    from unified_bench.tasks.geneval.colours import ColourClassifier

    return ColourClassifier(f"local-dir:{geneval_models['open_clip']}", batch_size=4)


@pytest.fixture(scope="session")
def scene_photos():
    """Real photographs (skimage.data) at 64x48 (one size: scored in one detector batch)."""
    from PIL import Image
    from skimage import data

    return [Image.fromarray(f()).resize((64, 48), Image.Resampling.BICUBIC)
            for f in (data.astronaut, data.coffee, data.chelsea, data.rocket)]
