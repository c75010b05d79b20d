"""Colour classification: the official crop, cached text embeddings, batched == per-clause, loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unified_bench.errors import EncoderError
from unified_bench.tasks.geneval.colours import TEMPLATES, ColourClassifier, object_crop
from unified_bench.tasks.geneval.judge import COLORS, Detection


def test_crop_pastes_the_mask_on_grey_and_crops_to_the_box():
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    full = np.asarray(object_crop(image, Detection((0, 0, 4, 4), 0.9, mask)))
    assert full.shape == (4, 4, 3)
    assert (full[1:3, 1:3] == (255, 0, 0)).all()  # the object
    assert (full[0] == (153, 153, 153)).all() and (full[:, 3] == (153, 153, 153)).all()  # #999999 outside
    inner = np.asarray(object_crop(image, Detection((1, 1, 3, 3), 0.9, mask)))
    assert inner.shape == (2, 2, 3) and (inner == (255, 0, 0)).all()
    # no mask: the image itself, cropped
    assert (np.asarray(object_crop(image, Detection((0, 0, 2, 3), 0.9))) == (255, 0, 0)).all()
    with pytest.raises(ValueError, match="does not match the image"):
        object_crop(image, Detection((0, 0, 2, 2), 0.9, np.zeros((3, 3), dtype=bool)))


def test_text_embeddings_are_the_mean_of_three_prompts_and_cached(colour_classifier):
    clf = colour_classifier
    emb = clf.text_embeddings("car")
    assert emb.shape[0] == 10 and torch.allclose(emb.norm(dim=-1), torch.ones(10), atol=1e-5)
    assert clf.text_embeddings("car") is emb  # computed once per class
    # independent computation for "blue": normalise each prompt's embedding, average, normalise
    texts = [t.format(color="blue", cls="car") for t in TEMPLATES]
    assert texts[1] == "a photo of a blue-colored car" and texts[2] == "a photo of a blue object"
    with torch.no_grad():
        e = torch.nn.functional.normalize(clf.model.encode_text(clf.tokenizer(texts)), dim=-1).mean(0)
    assert torch.allclose(emb[COLORS.index("blue")], e / e.norm(), atol=1e-5)


def test_classification_is_the_argmax_cosine_and_batching_changes_nothing(colour_classifier, scene_photos):
    clf = colour_classifier
    crops = [(im.crop((i, 0, 40 + i, 30)), name) for i, (im, name) in
             enumerate(zip(scene_photos * 2, ["car", "dog", "cup", "car"] * 2, strict=True))]
    batched = clf.classify_crops(crops)  # batch_size 4: two batches
    assert all(c in COLORS for c in batched) and len(batched) == 8
    one_by_one = [clf.classify_crops([c])[0] for c in crops]
    assert batched == one_by_one
    with torch.no_grad():
        feats = torch.nn.functional.normalize(clf.model.encode_image(clf.transform(crops[1][0])[None]), dim=-1)
    assert batched[1] == COLORS[int((feats[0] @ clf.text_embeddings("dog").T).argmax())]


def test_identity_records_quick_gelu_and_precision(colour_classifier):
    ident = colour_classifier.identity()
    assert ident["quick_gelu"] is True and ident["precision"] == "fp32" and ident["pretrained"] is None
    assert ident["background"] == "#999999" and ident["revision"].startswith("sha256:")


def test_openai_weights_get_quick_gelu_and_a_clear_error_offline(monkeypatch):
    monkeypatch.setattr(ColourClassifier, "_load", lambda self: None)
    # open_clip >= 2.29 builds ViT-L-14 + openai with plain GELU: we force QuickGELU
    assert ColourClassifier("ViT-L-14", pretrained="openai").force_quick_gelu is True
    assert ColourClassifier("ViT-L-14-quickgelu", pretrained="openai").force_quick_gelu is False
    assert ColourClassifier("local-dir:/x").force_quick_gelu is False
    monkeypatch.undo()
    with pytest.raises(EncoderError, match="Cannot load the colour classifier") as err:
        ColourClassifier("ViT-L-14", pretrained="openai")
    assert "local-dir:" in err.value.fix
    with pytest.raises(EncoderError, match="precision"):
        ColourClassifier("local-dir:/x", precision="int8")
