"""The GenEval judge on hand-built detections; every expected value is derived by hand in a comment."""

from __future__ import annotations

import json

import pytest

from unified_bench.tasks.geneval.judge import (
    Detection,
    JudgeOptions,
    box_iou,
    judge_image,
    keep_detections,
    relative_position,
    select_detections,
)


def det(x1, y1, x2, y2, score=0.95):
    return Detection((x1, y1, x2, y2), score)


def no_colours(objects, name):  # a judge that needs no colours must never call this
    raise AssertionError("classify_colours must not be called")


def colours_by_x(mapping):
    """A colour 'classifier' that answers from each box's x1 (so tests say which object is which)."""
    calls = []

    def classify(objects, name):
        calls.append((name, [o.box[0] for o in objects]))
        return [mapping[o.box[0]] for o in objects]

    classify.calls = calls
    return classify


SINGLE = {"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"}


# -- ordering, threshold, cap, suppression -------------------------------------------------------------
def test_score_exactly_at_threshold_is_not_kept():
    # kept iff score > 0.3 (strict); float32(0.3) is not above float32(0.3)
    v = judge_image(SINGLE, {"dog": [det(0, 0, 10, 10, 0.3)]}, no_colours)
    assert (v.correct, v.reason) == (False, "expected dog>=1, found 0")
    assert judge_image(SINGLE, {"dog": [det(0, 0, 10, 10, 0.3001)]}, no_colours).correct


def test_counting_threshold_applies_to_every_class_of_a_counting_prompt():
    opts = JudgeOptions()
    dets = {"cat": [det(0, 0, 1, 1, 0.9), det(0, 0, 1, 1, 0.95)], "dog": [det(0, 0, 1, 1, 0.5)]}
    kept = select_detections(dets, "counting", opts)
    # cat: 0.9 is not > 0.9, 0.95 is; dog: 0.5 < 0.9 -> gone (the class disappears)
    assert list(kept) == ["cat"] and [d.score for d in kept["cat"]] == [0.95]
    # the same detections under any other tag use 0.3: all kept
    assert {k: len(v) for k, v in select_detections(dets, "two_object", opts).items()} == {"cat": 2, "dog": 1}
    counting = {"tag": "counting", "include": [{"class": "cat", "count": 2}],
                "exclude": [{"class": "cat", "count": 3}]}
    v = judge_image(counting, dets, no_colours)
    assert (v.correct, v.reason) == (False, "expected cat>=2, found 1")


def test_order_is_descending_score_with_later_detection_first_among_ties():
    dets = [det(0, 0, 1, 1, 0.4), det(1, 0, 2, 1, 0.8), det(2, 0, 3, 1, 0.4)]
    kept = keep_detections(dets, 0.3, JudgeOptions())
    # 0.8 first; the two 0.4 ties reversed from a stable ascending sort -> index 2 before index 0
    assert [d.box[0] for d in kept] == [1, 2, 0]


def test_cap_of_sixteen_per_class():
    dets = [det(i, 0, i + 1, 1, 0.5 + i / 100) for i in range(20)]
    kept = keep_detections(dets, 0.3, JudgeOptions())
    # the 16 highest scores are x = 19 .. 4
    assert [d.box[0] for d in kept] == list(range(19, 3, -1))
    # an exclude clause of count 17 can therefore never fire, one of count 16 does
    meta = {"tag": "two_object", "include": [], "exclude": [{"class": "cup", "count": 17}]}
    assert judge_image(meta, {"cup": dets}, no_colours).correct
    meta["exclude"][0]["count"] = 16
    v = judge_image(meta, {"cup": dets}, no_colours)
    assert (v.correct, v.reason) == (False, "expected cup<16, found 16")
    assert keep_detections(dets, 0.3, JudgeOptions(max_objects=3))[-1].box[0] == 17


