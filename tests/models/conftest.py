"""Session fixtures: the tiny demo models, built once and loaded once through ``load_model``.

Why: building and loading the four tiny architectures costs a few seconds; every test in this
folder shares them. Loading goes through ``parse_model_spec(dir)`` -> ``load_model``, i.e. the
same ``from_pretrained`` path an ``hf:`` spec takes after the hub resolved it to a directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from unified_bench.demo import models as demo

BUILDERS = {
    "janus": demo.build_demo_janus,
    "emu3": demo.build_demo_emu3,
    "vlm": demo.build_demo_vlm,
    "t2i": demo.build_demo_t2i,
}


@pytest.fixture(scope="session")
def demo_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("demo-models")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="session")
def cpu_runtime():
    from unified_bench.specs import RuntimeOptions

    return RuntimeOptions(device="cpu", dtype="fp32", batch_size=2)


@pytest.fixture(scope="session")
def loaded(demo_dirs, cpu_runtime):
    """Lazily load each adapter once per session: ``loaded("janus")``, ``loaded("composite")``."""
    from unified_bench.models.loader import load_model
    from unified_bench.specs import parse_model_spec

    cache = {}

    def get(name: str):
        if name not in cache:
            if name == "composite":
                raw = f"{demo_dirs['vlm']}+{demo_dirs['t2i']}"
            else:
                raw = str(demo_dirs[name])
            cache[name] = load_model(parse_model_spec(raw), cpu_runtime)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def photos():
    """Two small real photographs (scikit-image ships them) of different sizes."""
    from PIL import Image
    from skimage import data

    return [
        Image.fromarray(data.astronaut()).resize((48, 40)),
        Image.fromarray(data.coffee()).resize((30, 36)),
    ]


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """The tiny models are far too small to gain from intra-op threads; on a shared 2-core CI
    machine the extra OpenMP thread only spins. Restored after this package's tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
