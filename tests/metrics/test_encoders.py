"""Each encoder, loaded from tiny saved weights, against an independent computation with the library.

The reference side never goes through unified_bench: it loads the same files with transformers /
open_clip directly, preprocesses with the library's processor (or hand-written torchvision
transforms for LongCLIP), takes the embedding from a different but equivalent output, and
computes the cosine by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unified_bench.demo.encoders import DEMO_IMAGE_SIZE
from unified_bench.metrics.encoders.clip import ClipEncoder
from unified_bench.metrics.encoders.dinov2 import Dinov2Encoder
from unified_bench.metrics.encoders.dinov3 import Dinov3Encoder
from unified_bench.metrics.encoders.longclip import LONGCLIP_FILENAME, LongClipEncoder
from unified_bench.metrics.functional.similarity import cosine_similarity_rows

ENCODER_CLASSES = {"clip": ClipEncoder, "dinov2": Dinov2Encoder, "dinov3": Dinov3Encoder, "longclip": LongClipEncoder}


def _unit(t: torch.Tensor) -> np.ndarray:
    t = t.double()
    return (t / t.norm(dim=-1, keepdim=True)).numpy()


def _reference_clip(path, images):
    # The paper's scorer ran transformers 4.x, whose CLIPImageProcessor was the PIL implementation
    # (transformers 5 names it CLIPImageProcessorPil).
    from transformers import CLIPImageProcessorPil, CLIPModel

    model = CLIPModel.from_pretrained(path).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(path)(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():  # vision tower pooled output -> visual projection, without get_image_features
        pooled = model.vision_model(pixel_values=pixels).pooler_output
        return _unit(model.visual_projection(pooled))


def _reference_dinov2(path, images):
    from transformers import BitImageProcessorPil, Dinov2Model

    model = Dinov2Model.from_pretrained(path).eval()  # paper era: BitImageProcessor was the PIL one
    pixels = BitImageProcessorPil.from_pretrained(path)(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        return _unit(model(pixel_values=pixels).pooler_output)


def _reference_dinov3(path, images):
    from transformers import AutoImageProcessor, DINOv3ViTModel

    model = DINOv3ViTModel.from_pretrained(path).eval()
    pixels = AutoImageProcessor.from_pretrained(path)(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        return _unit(model(pixel_values=pixels).pooler_output)


def _reference_longclip(path, images):
    """open_clip's CLIP built directly from the known tiny config, LongCLIP's torchvision transform."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    from torchvision import transforms as T

    from unified_bench.demo.encoders import DEMO_IMAGE_SIZE

    model = CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, patch_size=8, image_size=DEMO_IMAGE_SIZE),
        text_cfg=CLIPTextCfg(context_length=248, vocab_size=128, width=64, heads=1, layers=1),
        quick_gelu=True,
    )
    state = torch.load(path / LONGCLIP_FILENAME, map_location="cpu", weights_only=True)
    del state["positional_embedding_res"]
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    tf = T.Compose([
        T.Resize(DEMO_IMAGE_SIZE, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(DEMO_IMAGE_SIZE),
        T.ToTensor(),
        T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])
    with torch.no_grad():
        return _unit(model.visual(torch.stack([tf(im) for im in images])))


REFERENCES = {
    "clip": _reference_clip,
    "dinov2": _reference_dinov2,
    "dinov3": _reference_dinov3,
    "longclip": _reference_longclip,
}


@pytest.mark.parametrize("name", sorted(ENCODER_CLASSES))
def test_scores_match_direct_library_computation(name, tiny_encoder_paths, photos, reconstructions):
    path = tiny_encoder_paths[name]
    encoder = ENCODER_CLASSES[name](str(path), device="cpu", dtype="fp32", batch_size=2)
    ours = cosine_similarity_rows(encoder.embed(photos), encoder.embed(reconstructions))

    ref_a = REFERENCES[name](path, photos)
    ref_b = REFERENCES[name](path, reconstructions)
    expected = (ref_a * ref_b).sum(axis=1)

    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)
    assert not np.allclose(expected, 1.0), "reconstructions must differ from references for a meaningful check"


@pytest.mark.parametrize("name", sorted(ENCODER_CLASSES))
def test_embeddings_are_unit_float32_and_batch_size_invariant(name, tiny_encoder_paths, photos):
    one = ENCODER_CLASSES[name](str(tiny_encoder_paths[name]), batch_size=1).embed(photos)
    three = ENCODER_CLASSES[name](str(tiny_encoder_paths[name]), batch_size=3).embed(photos)
    assert one.dtype == np.float32 and one.shape[0] == len(photos)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(one, three, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ENCODER_CLASSES))
def test_fingerprint_names_what_changes_the_embedding(name, tiny_encoder_paths):
    a = ENCODER_CLASSES[name](str(tiny_encoder_paths[name]))
    b = ENCODER_CLASSES[name](str(tiny_encoder_paths[name]))
    fp = a.fingerprint()
    assert set(fp) >= {"checkpoint", "revision", "preprocessing", "embedding", "dtype"}
    assert fp["revision"].startswith("sha256:") and len(fp["revision"]) == len("sha256:") + 64
    assert a.fingerprint_id() == b.fingerprint_id()
    assert a.fingerprint_id().startswith(f"{name}-")
    fp16 = ENCODER_CLASSES[name](str(tiny_encoder_paths[name]), dtype="bf16")
    assert fp16.fingerprint_id() != a.fingerprint_id()


def test_longclip_accepts_the_pt_file_itself(tiny_encoder_paths, photos):
    from_dir = LongClipEncoder(str(tiny_encoder_paths["longclip"]))
    from_file = LongClipEncoder(str(tiny_encoder_paths["longclip"] / LONGCLIP_FILENAME))
    np.testing.assert_array_equal(from_dir.embed(photos), from_file.embed(photos))
    assert from_file.image_size == DEMO_IMAGE_SIZE  # inferred from the checkpoint's positional embedding
