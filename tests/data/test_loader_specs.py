"""Spec dispatch and the errors for specs that name nothing."""

from __future__ import annotations

import pytest

from unified_bench.data.loader import SPEC_FORMS, load_image_set
from unified_bench.errors import ImageSetError, SpecError

from .conftest import encode_image


@pytest.mark.parametrize("spec", ["", "   "])
def test_empty_spec(spec):
    with pytest.raises(SpecError, match="Empty image-set spec"):
        load_image_set(spec)


def test_unknown_name_suggests_and_lists_forms():
    with pytest.raises(SpecError, match="Did you mean 'uae-100'") as err:
        load_image_set("uae100")
    for form in SPEC_FORMS:
        assert form in err.value.fix


def test_unknown_scheme_suggests():
    with pytest.raises(SpecError, match="Unknown image-set scheme 'wbs:'.*Did you mean 'wds:'"):
        load_image_set("wbs:/data/x.tar")


def test_unknown_named_set():
    with pytest.raises(SpecError, match="Unknown image set 'dem'") as err:
        load_image_set("named:dem")
    assert "demo" in err.value.fix


def test_prefix_without_body():
    with pytest.raises(SpecError, match="nothing after 'wds:'"):
        load_image_set("wds:")


def test_relative_missing_folder_named_absolutely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageSetError, match="does not exist") as err:
        load_image_set("./pics")
    assert str(tmp_path / "pics") in err.value.problem


def test_named_set_wins_over_folder_of_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "x.png").write_bytes(encode_image((1, 2, 3)))
    assert load_image_set("demo").kind == "named"
    assert [im.id for im in load_image_set("./demo")] == ["x"]
    assert [im.id for im in load_image_set("folder:demo")] == ["x"]
