"""Fixtures for the metric tests: the four tiny encoders (built once) and real photographs.

The encoders are random-weight models of the real architectures written in their real on-disk
formats by ``unified_bench.demo.encoders``; every test loads them through the same constructors a
real checkpoint takes.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_encoder_paths(tmp_path_factory):
    from unified_bench.demo.encoders import build_demo_encoders

    return build_demo_encoders(tmp_path_factory.mktemp("tiny-encoders"))


@pytest.fixture(scope="session")
def photos():
    """Three real photographs (skimage.data), downscaled to small, differently shaped images."""
    from PIL import Image
    from skimage import data

    return [
        Image.fromarray(data.astronaut()).resize((48, 48), Image.Resampling.BICUBIC),
        Image.fromarray(data.coffee()).resize((64, 40), Image.Resampling.BICUBIC),
        Image.fromarray(data.chelsea()).resize((45, 60), Image.Resampling.BICUBIC),
    ]


@pytest.fixture(scope="session")
def reconstructions(photos):
    """Stand-ins for regenerated images: the photos blurred and at another size (like 1024 px outputs)."""
    from PIL import ImageFilter

    return [p.filter(ImageFilter.GaussianBlur(2)).resize((80, 80)) for p in photos]
