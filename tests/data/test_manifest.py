"""Manifest downloads from a loopback HTTP server: verification, caching, atomicity, errors."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from unified_bench import paths
from unified_bench.data.loader import load_image_set
from unified_bench.data.manifest import ManifestImageSet
from unified_bench.errors import ImageSetError, SpecError

from .conftest import encode_image


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _files_manifest(tmp_path, server, images: dict[str, bytes], shas: dict[str, str] | None = None):
    for name, data in images.items():
        server.files[f"/set/{name}"] = data
    manifest = {
        "name": "tiny-set",
        "description": "three tiny images",
        "files": [
            {"name": name, "url": server.url(f"/set/{name}"), "sha256": (shas or {}).get(name, _sha(data))}
            for name, data in images.items()
        ],
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(manifest))
    return path


def test_download_verify_and_cache(tmp_path, http_server):
    images = {
        "2.png": encode_image((1, 2, 3)),
        "0.png": encode_image((4, 5, 6)),
        "1.jpg": encode_image((7, 8, 9), "JPEG"),
    }
    mpath = _files_manifest(tmp_path, http_server, images)

    iset = load_image_set(f"manifest:{mpath}")
    assert isinstance(iset, ManifestImageSet) and iset.kind == "manifest"
    assert [im.id for im in iset] == ["2", "0", "1"]  # manifest order
    assert [im.data for im in iset] == list(images.values())
    assert iset.source == str(mpath.resolve())
    assert len(http_server.requests) == 3
    folder = paths.downloads_dir() / "tiny-set"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*images, *(f"{n}.sha256" for n in images)]
    )  # no temp files left behind
    assert (folder / "0.png.sha256").read_text().split()[0] == _sha(images["0.png"])

    again = load_image_set(str(mpath))  # bare .json path = manifest
    assert len(http_server.requests) == 3  # cached: no request at all
    assert again.content_sha256() == iset.content_sha256()


def test_checksum_mismatch_on_download(tmp_path, http_server):
    images = {"0.png": encode_image((1, 2, 3))}
    wrong = "0" * 64
    mpath = _files_manifest(tmp_path, http_server, images, shas={"0.png": wrong})
    with pytest.raises(ImageSetError) as err:
        load_image_set(f"manifest:{mpath}")
    msg = str(err.value)
    assert f"checksum mismatch for tiny-set/0.png: expected {wrong}, got {_sha(images['0.png'])}" in msg
    folder = paths.downloads_dir() / "tiny-set"
    assert f"delete {folder} and retry" in msg
    assert list(folder.iterdir()) == []  # the bad download was never renamed into place


def test_tampered_cache_detected_without_request(tmp_path, http_server):
    images = {"0.png": encode_image((1, 2, 3))}
    mpath = _files_manifest(tmp_path, http_server, images)
    load_image_set(f"manifest:{mpath}")
    cached = paths.downloads_dir() / "tiny-set" / "0.png"
    cached.write_bytes(encode_image((9, 9, 9)))
    with pytest.raises(ImageSetError, match="checksum mismatch for tiny-set/0.png"):
        load_image_set(f"manifest:{mpath}")
    assert len(http_server.requests) == 1


def test_http_error_and_unreachable_server(tmp_path, http_server):
    manifest = {
        "name": "gone",
        "files": [{"name": "0.png", "url": http_server.url("/missing.png"), "sha256": "a" * 64}],
    }
    mpath = tmp_path / "m.json"
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(ImageSetError, match=r"Could not download gone/0.png from .*404"):
        load_image_set(f"manifest:{mpath}")
    port = http_server.base_url.rsplit(":", 1)[1]
    http_server.stop()
    manifest["files"][0]["url"] = f"http://127.0.0.1:{port}/0.png"
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(ImageSetError, match="Could not download"):
        load_image_set(f"manifest:{mpath}")


def test_archive_manifest_with_members_and_null_sha(tmp_path, http_server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pics/a.png", encode_image((1, 1, 1)))
        zf.writestr("pics/b.png", encode_image((2, 2, 2)))
        zf.writestr("pics/skip.png", encode_image((3, 3, 3)))
    http_server.files["/pics.zip"] = buf.getvalue()
    manifest = {
        "name": "arch",
        "archive": {"url": http_server.url("/pics.zip"), "sha256": None},
        "members": ["pics/b.png", "pics/a.png"],
    }
    mpath = tmp_path / "m.json"
    mpath.write_text(json.dumps(manifest))
    iset = load_image_set(f"manifest:{mpath}")
    assert [im.id for im in iset] == ["b", "a"]
    assert iset.fingerprint()["archive_sha256"] == _sha(buf.getvalue())
    load_image_set(f"manifest:{mpath}")
    assert http_server.requests == ["/pics.zip"]


def test_tar_archive_with_wrapping_folder(tmp_path, http_server):
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(3):
            data = encode_image((i, i, i))
            info = tarfile.TarInfo(f"Image/{i}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    http_server.files["/imgs.tar.gz"] = buf.getvalue()
    mpath = tmp_path / "m.json"
    mpath.write_text(
        json.dumps(
            {
                "name": "tarset",
                "archive": {"url": http_server.url("/imgs.tar.gz"), "sha256": _sha(buf.getvalue())},
            }
        )
    )
    iset = load_image_set(f"manifest:{mpath}")
    assert [im.id for im in iset] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "manifest, match",
    [
        ({"name": "x"}, "exactly one of 'files' or 'archive'"),
        (
            {"name": "x", "files": [{"name": "../0.png", "url": "http://127.0.0.1/a", "sha256": "a" * 64}]},
            "files.0.name",
        ),
        ({"name": "x", "files": [{"name": "0.png", "url": "http://127.0.0.1/a", "sha256": "xyz"}]}, "sha256"),
        ({"name": "x", "files": [{"name": "0.txt", "url": "http://127.0.0.1/a"}]}, "must end in one of"),
        (
            {"name": "x", "archive": {"url": "http://127.0.0.1/a.zip"}, "members": ["/etc/passwd"]},
            "relative path",
        ),
        ({"name": "x", "archive": {"url": "http://127.0.0.1/a.zip"}, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_manifests(tmp_path, manifest, match):
    mpath = tmp_path / "m.json"
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(SpecError, match=match):
        load_image_set(f"manifest:{mpath}")


def test_manifest_not_json_and_missing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_image_set(f"manifest:{bad}")
    with pytest.raises(ImageSetError, match="does not exist"):
        load_image_set(f"manifest:{tmp_path / 'missing.json'}")


def test_stale_extraction_replaced_when_archive_changes(tmp_path, http_server):
    def zipped(color):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("0.png", encode_image(color))
        return buf.getvalue()

    http_server.files["/a.zip"] = zipped((1, 1, 1))
    mpath = tmp_path / "m.json"
    mpath.write_text(json.dumps({"name": "z", "archive": {"url": http_server.url("/a.zip"), "sha256": None}}))
    first = load_image_set(f"manifest:{mpath}")
    # The user deletes the archive (not the extracted folder); the server now has new bytes.
    archive = paths.downloads_dir() / "z" / "a.zip"
    archive.unlink()
    archive.with_name("a.zip.sha256").unlink()
    http_server.files["/a.zip"] = zipped((2, 2, 2))
    second = load_image_set(f"manifest:{mpath}")
    assert second.fingerprint()["archive_sha256"] == _sha(http_server.files["/a.zip"])
    assert second.content_sha256() != first.content_sha256()
    assert next(iter(second)).open().getpixel((1, 1)) == (2, 2, 2)
