"""Fingerprints: identical content hashes identically wherever it comes from; any change shows."""

from __future__ import annotations

import hashlib

from unified_bench.data.loader import load_image_set

from .conftest import encode_image


def _folder(path, colors):
    path.mkdir()
    for i, c in enumerate(colors):
        (path / f"{i}.png").write_bytes(encode_image(c))
    return path


def test_same_content_same_hash_different_folders(tmp_path):
    colors = [(1, 2, 3), (4, 5, 6), (7, 8, 9)]
    a = load_image_set(str(_folder(tmp_path / "a", colors)))
    b = load_image_set(str(_folder(tmp_path / "b", colors)))
    assert a.content_sha256() == b.content_sha256()
    assert a.fingerprint()["source"] != b.fingerprint()["source"]
    assert load_image_set(str(tmp_path / "a")).fingerprint() == a.fingerprint()


def test_content_hash_is_independent_hand_computation(tmp_path):
    folder = _folder(tmp_path / "a", [(1, 2, 3), (4, 5, 6)])
    h = hashlib.sha256()
    for i in (0, 1):
        h.update(f"{i}\t{hashlib.sha256((folder / f'{i}.png').read_bytes()).hexdigest()}\n".encode())
    assert load_image_set(str(folder)).content_sha256() == h.hexdigest()


def test_changed_image_changes_hash(tmp_path):
    folder = _folder(tmp_path / "a", [(1, 2, 3), (4, 5, 6)])
    before = load_image_set(str(folder)).content_sha256()
    (folder / "1.png").write_bytes(encode_image((4, 5, 7)))
    assert load_image_set(str(folder)).content_sha256() != before


def test_renamed_image_changes_hash(tmp_path):
    folder = _folder(tmp_path / "a", [(1, 2, 3), (4, 5, 6)])
    before = load_image_set(str(folder)).content_sha256()
    (folder / "1.png").rename(folder / "2.png")
    assert load_image_set(str(folder)).content_sha256() != before


def test_same_images_same_hash_across_kinds(tmp_path):
    import webdataset as wds

    colors = [(1, 2, 3), (4, 5, 6)]
    folder = load_image_set(str(_folder(tmp_path / "a", colors)))
    with wds.TarWriter(str(tmp_path / "s.tar")) as sink:
        for i, c in enumerate(colors):
            sink.write({"__key__": str(i), "png": encode_image(c)})
    shards = load_image_set(f"wds:{tmp_path / 's.tar'}")
    assert shards.content_sha256() == folder.content_sha256()
    assert shards.fingerprint()["kind"] == "webdataset" != folder.fingerprint()["kind"]


def test_limit_keeps_full_set_hash(tmp_path):
    iset = load_image_set(str(_folder(tmp_path / "a", [(1, 1, 1), (2, 2, 2), (3, 3, 3)])))
    sub = iset.limit(2)
    assert len(sub) == 2 and sub.content_sha256() == iset.content_sha256()
    assert sub.fingerprint()["limit"] == 2 and sub.kind == "folder"