def test_iou_uses_the_plus_one_pixel_convention():
    # (0,0,1,0) and (1,0,2,0): 2x1 px each, sharing the column x=1 -> 1 / (2 + 2 - 1)
    assert box_iou((0, 0, 1, 0), (1, 0, 2, 0)) == pytest.approx(1 / 3)
    # 10x10 boxes shifted by one: intersection 9x10 = 90, union 110
    assert box_iou((0, 0, 9, 9), (1, 0, 10, 9)) == pytest.approx(90 / 110)
    assert box_iou((0, 0, 9, 9), (20, 20, 29, 29)) == 0


def test_overlap_suppression_is_off_by_default_and_greedy_when_on():
    dets = [det(0, 0, 9, 9, 0.9), det(1, 0, 10, 9, 0.8), det(20, 20, 29, 29, 0.7), det(0, 0, 9, 9, 0.6)]
    assert len(keep_detections(dets, 0.3, JudgeOptions())) == 4
    # 0.818 IoU >= 0.5 -> x=1 dropped; x=20 disjoint -> kept; the duplicate (IoU 1) dropped
    kept = keep_detections(dets, 0.3, JudgeOptions(max_overlap=0.5))
    assert [(d.box[0], d.score) for d in kept] == [(0, 0.9), (20, 0.7)]
    # at max_overlap 0.9 only the exact duplicate goes (0.818 < 0.9)
    assert len(keep_detections(dets, 0.3, JudgeOptions(max_overlap=0.9))) == 3


def test_plain_dicts_are_accepted():
    v = judge_image(SINGLE, {"dog": [{"box": [0, 0, 5, 5], "score": 0.5}]}, no_colours)
    assert v.correct and v.reason == ""


# -- include / exclude -----------------------------------------------------------------------------------
def test_two_object_needs_every_class():
    meta = {"tag": "two_object", "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1}]}
    assert judge_image(meta, {"dog": [det(0, 0, 1, 1)], "cat": [det(5, 5, 6, 6)]}, no_colours).correct
    v = judge_image(meta, {"dog": [det(0, 0, 1, 1)]}, no_colours)
    assert (v.correct, v.reason) == (False, "expected cat>=1, found 0")
    assert [c.passed for c in v.clauses] == [True, False]


def test_counting_exclude_fails_on_n_plus_one_and_counts_all_kept():
    meta = {"tag": "counting", "include": [{"class": "cat", "count": 2}],
            "exclude": [{"class": "cat", "count": 3}]}
    two = [det(0, 0, 1, 1, 0.95), det(5, 0, 6, 1, 0.99)]
    assert judge_image(meta, {"cat": two}, no_colours).correct
    three = [*two, det(9, 0, 10, 1, 0.91)]
    v = judge_image(meta, {"cat": three}, no_colours)
    # include sees only the top 2 (passes); exclude counts all 3 kept -> 3 >= 3 fails
    assert (v.correct, v.reason) == (False, "expected cat<3, found 3")
    assert len(v.clauses[0].objects) == 2 and len(v.clauses[1].objects) == 3
    # a third cat below the counting threshold is not kept, so not counted
    assert judge_image(meta, {"cat": [*two, det(9, 0, 10, 1, 0.85)]}, no_colours).correct


# -- colour ------------------------------------------------------------------------------------------------
def test_colour_uses_only_the_top_count_objects():
    meta = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "blue"}]}
    clf = colours_by_x({0: "red", 10: "blue"})
    # top-1 is the 0.9 car at x=0 (red); the blue 0.8 car is never classified
    v = judge_image(meta, {"car": [det(10, 0, 20, 5, 0.8), det(0, 0, 5, 5, 0.9)]}, clf)
    assert (v.correct, v.reason) == (False, "expected blue car>=1, found 0 blue; and 1 red")
    assert clf.calls == [("car", [0])]
    assert v.clauses[0].colours == ("red",)


