"""Summary scores, derived by hand from the official summary rules."""

from __future__ import annotations

import pytest

from unified_bench.tasks.geneval.aggregate import aggregate_geneval


def _records():
    rows = []
    # prompt 0 (single_object): 1 of 4 correct; prompts 1-2 (counting): 0 and 2 of 4; prompt 3 (colors): 4 of 4
    for p, tag, correct in [(0, "single_object", [1, 0, 0, 0]), (1, "counting", [0, 0, 0, 0]),
                            (2, "counting", [1, 1, 0, 0]), (3, "colors", [1, 1, 1, 1])]:
        for c in correct:
            rows.append({"prompt_index": p, "tag": tag, "correct": bool(c), "status": "ok"})
    rows[1]["status"] = "missing"  # a missing image is a wrong image, still counted
    return rows


def test_hand_derived_summary():
    s = aggregate_geneval(_records())
    assert s["tags"]["single_object"] == {"score": 0.25, "n_images": 4, "n_correct": 1}
    assert s["tags"]["counting"] == {"score": 0.25, "n_images": 8, "n_correct": 2}
    assert s["tags"]["colors"]["score"] == 1.0
    assert list(s["tags"]) == ["single_object", "counting", "colors"]  # official tag order
    # overall = unweighted mean of tag scores: (0.25 + 0.25 + 1) / 3, not the image mean 7/16
    assert s["overall"] == pytest.approx(0.5) and s["image_accuracy"] == pytest.approx(7 / 16)
    # prompts 0, 2 and 3 have at least one correct image
    assert s["prompt_accuracy"] == 0.75 and s["n_prompts"] == 4 and s["n_images"] == 16
    assert s["n_missing"] == 1 and s["n_failed"] == 0
    assert s["tags_missing"] == ["two_object", "position", "color_attr"]


def test_prompts_grouped_by_metadata_like_the_official_summary():
    meta_a = {"tag": "colors", "prompt": "a photo of a red car", "include": []}
    meta_b = {"tag": "colors", "prompt": "a photo of a blue car", "include": []}
    rows = [{"metadata": meta_a, "tag": "colors", "correct": False},
            {"metadata": dict(reversed(list(meta_a.items()))), "tag": "colors", "correct": True},
            {"metadata": meta_b, "tag": "colors", "correct": False}]
    s = aggregate_geneval(rows)
    assert s["n_prompts"] == 2 and s["prompt_accuracy"] == 0.5


def test_errors():
    with pytest.raises(ValueError, match="no GenEval records"):
        aggregate_geneval([])
    with pytest.raises(ValueError, match="prompt_index"):
        aggregate_geneval([{"tag": "colors", "correct": True}])


def test_importable_without_torch():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; "
            "from unified_bench.tasks.geneval.aggregate import aggregate_geneval; "
            "from unified_bench.tasks.geneval.judge import judge_image; "
            "from unified_bench.tasks.geneval.layout import read_layout; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
