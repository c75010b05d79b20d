"""Folder image sets: ids, ordering, extensions, corrupt files and missing/empty folders."""

from __future__ import annotations

import hashlib

import pytest

from unified_bench.data.folder import FolderImageSet, load_folder, sort_ids
from unified_bench.data.loader import load_image_set
from unified_bench.errors import ImageSetError

from .conftest import encode_image


def test_numeric_stems_sort_numerically(tmp_path):
    for i in (10, 2, 0, 1, 11, 3):
        (tmp_path / f"{i}.png").write_bytes(encode_image((i * 20, 0, 0)))
    iset = load_image_set(str(tmp_path))
    assert isinstance(iset, FolderImageSet)
    assert [im.id for im in iset] == ["0", "1", "2", "3", "10", "11"]
    assert iset.kind == "folder"
    assert iset.source == str(tmp_path.resolve())


def test_mixed_stems_sort_lexicographically():
    assert sort_ids(["b", "10", "a", "2"]) == ["10", "2", "a", "b"]
    assert sort_ids(["10", "9", "010"]) == ["9", "010", "10"]


def test_extensions_case_insensitive_and_others_ignored(tmp_path):
    (tmp_path / "a.JPG").write_bytes(encode_image((1, 2, 3), "JPEG"))
    (tmp_path / "b.jpeg").write_bytes(encode_image((4, 5, 6), "JPEG"))
    (tmp_path / "c.PNG").write_bytes(encode_image((7, 8, 9)))
    (tmp_path / "d.webp").write_bytes(encode_image((10, 11, 12), "WEBP"))
    (tmp_path / "e.bmp").write_bytes(encode_image((13, 14, 15), "BMP"))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "f.gif").write_bytes(encode_image((0, 0, 0), "GIF"))
    (tmp_path / ".hidden.png").write_bytes(encode_image((0, 0, 0)))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.png").write_bytes(encode_image((0, 0, 0)))
    iset = load_image_set(f"folder:{tmp_path}")
    assert [im.id for im in iset] == ["a", "b", "c", "d", "e"]
    first = next(iter(iset))
    assert first.data == (tmp_path / "a.JPG").read_bytes()
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.origin == str(tmp_path.resolve() / "a.JPG")
    iset.validate()  # every accepted format decodes
    assert first.open().size == (8, 8)


def test_duplicate_stems_rejected(tmp_path):
    (tmp_path / "0.png").write_bytes(encode_image((1, 1, 1)))
    (tmp_path / "0.jpg").write_bytes(encode_image((1, 1, 1), "JPEG"))
    with pytest.raises(ImageSetError, match="duplicate image ids"):
        load_folder(tmp_path)


def test_truncated_png_named_by_validate(tmp_path):
    (tmp_path / "0.png").write_bytes(encode_image((10, 20, 30), size=32))
    good = encode_image((40, 50, 60), size=32)
    (tmp_path / "1.png").write_bytes(good[: len(good) // 2])
    iset = load_folder(tmp_path)  # loading reads bytes only
    with pytest.raises(ImageSetError) as err:
        iset.validate()
    assert "'1'" in err.value.problem and "1.png" in err.value.problem
    assert err.value.fix


def test_text_file_named_jpg_named_by_validate(tmp_path):
    (tmp_path / "0.png").write_bytes(encode_image((10, 20, 30)))
    (tmp_path / "fake.jpg").write_text("this is plain text, not a JPEG\n")
    with pytest.raises(ImageSetError, match=r"fake\.jpg"):
        load_folder(tmp_path).validate()


def test_missing_folder_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ImageSetError, match="does not exist") as err:
        load_image_set(str(missing))
    assert str(missing) in err.value.problem
    with pytest.raises(ImageSetError, match="does not exist"):
        load_image_set(f"folder:{missing}")


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ImageSetError, match="contains no images"):
        load_image_set(str(tmp_path))


def test_file_instead_of_folder(tmp_path):
    f = tmp_path / "0.png"
    f.write_bytes(encode_image((1, 2, 3)))
    with pytest.raises(ImageSetError, match="is a file"):
        load_image_set(f"folder:{f}")