def test_colour_count_must_reach_count():
    meta = {"tag": "color_attr", "include": [{"class": "car", "count": 2, "color": "red"}]}
    dets = {"car": [det(0, 0, 5, 5, 0.9), det(10, 0, 15, 5, 0.8), det(20, 0, 25, 5, 0.7)]}
    v = judge_image(meta, dets, colours_by_x({0: "red", 10: "blue", 20: "red"}))
    # top-2 = x 0 (red) and x 10 (blue): 1 red < 2; the red third car is not looked at
    assert (v.correct, v.reason) == (False, "expected red car>=2, found 1 red; and 1 red, 1 blue")
    assert judge_image(meta, dets, colours_by_x({0: "red", 10: "red", 20: "blue"})).correct


def test_colour_not_classified_when_the_count_is_short():
    meta = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "blue"}]}
    v = judge_image(meta, {}, no_colours)
    assert v.reason == "expected car>=1, found 0"


def test_colour_classifier_must_answer_once_per_object():
    meta = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "blue"}]}
    with pytest.raises(ValueError, match="returned 2 colours for 1 objects"):
        judge_image(meta, {"car": [det(0, 0, 1, 1)]}, lambda objs, name: ["blue", "red"])


def test_colour_is_checked_before_position():
    meta = {"tag": "position", "include": [
        {"class": "dog", "count": 1},
        {"class": "cat", "count": 1, "color": "red", "position": ["right of", 0]}]}
    dets = {"dog": [det(0, 0, 10, 10)], "cat": [det(20, 0, 30, 10)]}  # cat is right of dog
    v = judge_image(meta, dets, colours_by_x({20: "blue"}))
    # colour fails -> position never evaluated: one reason only
    assert (v.correct, v.reason) == (False, "expected red cat>=1, found 0 red; and 1 blue")
    assert judge_image(meta, dets, colours_by_x({20: "red"})).correct


# -- position ----------------------------------------------------------------------------------------------
B = det(0, 0, 10, 10)  # centre (5, 5), size (10, 10)


@pytest.mark.parametrize(
    "a, expected",
    [
        # A centre (25, 5): offset (20, 0), margin 0.1 * (10 + 10) = 2 -> revised (18, 0); dx = 18/20 = 0.9
        (det(20, 0, 30, 10), {"right of"}),
        (det(-20, 0, -10, 10), {"left of"}),
        # image y grows downwards: a larger y is below
        (det(0, 20, 10, 30), {"below"}),
        (det(0, -20, 10, -10), {"above"}),
        # offset (20, 20): revised (18, 18) / 28.28 = 0.636 on both axes
        (det(20, 20, 30, 30), {"right of", "below"}),
        # offset (20, 5): revised (18, 3) / 20.62 -> dx 0.873, dy 0.146 -> only right of
        (det(20, 5, 30, 15), {"right of"}),
    ],
)
def test_each_relation(a, expected):
    assert relative_position(a, B) == expected


def test_position_margin():
    # B (0,0,50,10) centre 25, A (12,0,62,10) centre 37: offset 12, margin 0.1 * (50 + 50) = 10
    # revised 2 -> dx = 2 / 12 = 0.167 <= 0.5: no relation; without the margin dx = 1 -> right of
    a, b = det(12, 0, 62, 10), det(0, 0, 50, 10)
    assert relative_position(a, b) == set()
    assert relative_position(a, b, JudgeOptions(position_threshold=0.0)) == {"right of"}
    # offset exactly the margin: B (0,0,10,10), A (2,0,12,10): offset 2, margin 2 -> revised 0 -> none
    assert relative_position(det(2, 0, 12, 10), B) == set()


def test_position_dead_zone():
    point = det(0, 0, 0, 0)  # zero-size boxes: no margin, the dead zone alone decides
    # offset 0.0005 < 1e-3 -> no relation (it would otherwise normalise to dx = 1)
    assert relative_position(det(0.0005, 0, 0.0005, 0), point) == set()
    assert relative_position(det(0.0005, 0, 0.0005, 0), point, JudgeOptions(position_dead_zone=0)) == {"right of"}
    # offset 0.002 >= 1e-3 -> dx = 1 -> right of
    assert relative_position(det(0.002, 0, 0.002, 0), point) == {"right of"}
    # identical boxes: no relation, and no division by a zero offset
    assert relative_position(B, B) == set()


