"""The builder reproduces the frozen fixture TSVs (text exactly; images to JPEG-encoder precision)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from unified_bench.tasks.mmt.demo_data import FILES, ROWS, build_fixture
from unified_bench.tasks.mmt.tsv import MCQDataset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mmt"


def test_rebuild_matches_frozen_files(tmp_path):
    out = build_fixture(tmp_path / "mmt")
    for name in FILES:
        frozen, rebuilt = list(MCQDataset(FIXTURES / name)), list(MCQDataset(out / name))
        assert len(frozen) == len(rebuilt) == len(ROWS)
        for a, b in zip(frozen, rebuilt, strict=True):
            assert replace(a, image_ref=b.image_ref) == b  # every text field and the row numbers
            assert a.image_ref.row == b.image_ref.row  # same back-references
            if a.image_bytes() == b.image_bytes():
                continue
            # another libjpeg may encode differently; the pixels must still agree closely
            for x, y in zip(a.images(), b.images(), strict=True):
                diff = np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int))
                assert x.size == y.size and diff.max() <= 12, f"{name} row {a.row} image differs"


def test_builder_is_deterministic(tmp_path):
    a, b = build_fixture(tmp_path / "a"), build_fixture(tmp_path / "b")
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_fixture_covers_the_format():
    option_counts = {r.n_options for r in ROWS}
    assert option_counts == set(range(2, 10))
    assert any(r.answer is None for r in ROWS)
    assert any(r.hint for r in ROWS)
    backrefs = [r for r in ROWS if isinstance(r.images, str)]
    assert any(int(r.images) > r.index for r in backrefs) and any(int(r.images) < r.index for r in backrefs)
    assert any(isinstance(r.images, tuple) and len(r.images) > 1 for r in ROWS)
