"""Manifests: a JSON description of a downloadable, verified image set.

Two forms::

    {"name": "my-set", "description": "...",
     "files": [{"name": "0.jpg", "url": "https://...", "sha256": "<64 hex>"}, ...]}

    {"name": "my-set", "description": "...",
     "archive": {"url": "https://.../images.zip", "sha256": "<64 hex> or null"},
     "members": ["Image/0.jpg", ...]}          # optional: which archive members are the images

Why: a manifest pins exactly which bytes make up a reference set, so anyone can rebuild it and
get the same fingerprint. Files land once in ``paths.downloads_dir()/<name>/`` (see
``download.fetch_verified``); an archive (zip or tar) is extracted next to itself, into a
temporary folder renamed into place when complete. Without ``members`` the images are those of the
archive's top folder, descending through a single wrapping folder (``Image/0.jpg`` and ``0.jpg``
both work). A ``null`` archive digest is recorded at first download and checked afterwards; the
digest is in the fingerprint (``archive_sha256``) either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unified_bench import paths
from unified_bench.data.base import ImageSet
from unified_bench.data.download import fetch_verified
from unified_bench.data.folder import IMAGE_EXTENSIONS, image_files, read_images
from unified_bench.errors import ImageSetError, SpecError

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
_SHA_RE = r"^[0-9a-fA-F]{64}$"
_SKIP_DIRS = {"__MACOSX"}
#: Written inside the extraction folder: the digest of the archive it came from.
_EXTRACTED_MARKER = ".archive.sha256"


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_RE, description="File name in the download folder; id = stem.")
    url: str
    sha256: str | None = Field(default=None, pattern=_SHA_RE)

    @field_validator("name")
    @classmethod
    def _image_name(cls, v: str) -> str:
        if Path(v).suffix.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"'{v}' must end in one of {sorted(IMAGE_EXTENSIONS)}")
        return v


class ManifestArchive(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    sha256: str | None = Field(default=None, pattern=_SHA_RE)


class Manifest(BaseModel):
    """A validated manifest (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_RE)
    description: str = ""
    files: tuple[ManifestFile, ...] | None = None
    archive: ManifestArchive | None = None
    members: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Manifest:
        if (self.files is None) == (self.archive is None):
            raise ValueError("give exactly one of 'files' or 'archive'")
        if self.files is not None and not self.files:
            raise ValueError("'files' is empty")
        if self.members is not None and self.archive is None:
            raise ValueError("'members' only applies to the 'archive' form")
        if self.files:
            names = [f.name for f in self.files]
            stems = [Path(n).stem for n in names]
            if len(set(stems)) != len(stems):
                raise ValueError(
                    f"duplicate file names/ids: {sorted({s for s in stems if stems.count(s) > 1})}"
                )
        for m in self.members or ():
            p = PurePosixPath(m)
            if p.is_absolute() or ".." in p.parts:
                raise ValueError(f"member '{m}' must be a relative path inside the archive")
        return self


class ManifestImageSet(ImageSet):
    """An image set downloaded from a user manifest; ``source`` is the manifest file."""

    kind = "manifest"


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest JSON file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImageSetError(f"Manifest file '{path}' does not exist.", "Check the path after 'manifest:'.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"Manifest '{path}' is not valid JSON: {exc}.", "Fix the JSON syntax.") from exc
    return parse_manifest(raw, where=str(path))


def parse_manifest(raw: Any, *, where: str = "manifest") -> Manifest:
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise SpecError(
            f"Manifest {where} is invalid: {problems}.",
            'Use {"name", "description", "files": [{"name", "url", "sha256"}]} or '
            '{"name", "archive": {"url", "sha256" or null}, "members": [optional list]}.',
        ) from exc


def manifest_dir(manifest: Manifest) -> Path:
    return paths.downloads_dir() / manifest.name


def _archive_filename(url: str) -> str:
    base = os.path.basename(unquote(urlparse(url).path))
    return base if re.match(_NAME_RE, base) else "archive"


def _extract_tar(tf: tarfile.TarFile, out: Path) -> None:
    """Extract only regular files and folders that stay inside ``out``."""
    if hasattr(tarfile, "data_filter"):
        tf.extractall(out, filter="data")  # refuses links, devices and paths escaping ``out``
        return
    for member in tf.getmembers():  # pragma: no cover - Pythons before 3.10.12/3.11.4
        p = PurePosixPath(member.name)
        if p.is_absolute() or ".." in p.parts or not (member.isfile() or member.isdir()):
            raise ImageSetError(f"Unsafe archive member '{member.name}'.", "Use an archive of plain files.")
    tf.extractall(out)  # pragma: no cover - members checked above


def _extract(archive: Path, out: Path, digest: str) -> None:
    """Extract a zip or tar archive into ``out`` atomically (temp folder, then rename)."""
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)  # zipfile drops absolute paths and '..' components
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _extract_tar(tf, tmp)
        else:
            raise ImageSetError(
                f"Downloaded archive '{archive}' is neither a zip nor a tar file.",
                f"Check the archive URL, then delete {archive.parent} and retry.",
            )
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ImageSetError(
            f"Cannot extract archive '{archive}': {exc}.", f"Delete {archive.parent} and retry."
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / _EXTRACTED_MARKER).write_text(digest + "\n")
    try:
        os.replace(tmp, out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():
            raise


def image_root(folder: Path) -> Path:
    """Descend through single wrapping folders (e.g. ``Image/``) until images are found."""
    current = folder
    while not image_files(current):
        subdirs = [
            p
            for p in current.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name not in _SKIP_DIRS
        ]
        if len(subdirs) != 1:
            raise ImageSetError(
                f"No images found in the extracted archive at '{folder}'.",
                "List the image paths in the manifest's 'members', or check the archive's contents.",
            )
        current = subdirs[0]
    return current


def materialize(
    manifest: Manifest,
    *,
    cls: type[ImageSet] = ManifestImageSet,
    source: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ImageSet:
    """Download (once), verify and read the images of ``manifest``."""
    folder = manifest_dir(manifest)
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    if manifest.files is not None:
        files = []
        for f in manifest.files:
            fetch_verified(f.url, folder / f.name, f.sha256, label=f"{manifest.name}/{f.name}")
            files.append(folder / f.name)
    else:
        assert manifest.archive is not None
        archive = folder / _archive_filename(manifest.archive.url)
        digest = fetch_verified(manifest.archive.url, archive, manifest.archive.sha256, label=archive.name)
        info["archive_sha256"] = digest
        extracted = folder / "extracted"
        marker = extracted / _EXTRACTED_MARKER
        if extracted.is_dir() and not (marker.is_file() and marker.read_text().strip() == digest):
            shutil.rmtree(extracted)  # stale: extracted from another archive, or interrupted
        if not extracted.is_dir():
            _extract(archive, extracted, digest)
        if manifest.members:
            files = [extracted / m for m in manifest.members]
            missing = [m for m, p in zip(manifest.members, files, strict=True) if not p.is_file()]
            if missing:
                raise ImageSetError(
                    f"Archive of '{manifest.name}' lacks members listed in the manifest: {missing[:5]}.",
                    f"Fix 'members' in the manifest, or delete {folder} and retry.",
                )
        else:
            files = image_files(image_root(extracted))
    images = read_images(files)
    return cls(manifest.name, images, source or f"manifest:{manifest.name}", info | (extra or {}))