POSITION = {"tag": "position", "prompt": "a photo of a cat right of a dog", "include": [
    {"class": "dog", "count": 1}, {"class": "cat", "count": 1, "position": ["right of", 0]}]}


def test_position_prompt_pass_and_fail_reason():
    assert judge_image(POSITION, {"dog": [det(0, 0, 10, 10)], "cat": [det(20, 0, 30, 10)]}, no_colours).correct
    v = judge_image(POSITION, {"dog": [det(0, 0, 10, 10)], "cat": [det(-20, 0, -10, 10)]}, no_colours)
    assert (v.correct, v.reason) == (False, "expected cat right of target, found left of target")
    v = judge_image(POSITION, {"dog": [det(0, 0, 10, 10)], "cat": [det(2, 0, 12, 10)]}, no_colours)
    assert v.reason == "expected cat right of target, found  target"  # no relation: empty list, as official


def test_multi_object_target_group():
    meta = {"tag": "position", "include": [
        {"class": "dog", "count": 2}, {"class": "cat", "count": 1, "position": ["right of", 0]}]}
    dogs = [det(0, 0, 10, 10, 0.9), det(40, 0, 50, 10, 0.8)]
    # cat at 60-70: offsets 60 and 20 from the dog centres (5, 45), margins 2 -> dx 0.97, 0.9: right of both
    assert judge_image(meta, {"dog": dogs, "cat": [det(60, 0, 70, 10)]}, no_colours).correct
    # cat at 20-30 (centre 25): right of the first dog, left of the second (offset -20) -> fails
    v = judge_image(meta, {"dog": dogs, "cat": [det(20, 0, 30, 10)]}, no_colours)
    assert (v.correct, v.reason) == (False, "expected cat right of target, found left of target")
    # only the top-2 dogs form the group: a third, lower-scored dog at 100 does not matter
    three = [*dogs, det(100, 0, 110, 10, 0.5)]
    assert judge_image(meta, {"dog": three, "cat": [det(60, 0, 70, 10)]}, no_colours).correct


def test_every_found_object_must_hold_the_relation():
    meta = {"tag": "position", "include": [
        {"class": "dog", "count": 1}, {"class": "cat", "count": 2, "position": ["right of", 0]}]}
    dog = [det(0, 0, 10, 10)]
    assert judge_image(meta, {"dog": dog, "cat": [det(20, 0, 30, 10), det(40, 0, 50, 10)]}, no_colours).correct
    v = judge_image(meta, {"dog": dog, "cat": [det(20, 0, 30, 10, 0.9), det(-20, 0, -10, 10, 0.8)]}, no_colours)
    assert not v.correct and v.reason == "expected cat right of target, found left of target"


def test_failed_target_clause_fails_the_position_clause():
    v = judge_image(POSITION, {"cat": [det(20, 0, 30, 10)]}, no_colours)
    # clause 0 fails (no dog), so clause 1 has no target group
    assert (v.correct, v.reason) == (False, "expected dog>=1, found 0\nno target for cat to be right of")
    assert [c.passed for c in v.clauses] == [False, False]


def test_verdict_is_json_able_with_kept_detections():
    v = judge_image(POSITION, {"dog": [det(0, 0, 10, 10, 0.7), det(0, 0, 1, 1, 0.1)],
                               "cat": [det(20, 0, 30, 10, 0.8)]}, no_colours)
    d = json.loads(json.dumps(v.to_dict()))
    assert d["correct"] is True
    # the 0.1 dog is below threshold and not recorded
    assert d["kept"] == {"dog": [{"box": [0, 0, 10, 10], "score": pytest.approx(0.7)}],
                         "cat": [{"box": [20, 0, 30, 10], "score": pytest.approx(0.8)}]}
    assert [c["passed"] for c in d["clauses"]] == [True, True]
    assert JudgeOptions().to_dict() == {
        "threshold": 0.3, "counting_threshold": 0.9, "max_objects": 16, "max_overlap": 1.0,
        "position_threshold": 0.1, "position_dead_zone": 1e-3, "direction_threshold": 0.5}
