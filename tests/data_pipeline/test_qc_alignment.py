"""Alignment score of a tiny random CLIP vs a direct transformers computation (CLIPModel.forward)."""

from __future__ import annotations

import pytest

from data_pipeline.captioners.errors import CaptionerError
from data_pipeline.qc.alignment import AlignmentScorer
from data_pipeline.qc.caption_qc import first_sentence

try:
    from .captioner_fixtures import build_tiny_clip, make_images
except ImportError:  # tests/data_pipeline is not a package
    from captioner_fixtures import build_tiny_clip, make_images

MAX_POS = 16
CAPTIONS = [
    "a red cup. it stands on a wooden table next to a lamp.",
    "a very long first sentence that is far longer than sixteen tokens of the tiny clip. more text.",
    "no final punctuation at all",
]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"), max_positions=MAX_POS)


def _reference(checkpoint, image, caption):
    """Cosine via CLIPModel.forward's normalised embeddings, truncation done by hand (keeping EOS)."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(checkpoint).eval()
    processor = CLIPProcessor.from_pretrained(checkpoint)
    ids = processor.tokenizer(first_sentence(caption))["input_ids"]
    if len(ids) > MAX_POS:
        ids = ids[: MAX_POS - 1] + [ids[-1]]  # CLIP pools at the end-of-text token: it must survive
    pixel_values = processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values)
    return float((out.image_embeds * out.text_embeds).sum())


def test_scores_match_direct_transformers(tiny_clip):
    images = make_images(3, seed=7)
    scorer = AlignmentScorer(str(tiny_clip), batch_size=2)  # two batches, with padding inside the first
    scores = scorer.score(images, CAPTIONS)
    assert len(scores) == 3 and all(-1.0 <= s <= 1.0 for s in scores)
    for image, caption, score in zip(images, CAPTIONS, scores, strict=True):
        assert score == pytest.approx(_reference(tiny_clip, image, caption), abs=1e-5)
    # only the first sentence counts
    assert scorer.score(images[:1], ["a red cup."])[0] == pytest.approx(scores[0], abs=1e-6)
    record = scorer.record()
    assert record["revision"].startswith("sha256:") and record["score"] == "cosine"


def test_mismatched_lengths_and_bad_checkpoint(tiny_clip, tmp_path):
    scorer = AlignmentScorer(str(tiny_clip))
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        scorer.score(make_images(2), ["x."])
    with pytest.raises(CaptionerError, match="alignment checkpoint"):
        AlignmentScorer(str(tmp_path / "nope"))
