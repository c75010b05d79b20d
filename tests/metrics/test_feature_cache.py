"""Reference features are computed once per (encoder fingerprint, image bytes) and then read from disk."""

from __future__ import annotations

import io

import numpy as np
import pytest

from unified_bench import paths
from unified_bench.data.base import ReferenceImage
from unified_bench.metrics.encoders.clip import ClipEncoder
from unified_bench.metrics.encoders.longclip import LongClipEncoder
from unified_bench.metrics.feature_cache import embed_references, feature_dir


def _refs(photos) -> list[ReferenceImage]:
    out = []
    for i, im in enumerate(photos):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(ReferenceImage(id=str(i), data=buf.getvalue(), origin=f"{i}.png"))
    return out


class _ForwardCounter:
    """Counts images through the model with a real torch forward hook (no mocking)."""

    def __init__(self, module):
        self.images = 0
        module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, _module, args, kwargs, _output):
        pixels = args[0] if args else kwargs["pixel_values"]
        self.images += pixels.shape[0]


@pytest.mark.parametrize("cls,name", [(ClipEncoder, "clip"), (LongClipEncoder, "longclip")])
def test_second_call_hits_the_cache(cls, name, tiny_encoder_paths, photos):
    encoder = cls(str(tiny_encoder_paths[name]), batch_size=2)
    tower = encoder.model.vision_model if name == "clip" else encoder.model.visual
    counter = _ForwardCounter(tower)
    refs = _refs(photos)

    first = embed_references(encoder, refs, progress=False)
    assert counter.images == len(refs)
    files = sorted(p.name for p in feature_dir(encoder).glob("*.npy"))
    assert files == sorted(f"{r.sha256}.npy" for r in refs)
    assert feature_dir(encoder).parent == paths.features_dir()

    second = embed_references(encoder, refs, progress=False)
    assert counter.images == len(refs), "cached features must not be recomputed"
    np.testing.assert_array_equal(first, second)
    # same numbers and order as encoding the decoded images directly
    np.testing.assert_allclose(first, encoder.embed([r.open() for r in refs]), atol=1e-6)


def test_only_new_images_are_encoded_and_order_is_kept(tiny_encoder_paths, photos):
    encoder = ClipEncoder(str(tiny_encoder_paths["clip"]))
    counter = _ForwardCounter(encoder.model.vision_model)
    refs = _refs(photos)
    embed_references(encoder, refs[:2], progress=False)
    assert counter.images == 2

    shuffled = [refs[2], refs[0], refs[1]]
    feats = embed_references(encoder, shuffled, progress=False)
    assert counter.images == 3  # only the new one
    np.testing.assert_allclose(feats, encoder.embed([r.open() for r in shuffled]), atol=1e-6)


def test_cache_is_shared_by_equal_fingerprints_and_separate_otherwise(tiny_encoder_paths, photos):
    refs = _refs(photos)
    a = ClipEncoder(str(tiny_encoder_paths["clip"]))
    embed_references(a, refs, progress=False)
    b = ClipEncoder(str(tiny_encoder_paths["clip"]))  # another load, e.g. for the next model under test
    counter = _ForwardCounter(b.model.vision_model)
    embed_references(b, refs, progress=False)
    assert counter.images == 0
    half = ClipEncoder(str(tiny_encoder_paths["clip"]), dtype="bf16")
    assert feature_dir(half) != feature_dir(a)


def test_corrupt_cache_file_is_recomputed(tiny_encoder_paths, photos):
    encoder = ClipEncoder(str(tiny_encoder_paths["clip"]))
    refs = _refs(photos[:1])
    good = embed_references(encoder, refs, progress=False)
    (feature_dir(encoder) / f"{refs[0].sha256}.npy").write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(embed_references(encoder, refs, progress=False), good)


def test_embed_references_all_matches_direct_embedding_and_decodes_once(tmp_path, monkeypatch, tiny_encoder_paths):
    """The multi-encoder cache path equals each encoder's own ``embed`` on the decoded images."""
    from unified_bench.data.base import ReferenceImage
    from unified_bench.demo.images import build_demo_images
    from unified_bench.metrics.encoders.base import EncoderSpec
    from unified_bench.metrics.encoders.loader import load_encoder
    from unified_bench.metrics.feature_cache import embed_references_all

    encoders = [load_encoder(EncoderSpec(n, str(p))) for n, p in tiny_encoder_paths.items()]
    folder = build_demo_images(tmp_path / "img")
    refs = [ReferenceImage(p.stem, p.read_bytes(), str(p)) for p in sorted(folder.iterdir())]
    expected = {enc.name: enc.embed([r.open() for r in refs]) for enc in encoders}
    opened = []
    real_open = ReferenceImage.open
    monkeypatch.setattr(ReferenceImage, "open", lambda self: opened.append(self.id) or real_open(self))
    together = embed_references_all(encoders, refs, progress=False)
    assert sorted(opened) == sorted(r.id for r in refs)  # each image decoded exactly once
    for enc in encoders:
        np.testing.assert_allclose(together[enc.name], expected[enc.name], atol=1e-6)
