"""Built-in named image sets: ``uae-100`` (the reference protocol's images) and ``demo``.

Why: results are only comparable on the same images, so the standard set is one word on the
command line and always resolves to the same verified bytes. ``uae-100`` is the 100-image set
published with the UAE reference protocol (a release archive of ``0.jpg .. 99.jpg``). Its sha256
was not known when this was written (no network here), so until ``UAE100_SHA256`` is pinned the
first download's digest is recorded and checked afterwards, and every result carries it as
``archive_sha256`` in the image-set fingerprint. ``demo`` is built offline from the photographs
scikit-image ships (``unified_bench.demo.images``, registered here by name only).
"""

from __future__ import annotations

import os

from unified_bench import paths
from unified_bench.data.base import ImageSet
from unified_bench.data.manifest import Manifest, ManifestArchive, materialize
from unified_bench.errors import ImageSetError
from unified_bench.registry import Registry

#: The published release archive of the reference protocol's 100 images.
UAE100_URL = "https://github.com/PKU-YuanGroup/UAE/releases/download/v1.0/Image.zip"
#: Environment variable overriding the archive URL (mirrors, air-gapped copies, tests).
UAE100_URL_ENV = "UNIFIED_BENCH_UAE100_URL"
#: Pinned sha256 of the archive. None = not yet pinned: recorded at first download (see docstring).
UAE100_SHA256: str | None = None
UAE100_COUNT = 100

#: Size in pixels of the demo images.
DEMO_SIZE = 64

NAMED_IMAGE_SETS: Registry[ImageSet] = Registry("image set")
NAMED_IMAGE_SETS.register("uae-100", "unified_bench.data.named:load_uae100")
# Registered by name only: data/ never imports demo/ (the demo builds on data/, not the reverse).
NAMED_IMAGE_SETS.register("demo", "unified_bench.demo.images:load_demo_image_set")

DESCRIPTIONS: dict[str, str] = {
    "uae-100": "The 100 reference images of the UAE protocol (0.jpg..99.jpg), downloaded once and verified.",
    "demo": f"Six small ({DEMO_SIZE} px) offline images: four scikit-image photographs and two generated ones.",
}


class NamedImageSet(ImageSet):
    """A built-in set; ``source`` is ``named:NAME`` so mirrors and cache paths do not change it."""

    kind = "named"


def uae100_manifest() -> Manifest:
    """The archive manifest of ``uae-100``, honouring ``UNIFIED_BENCH_UAE100_URL``."""
    url = os.environ.get(UAE100_URL_ENV) or UAE100_URL
    return Manifest(
        name="uae-100",
        description=DESCRIPTIONS["uae-100"],
        archive=ManifestArchive(url=url, sha256=UAE100_SHA256),
    )


def load_uae100() -> ImageSet:
    """Download (once), verify and load the 100 reference images; checks ids are exactly 0..99."""
    manifest = uae100_manifest()
    iset = materialize(manifest, cls=NamedImageSet, source="named:uae-100")
    ids = {im.id for im in iset}
    expected = {str(i) for i in range(UAE100_COUNT)}
    if ids != expected or len(iset) != UAE100_COUNT:
        missing = sorted(expected - ids, key=int)[:10]
        extra = sorted(ids - expected)[:10]
        raise ImageSetError(
            f"The uae-100 archive holds {len(iset)} images, not exactly 0..99 "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'}).",
            f"Delete {paths.downloads_dir() / 'uae-100'} and retry; if you set {UAE100_URL_ENV}, "
            "check it points at the original Image.zip.",
        )
    return iset


def load_named(name: str) -> ImageSet:
    """Load a built-in set by name (unknown names get 'Did you mean ...?')."""
    return NAMED_IMAGE_SETS.get(name)()
