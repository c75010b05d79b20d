"""WebDataset shards written with webdataset.TarWriter round-trip into image sets."""

from __future__ import annotations

import pytest

from unified_bench.data.loader import load_image_set
from unified_bench.data.wds import WebDatasetImageSet
from unified_bench.errors import ImageSetError

from .conftest import encode_image


def _write_shards(folder, n_shards=3, per_shard=2, ext="png"):
    import webdataset as wds

    expected = {}
    for s in range(n_shards):
        with wds.TarWriter(str(folder / f"shard-{s:03d}.tar")) as sink:
            for j in range(per_shard):
                key = f"s{s}_{j:02d}"
                fmt = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[ext]
                data = encode_image((s * 60, j * 60, 7), fmt)
                sink.write({"__key__": key, ext: data, "txt": f"caption {key}"})
                expected[key] = data
    return expected


def test_brace_pattern_round_trip(tmp_path):
    expected = _write_shards(tmp_path)
    iset = load_image_set(f"wds:{tmp_path}/shard-{{000..002}}.tar")
    assert isinstance(iset, WebDatasetImageSet) and iset.kind == "webdataset"
    assert [im.id for im in iset] == list(expected)  # shard order, then tar order
    assert {im.id: im.data for im in iset} == expected
    assert iset.fingerprint()["n_shards"] == 3
    iset.validate()


def test_single_shard_and_subset(tmp_path):
    expected = _write_shards(tmp_path, n_shards=2, ext="jpg")
    iset = load_image_set(f"wds:{tmp_path}/shard-001.tar")
    assert [im.id for im in iset] == [k for k in expected if k.startswith("s1_")]
    assert next(iter(iset)).origin.endswith("shard-001.tar:s1_00.jpg")


def test_missing_shard_named(tmp_path):
    _write_shards(tmp_path, n_shards=1)
    with pytest.raises(ImageSetError, match="shard-001.tar"):
        load_image_set(f"wds:{tmp_path}/shard-{{000..001}}.tar")


def test_sample_without_image(tmp_path):
    import webdataset as wds

    with wds.TarWriter(str(tmp_path / "a.tar")) as sink:
        sink.write({"__key__": "k0", "txt": "only text"})
    with pytest.raises(ImageSetError, match="k0.*no image member"):
        load_image_set(f"wds:{tmp_path}/a.tar")


def test_corrupt_shard(tmp_path):
    (tmp_path / "bad.tar").write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(ImageSetError, match="bad.tar"):
        load_image_set(f"wds:{tmp_path}/bad.tar")
