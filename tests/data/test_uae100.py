"""The uae-100 named set, downloaded from a loopback server via UNIFIED_BENCH_UAE100_URL."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from unified_bench import paths
from unified_bench.data import named
from unified_bench.data.loader import load_image_set
from unified_bench.errors import ImageSetError

from .conftest import encode_image


def _zip(n: int = 100, prefix: str = "Image/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"{prefix}{i}.jpg", encode_image((i * 2, 255 - i * 2, i), "JPEG", size=4))
        zf.writestr("__MACOSX/._Image", b"junk")
    return buf.getvalue()


@pytest.fixture
def uae_server(http_server, monkeypatch):
    monkeypatch.setenv(named.UAE100_URL_ENV, http_server.url("/releases/Image.zip"))
    monkeypatch.setattr(named, "UAE100_SHA256", None)  # the first-download (trust on first use) path
    return http_server


@pytest.mark.parametrize("prefix", ["Image/", ""])
def test_first_download_records_archive_sha(uae_server, prefix):
    payload = _zip(prefix=prefix)
    uae_server.files["/releases/Image.zip"] = payload
    iset = load_image_set("uae-100")
    assert [im.id for im in iset] == [str(i) for i in range(100)]
    fp = iset.fingerprint()
    assert fp["archive_sha256"] == hashlib.sha256(payload).hexdigest()
    assert (fp["kind"], fp["source"], fp["name"], fp["n_images"]) == (
        "named",
        "named:uae-100",
        "uae-100",
        100,
    )
    sidecar = paths.downloads_dir() / "uae-100" / "Image.zip.sha256"
    assert sidecar.read_text().split()[0] == fp["archive_sha256"]

    again = load_image_set("named:uae-100")
    assert uae_server.requests == ["/releases/Image.zip"]  # downloaded exactly once
    assert again.fingerprint() == fp


def test_pinned_sha_verified(uae_server, monkeypatch):
    payload = _zip()
    uae_server.files["/releases/Image.zip"] = payload
    monkeypatch.setattr(named, "UAE100_SHA256", "f" * 64)
    with pytest.raises(ImageSetError, match="checksum mismatch for Image.zip"):
        load_image_set("uae-100")
    monkeypatch.setattr(named, "UAE100_SHA256", hashlib.sha256(payload).hexdigest())
    assert len(load_image_set("uae-100")) == 100


def test_wrong_image_count(uae_server):
    uae_server.files["/releases/Image.zip"] = _zip(n=99)
    with pytest.raises(ImageSetError, match=r"holds 99 images, not exactly 0..99 \(missing: \['99'\]"):
        load_image_set("uae-100")


def test_not_an_archive(uae_server):
    uae_server.files["/releases/Image.zip"] = b"<html>rate limited</html>"
    with pytest.raises(ImageSetError, match="neither a zip nor a tar"):
        load_image_set("uae-100")


def test_default_url_is_the_release_archive(monkeypatch):
    monkeypatch.delenv(named.UAE100_URL_ENV, raising=False)
    assert named.uae100_manifest().archive.url == (
        "https://github.com/PKU-YuanGroup/UAE/releases/download/v1.0/Image.zip"
    )
