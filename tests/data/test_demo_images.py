"""The demo builder reproduces the frozen fixture photographs pixel for pixel, offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from unified_bench.data.loader import load_image_set
from unified_bench.demo.images import N_DEMO_IMAGES, build_demo_images

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_fixture_checksums_match_files():
    sums = dict(line.split()[::-1] for line in (FIXTURES / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == [f"{i}.png" for i in range(N_DEMO_IMAGES)]
    for name, digest in sums.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest


def test_builder_reproduces_frozen_fixtures(tmp_path):
    out = build_demo_images(tmp_path / "demo", size=64)
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.png" for i in range(N_DEMO_IMAGES)]
    for i in range(N_DEMO_IMAGES):
        got, want = _pixels(out / f"{i}.png"), _pixels(FIXTURES / f"{i}.png")
        assert got.shape == (64, 64, 3)
        np.testing.assert_array_equal(got, want, err_msg=f"{i}.png differs from the frozen fixture")


def test_builder_is_deterministic_and_sized(tmp_path):
    a = build_demo_images(tmp_path / "a", size=32)
    b = build_demo_images(tmp_path / "b", size=32)
    for i in range(N_DEMO_IMAGES):
        assert (a / f"{i}.png").read_bytes() == (b / f"{i}.png").read_bytes()
        assert _pixels(a / f"{i}.png").shape == (32, 32, 3)
    # real photographs, not flat colour: every photo has plenty of distinct colours
    for i in range(4):
        assert len(np.unique(_pixels(a / f"{i}.png").reshape(-1, 3), axis=0)) > 200


def test_named_demo_set_offline():
    iset = load_image_set("demo")
    assert [im.id for im in iset] == [str(i) for i in range(N_DEMO_IMAGES)]
    fp = iset.fingerprint()
    assert (fp["kind"], fp["source"], fp["size"]) == ("named", "named:demo", 64)
    for im in iset:
        np.testing.assert_array_equal(np.asarray(im.open()), _pixels(FIXTURES / f"{im.id}.png"))
    assert load_image_set("named:demo").content_sha256() == iset.content_sha256()  # cached build
