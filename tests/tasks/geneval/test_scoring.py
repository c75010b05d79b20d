"""The batched scorer: one detector call and one colour call per batch, the judge's verdicts unchanged,
missing and unreadable images counted wrong; end to end on tiny models and on an official-layout folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from unified_bench.demo.geneval import demo_judge_options
from unified_bench.metrics.detectors.base import NOT_COMPARABLE, Detector
from unified_bench.metrics.detectors.mask2former import Mask2FormerDetector
from unified_bench.tasks.geneval.aggregate import aggregate_geneval
from unified_bench.tasks.geneval.judge import Detection, JudgeOptions, judge_image
from unified_bench.tasks.geneval.layout import read_layout, write_image, write_layout
from unified_bench.tasks.geneval.prompts import generate_prompts
from unified_bench.tasks.geneval.scoring import GenevalScorer

PURE = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}


class ScriptedDetector(Detector):
    """Returns the detections stored in each image's ``info['dets']``; records batch sizes."""

    name = "scripted"
    score_floor = 0.0

    def __init__(self):
        self.calls = []

    def detect(self, images):
        self.calls.append(len(images))
        return [im.info["dets"] for im in images]

    def identity(self):
        return {"backend": self.name}


class PixelColours:
    """A colour 'classifier' that names the pure colour of a crop's centre pixel; records calls."""

    background = "#999999"

    def __init__(self):
        self.calls = []

    def identity(self):
        return {"model": "pixel"}

    def classify_crops(self, crops):
        self.calls.append(len(crops))
        out = []
        for im, _ in crops:
            px = im.getpixel((im.width // 2, im.height // 2))
            out.append(next(name for name, rgb in PURE.items() if rgb == px))
        return out

    def classify(self, image, objects, name):
        from unified_bench.tasks.geneval.colours import object_crop

        return self.classify_crops([(object_crop(image, d), name) for d in objects])


def _split_image(left, right, dets):
    """20x10 image: left half one colour, right half another; detections attached."""
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :10], arr[:, 10:] = PURE[left], PURE[right]
    im = Image.fromarray(arr)
    im.info["dets"] = dets
    return im


LEFT, RIGHT = Detection((0, 0, 10, 10), 0.9), Detection((10, 0, 20, 10), 0.8)
ATTR = {"tag": "color_attr", "prompt": "a photo of a blue cup and a red car",
        "include": [{"class": "cup", "count": 1, "color": "blue"}, {"class": "car", "count": 1, "color": "red"}]}
COLOR = {"tag": "colors", "prompt": "a photo of a green car", "include": [{"class": "car", "count": 1, "color": "green"}]}


def test_batched_scoring_matches_the_judge_and_counts_missing(tmp_path):
    bad = tmp_path / "00000.png"
    bad.write_bytes(b"not a png")
    images = [_split_image("blue", "red", {"cup": [LEFT], "car": [RIGHT]}),   # correct
              _split_image("red", "blue", {"cup": [LEFT], "car": [RIGHT]}),   # colours swapped: wrong
              _split_image("green", "green", {"car": [LEFT, RIGHT]})]         # top-1 car is green: correct
    items = [(ATTR, images[0]), (ATTR, images[1]), (COLOR, images[2]), (COLOR, None), (COLOR, str(bad))]
    det, col = ScriptedDetector(), PixelColours()
    out = GenevalScorer(det, col).score_batch(items)
    assert det.calls == [3]  # one detector call for the three readable images
    assert col.calls == [5]  # one colour call: 2 + 2 + 1 crops
    assert [r["correct"] for r in out] == [True, False, True, False, False]
    assert out[1]["reason"] == ("expected blue cup>=1, found 0 blue; and 1 red\n"
                                "expected red car>=1, found 0 red; and 1 blue")
    assert (out[3]["status"], out[3]["reason"]) == ("missing", "missing image")
    assert out[4]["status"] == "failed" and out[4]["reason"].startswith("unreadable image")
    # identical to the pure judge called one image at a time
    for (meta, im), r in zip(items[:3], out[:3], strict=True):
        v = judge_image(meta, im.info["dets"], lambda objs, name, im=im: col.classify(im, objs, name))
        assert (v.correct, v.reason, v.to_dict()["kept"]) == (r["correct"], r["reason"], r["kept"])
    json.dumps(out)  # JSON-able
    assert out[0]["kept"]["cup"] == [{"box": [0.0, 0.0, 10.0, 10.0], "score": pytest.approx(0.9)}]
    assert out[0]["clauses"][1]["colours"] == ["red"]


def test_no_colour_call_when_nothing_needs_one():
    det, col = ScriptedDetector(), PixelColours()
    out = GenevalScorer(det, col).score_batch([(COLOR, _split_image("red", "red", {}))])
    assert out[0]["reason"] == "expected car>=1, found 0" and col.calls == []


def test_scorer_identity_and_floor_check():
    det = ScriptedDetector()
    ident = GenevalScorer(det, PixelColours()).identity()
    assert ident["comparable_with_official"] is False and ident["comparability"] == NOT_COMPARABLE
    assert ident["judge"]["threshold"] == 0.3
    det.score_floor = 0.5
    with pytest.raises(ValueError, match="above the judge's lowest threshold"):
        GenevalScorer(det, PixelColours(), JudgeOptions())


@pytest.fixture(scope="module")
def tiny_scorer(geneval_models, colour_classifier):
    detector = Mask2FormerDetector(str(geneval_models["mask2former"]), score_floor=-1.0, max_per_image=12 * 80)
    return GenevalScorer(detector, colour_classifier, demo_judge_options())


def test_tiny_models_batched_equals_the_official_loop(tiny_scorer, scene_photos):
    prompts = generate_prompts(seed=3, per_tag=1)  # one prompt per tag
    items = [(p, scene_photos[i % 4]) for i, p in enumerate(prompts)]
    batched = tiny_scorer.score_batch(items)
    single = tiny_scorer.score_one_by_one(items)
    for b, s in zip(batched, single, strict=True):
        assert (b["correct"], b["reason"]) == (s["correct"], s["reason"])
        assert b["kept"].keys() == s["kept"].keys()
        for name in b["kept"]:
            assert [d["box"] for d in b["kept"][name]] == [d["box"] for d in s["kept"][name]]
    # random weights, thresholds 0: coloured clauses really reached the colour model
    assert any("colours" in c for r in batched for c in r["clauses"])


def test_rescoring_an_official_layout_folder_counts_missing_images(tiny_scorer, scene_photos, tmp_path):
    prompts = generate_prompts(seed=5, per_tag=1)
    write_layout(tmp_path, prompts)
    for p in range(len(prompts)):
        for i in range(2):
            if (p, i) != (2, 1):  # one image missing
                write_image(tmp_path, p, i, scene_photos[(p + i) % 4])
    folder = read_layout(tmp_path, images_per_prompt=2)
    records = tiny_scorer.score_batch([(im.metadata, im.path) for im in folder.images])
    rows = [{**r, "tag": im.metadata["tag"], "prompt_index": im.prompt_index}
            for im, r in zip(folder.images, records, strict=True)]
    summary = aggregate_geneval(rows)
    # 6 prompts x 2 images: the missing one is in the denominator, wrong
    assert summary["n_images"] == 12 and summary["n_missing"] == 1 and summary["n_prompts"] == 6
    assert summary["tags"]["counting"]["n_images"] == 2
    assert rows[5]["status"] == "missing" and rows[5]["correct"] is False


def test_demo_scorer_loads_through_make_scorer(geneval_models, scene_photos):
    from unified_bench.demo.geneval import demo_scorer

    scorer = demo_scorer(geneval_models)
    assert scorer.detector.score_floor == 0.0  # the judge's lowest threshold under the demo options
    ident = scorer.identity()
    assert ident["detector"]["backend"] == "mask2former" and ident["colour_classifier"]["quick_gelu"] is True
    out = scorer.score_batch([(COLOR, scene_photos[0]), (ATTR, None)])
    assert [r["status"] for r in out] == ["ok", "missing"] and json.dumps(out)
