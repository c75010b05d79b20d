"""Detector backends on tiny random-weight checkpoints, loaded through the same path as real ones."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from unified_bench.errors import EncoderError, MissingDependencyError
from unified_bench.metrics.detectors import DETECTORS
from unified_bench.metrics.detectors.base import DetectorError, masks_to_boxes
from unified_bench.metrics.detectors.mask2former import Mask2FormerDetector
from unified_bench.metrics.detectors.owlv2 import Owlv2Detector
from unified_bench.tasks.geneval.judge import Detection
from unified_bench.tasks.geneval.prompts import CLASSES


@pytest.fixture(scope="module")
def m2f(tiny_detectors):
    # floor below every random score, all query x class pairs: every detection comes back
    return Mask2FormerDetector(str(tiny_detectors["mask2former"]), score_floor=-1.0, max_per_image=12 * 80)


def _canon(dets):
    """Order-insensitive view of one image's detections: class -> sorted (box, score)."""
    return {k: sorted((tuple(round(v, 3) for v in d.box), round(d.score, 5)) for d in ds) for k, ds in dets.items()}


def test_registry_entries_resolve():
    assert DETECTORS.names() == ["mask2former", "mmdet", "owlv2"]
    assert DETECTORS.get("mask2former") is Mask2FormerDetector and DETECTORS.get("owlv2") is Owlv2Detector


def test_masks_to_boxes_is_mmdet_mask2bbox():
    masks = torch.zeros((3, 5, 6), dtype=torch.bool)
    masks[0, 1:3, 2:5] = True  # rows 1-2, cols 2-4 -> (2, 1, 5, 3): max index + 1
    masks[1, 4, 0] = True  # one pixel at (x 0, y 4) -> (0, 4, 1, 5)
    assert masks_to_boxes(masks).tolist() == [[2, 1, 5, 3], [0, 4, 1, 5], [0, 0, 0, 0]]


def test_mask2former_postprocess_hand_computed(m2f):
    # 2 queries, classes person / bicycle + "no object"; softmax of log-probabilities gives them back
    cls = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1]]))
    masks = torch.full((2, 8, 8), -5.0)
    masks[0, 0:2, 0:2] = math.log(3)  # sigmoid 0.75 inside a 2x2 block at the top left
    masks[1, 3, 1:4] = math.log(9)  # sigmoid 0.9 on row 3, columns 1-3
    masks[:, 5:, 5:] = 9.0  # inside the padding (valid region is 4x4): must be ignored
    old = m2f.score_floor
    m2f.score_floor = 0.25
    try:
        dets = m2f._postprocess(cls, masks, (8, 8), (4, 4), (4, 4))
    finally:
        m2f.score_floor = old
    # person: 0.6 * 0.75 = 0.45, box (0,0,2,2); bicycle q1: 0.8 * 0.9 = 0.72, box (1,3,4,4);
    # bicycle q0: 0.3 * 0.75 = 0.225 <= 0.25 dropped; person q1: class prob 0.1 dropped before masks
    assert set(dets) == {"person", "bicycle"}
    (p,), (b,) = dets["person"], dets["bicycle"]
    assert p.box == (0, 0, 2, 2) and p.score == pytest.approx(0.45, abs=1e-5)
    assert b.box == (1, 3, 4, 4) and b.score == pytest.approx(0.72, abs=1e-5)
    assert p.mask.shape == (4, 4) and p.mask.sum() == 4 and b.mask.sum() == 3


def test_mask2former_detects_batched_like_one_at_a_time(m2f, det_photos):
    batched = m2f.detect(det_photos)
    single = [m2f.detect([im])[0] for im in det_photos]
    assert len(batched) == 3
    for b, s, im in zip(batched, single, det_photos, strict=True):
        assert _canon(b) == _canon(s)
        assert set(b) <= set(CLASSES)
        d = next(iter(b.values()))[0]
        assert isinstance(d, Detection) and d.mask.shape == (im.height, im.width) and d.mask.dtype == bool
        # each box is its mask's extent
        if d.mask.any():
            ys, xs = d.mask.nonzero()
            assert d.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # 12 queries x 80 classes, all kept: 960 detections per image
    assert sum(len(v) for v in batched[0].values()) == 960


def test_mask2former_identity_and_fingerprint(tiny_detectors, m2f):
    ident = m2f.identity()
    assert ident["backend"] == "mask2former" and ident["revision"].startswith("sha256:")
    assert ident["official"] is False and ident["score_floor"] == -1.0
    other = Mask2FormerDetector(str(tiny_detectors["mask2former"]), score_floor=0.3)
    assert other.fingerprint() != m2f.fingerprint() and other.fingerprint() == other.fingerprint()


def test_loading_errors(tiny_detectors, tmp_path):
    with pytest.raises(EncoderError, match="neither an existing local path nor a hub repo id"):
        Mask2FormerDetector(str(tmp_path / "nope"))
    with pytest.raises(DetectorError, match="no config.json"):
        Mask2FormerDetector(str(tmp_path))
    with pytest.raises(DetectorError, match="is a 'owlv2' model, not a mask2former model"):
        Mask2FormerDetector(str(tiny_detectors["owlv2"]))
    # a checkpoint with other labels (e.g. a 3-class fine-tune) misses GenEval classes
    from transformers import Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor

    from unified_bench.demo.geneval import mask2former_config

    cfg = mask2former_config(tiny=True)
    cfg.num_labels = 3
    cfg.id2label, cfg.label2id = {0: "person", 1: "mouse", 2: "sky"}, {"person": 0, "mouse": 1, "sky": 2}
    Mask2FormerForUniversalSegmentation(cfg).save_pretrained(tmp_path / "few")
    Mask2FormerImageProcessor().save_pretrained(tmp_path / "few")
    with pytest.raises(DetectorError, match="no label for 78 GenEval class"):
        Mask2FormerDetector(str(tmp_path / "few"))


def test_no_hub_download_offline():
    with pytest.raises(EncoderError, match="Cannot fetch"):
        Mask2FormerDetector()  # the default hub checkpoint, offline in tests


def test_owlv2_detects_with_the_80_class_queries(tiny_detectors, det_photos):
    owl = Owlv2Detector(str(tiny_detectors["owlv2"]), score_floor=-1.0)
    assert owl.queries[64] == "a photo of a computer mouse" and len(owl.queries) == 80
    batched = owl.detect(det_photos)
    single = [owl.detect([im])[0] for im in det_photos]
    for b, s in zip(batched, single, strict=True):
        assert _canon(b) == _canon(s)
        dets = [d for ds in b.values() for d in ds]
        # 64 px input / patch 16 -> 16 boxes, each labelled with its best query
        assert len(dets) == 16 and all(d.mask is None for d in dets)
        assert set(b) <= set(CLASSES)
    assert owl.identity()["query_template"] == "a photo of a {name}"


@pytest.mark.skipif(importlib.util.find_spec("mmdet") is not None, reason="mmdet is installed")
def test_mmdet_backend_is_optional():
    from unified_bench.metrics.detectors.mmdet import MMDetDetector

    with pytest.raises(MissingDependencyError, match="mmdet 2.x"):
        MMDetDetector("weights.pth")
