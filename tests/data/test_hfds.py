"""Hugging Face datasets built in-test, saved with save_to_disk, loaded back through hfds:."""

from __future__ import annotations

import pytest

from unified_bench.data.hfds import HFDatasetImageSet, parse_hfds_spec
from unified_bench.data.loader import load_image_set
from unified_bench.errors import ImageSetError, SpecError

from .conftest import encode_image


def _images(n):
    return [encode_image((i * 40, 255 - i * 40, 3)) for i in range(n)]


def _save(path, columns, features):
    import datasets

    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    ds.save_to_disk(str(path))
    return ds


def test_round_trip_with_id_column(tmp_path):
    import datasets

    data = _images(3)
    _save(
        tmp_path / "ds",
        {
            "id": ["cat", "dog", "owl"],
            "caption": ["a", "b", "c"],
            "image": [{"bytes": b, "path": None} for b in data],
        },
        {"id": datasets.Value("string"), "caption": datasets.Value("string"), "image": datasets.Image()},
    )
    iset = load_image_set(f"hfds:{tmp_path / 'ds'}")
    assert isinstance(iset, HFDatasetImageSet) and iset.kind == "hf-dataset"
    assert [im.id for im in iset] == ["cat", "dog", "owl"]
    assert [im.data for im in iset] == data  # undecoded: the exact stored bytes
    assert iset.fingerprint()["image_column"] == "image"
    iset.validate()


def test_row_index_ids_and_explicit_column(tmp_path):
    import datasets

    a, b = _images(2), _images(4)[2:]
    _save(
        tmp_path / "ds",
        {"thumb": [{"bytes": x, "path": None} for x in a], "full": [{"bytes": x, "path": None} for x in b]},
        {"thumb": datasets.Image(), "full": datasets.Image()},
    )
    auto = load_image_set(f"hfds:{tmp_path / 'ds'}")
    assert [im.id for im in auto] == ["0", "1"] and [im.data for im in auto] == a  # first Image column
    chosen = load_image_set(f"hfds:{tmp_path / 'ds'}#full")
    assert [im.data for im in chosen] == b
    with pytest.raises(SpecError, match="no column 'nope'"):
        load_image_set(f"hfds:{tmp_path / 'ds'}#nope")


def test_dataset_dict_split_selection(tmp_path):
    import datasets

    feats = datasets.Features({"image": datasets.Image()})
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"image": [{"bytes": x, "path": None} for x in _images(2)]}, features=feats
            ),
            "test": datasets.Dataset.from_dict(
                {"image": [{"bytes": x, "path": None} for x in _images(3)]}, features=feats
            ),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert len(load_image_set(f"hfds:{tmp_path / 'dd'}:test")) == 3
    with pytest.raises(SpecError, match="several splits"):
        load_image_set(f"hfds:{tmp_path / 'dd'}")
    with pytest.raises(SpecError, match="no split 'val'"):
        load_image_set(f"hfds:{tmp_path / 'dd'}:val")


def test_no_image_column(tmp_path):
    import datasets

    _save(tmp_path / "ds", {"text": ["x"]}, {"text": datasets.Value("string")})
    with pytest.raises(ImageSetError, match="no Image column"):
        load_image_set(f"hfds:{tmp_path / 'ds'}")


def test_hub_spec_parsing_and_offline_error():
    spec = parse_hfds_spec("org/name@v1.0:validation#img")
    assert (spec.name, spec.revision, spec.split, spec.column, spec.local) == (
        "org/name",
        "v1.0",
        "validation",
        "img",
        False,
    )
    with pytest.raises(ImageSetError, match="does not exist"):
        load_image_set("hfds:/definitely/not/here")
    # HF_DATASETS_OFFLINE=1 (tests/conftest.py) and no cache: a clear error, not a traceback.
    with pytest.raises(ImageSetError, match="Cannot load Hugging Face dataset 'nobody/no-such-set'"):
        load_image_set("hfds:nobody/no-such-set:test")
