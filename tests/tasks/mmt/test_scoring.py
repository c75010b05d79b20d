"""Aggregates on the fixture's groups against a hand computation (micro and macro differ).

Hit pattern on the 15 answered fixture questions (question 9 has no answer key):

    visual_recognition  color_recognition       q0 1, q1 0, q2 1   2/3
                        animal_recognition      q3 1, q4 1         2/2
                        scene_recognition       q5 0               0/1   -> macro (2/3 + 1 + 0) / 3 = 5/9
    counting            counting_by_category    q6 1, q7 0, q8 0   1/3   -> 1/3
    localization        small_object_detection  q10 1, q11 0       1/2
                        object_detection        q12 1              1/1   -> macro 3/4 (micro would be 2/3)
    multiple_image_analysis  spot_the_diff      q13 1, q14 0, q15 1  2/3 -> 2/3
    overall (micro): 9 hits / 15 = 60%
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from unified_bench.results.aggregate import aggregate, bootstrap_ci
from unified_bench.tasks.mmt.scoring import (
    ScoredQuestion,
    SubmissionRow,
    circular_hits,
    highlight_of,
    is_hit,
    metatask_csv,
    score_questions,
    submission_tsv,
    subtask_csv,
    write_metatask_csv,
    write_submission_tsv,
    write_subtask_csv,
)
from unified_bench.tasks.mmt.tsv import MCQDataset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mmt"
HITS = {0: 1, 1: 0, 2: 1, 3: 1, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0, 10: 1, 11: 0, 12: 1, 13: 1, 14: 0, 15: 1}


def _scored() -> list[ScoredQuestion]:
    out = []
    for q in MCQDataset(FIXTURES / "mmt_fixture.tsv"):
        hit = None if q.answer is None else bool(HITS[q.index])
        out.append(ScoredQuestion(q.index, q.category, q.l2_category, q.split, hit))
    return out


def test_hand_computed_aggregates():
    s = score_questions(_scored())
    assert s.n_unscored == 1
    assert s.overall.n == 15 and s.overall.mean == pytest.approx(60.0)
    assert {k: v.mean for k, v in s.by_split.items()} == {"val": pytest.approx(60.0)}
    subs = {k: (v.score.n, v.score.mean) for k, v in s.subtasks.items()}
    assert subs == {
        "animal_recognition": (2, pytest.approx(100.0)),
        "color_recognition": (3, pytest.approx(200 / 3)),
        "counting_by_category": (3, pytest.approx(100 / 3)),
        "object_detection": (1, pytest.approx(100.0)),
        "scene_recognition": (1, pytest.approx(0.0)),
        "small_object_detection": (2, pytest.approx(50.0)),
        "spot_the_diff": (3, pytest.approx(200 / 3)),
    }
    metas = {k: (v.abbreviation, len(v.subtasks), v.score.n, v.score.mean) for k, v in s.meta_tasks.items()}
    assert metas == {
        "counting": ("Count", 1, 3, pytest.approx(100 / 3)),
        "localization": ("Loc", 2, 3, pytest.approx(75.0)),
        "multiple_image_analysis": ("MIA", 1, 3, pytest.approx(200 / 3)),
        "visual_recognition": ("VR", 3, 6, pytest.approx(500 / 9)),
    }
    assert s.subtasks["color_recognition"].meta_tasks == ("visual_recognition",)


def test_intervals_come_from_the_shared_bootstrap():
    s = score_questions(_scored(), seed=3)
    assert s.overall == aggregate([float(HITS[i]) for i in sorted(HITS)], 100.0, 3)
    # macro = mean of hit * N / (S * n_s): visual_recognition has N=6, S=3, n_s = 3, 2, 1
    weighted = [2 / 3, 0, 2 / 3, 1, 1, 0]
    assert sum(weighted) / 6 == pytest.approx(5 / 9)
    low, high = bootstrap_ci([100 * w for w in weighted], seed=3)
    vr = s.meta_tasks["visual_recognition"].score
    assert (vr.ci_low, vr.ci_high) == (pytest.approx(low), pytest.approx(high))
    for agg in [s.overall, *(m.score for m in s.meta_tasks.values())]:
        assert agg.ci_low <= agg.mean <= agg.ci_high


def test_to_dict_is_json_ready():
    import json

    d = json.loads(json.dumps(score_questions(_scored()).to_dict()))
    assert d["overall"]["n"] == 15 and d["n_unscored"] == 1
    assert d["meta_tasks"]["localization"]["subtasks"] == ["object_detection", "small_object_detection"]
    assert d["subtasks"]["counting_by_category"]["highlight"] == "counting"


def test_missing_groups_and_empty_input():
    s = score_questions([ScoredQuestion(1, None, None, None, True)])
    assert list(s.subtasks) == ["(none)"] and list(s.meta_tasks) == ["(none)"]
    empty = score_questions([ScoredQuestion(1, "c", "m", "val", None)])
    assert empty.overall.n == 0 and empty.n_unscored == 1 and not empty.subtasks


def test_is_hit():
    assert is_hit("A", "A") is True
    assert is_hit("Z", "A") is False
    assert is_hit("A", None) is None


def test_circular_requires_every_rotation():
    hits = circular_hits([(0, True), (0, True), (0, True), (1, True), (1, False), (2, False)],
                         n_rotations={0: 3, 1: 2, 2: 1})
    assert hits == {0: True, 1: False, 2: False}
    with pytest.raises(ValueError, match="question 1: 1 rotation results for 2 rotations"):
        circular_hits([(0, True), (1, True)], n_rotations={0: 1, 1: 2})
    with pytest.raises(ValueError, match="question 5"):
        circular_hits([(5, True)], n_rotations={})


def test_circular_scores_reuse_the_standard_aggregation():
    # question 0: all rotations right; question 1: one wrong -> circular 50% vs standard 4/5
    rot = [(0, True), (0, True), (1, True), (1, True), (1, False)]
    per_q = circular_hits(rot)
    s = score_questions(ScoredQuestion(i, "c", "m", "val", h) for i, h in per_q.items())
    assert s.overall.mean == pytest.approx(50.0)


def test_csv_tables(tmp_path):
    s = score_questions(_scored())
    rows = list(csv.DictReader(io.StringIO(subtask_csv(s))))
    assert [r["subtask"] for r in rows] == [
        "animal_recognition", "color_recognition", "counting_by_category", "object_detection",
        "scene_recognition", "small_object_detection", "spot_the_diff"]
    color = next(r for r in rows if r["subtask"] == "color_recognition")
    assert (color["meta_task"], color["n"], color["accuracy"], color["highlight"]) == (
        "visual_recognition", "3", "66.6667", "colour")
    small = next(r for r in rows if r["subtask"] == "small_object_detection")
    assert small["highlight"] == "small objects"
    metas = list(csv.DictReader(io.StringIO(metatask_csv(s))))
    assert [(m["meta_task"], m["n_subtasks"], m["n"], m["accuracy"]) for m in metas] == [
        ("Overall (micro)", "7", "15", "60.0000"),
        ("counting", "1", "3", "33.3333"),
        ("localization", "2", "3", "75.0000"),
        ("multiple_image_analysis", "1", "3", "66.6667"),
        ("visual_recognition", "3", "6", "55.5556"),
    ]
    assert write_subtask_csv(tmp_path / "sub.csv", s).read_text() == subtask_csv(s)
    assert write_metatask_csv(tmp_path / "meta.csv", s).read_text() == metatask_csv(s)


def test_highlights_match_loosely():
    assert highlight_of("Color Recognition") == "colour"
    assert highlight_of("small-object-detection") == "small objects"
    assert highlight_of("crowd_counting") == "counting"
    assert highlight_of("animal_recognition") is None


def test_submission_file_for_the_all_split(tmp_path):
    ds = MCQDataset(FIXTURES / "mmt_fixture_ALL.tsv")
    preds = {0: "A", 1: "The answer is B", 2: "I think it's A or B", 3: "Cannot determine the answer"}
    opts = {0: "A", 1: "B", 2: "Z", 3: "Z"}
    rows = [SubmissionRow(q.index, q.question, q.options, q.category, q.l2_category, q.split, q.hint,
                          preds[q.index], opts[q.index])
            for q in reversed(list(ds)) if q.index in preds]
    path = write_submission_tsv(tmp_path / "sub.tsv", rows, ds.columns)
    text = path.read_text()
    assert text.splitlines()[0] == "\t".join(f'"{c}"' for c in (
        "index", "question", "hint", *"ABCDEFGHI", "category", "l2-category", "split", "prediction", "opt", "log"))
    df = pd.read_csv(path, sep="\t")
    assert list(df["index"]) == [0, 1, 2, 3]  # sorted by index
    assert list(df["opt"]) == ["A", "B", "Z", "Z"]
    assert list(df["prediction"]) == [preds[i] for i in range(4)]
    assert df["log"][2].startswith("Failed in Prefetch")  # unresolved by the chain
    assert df["log"][3] == preds[3]  # a refusal is resolved (to Z) by the chain
    assert df["A"][0] == "red" and pd.isna(df["E"][0])
    assert text == submission_tsv(rows, ds.columns)


def test_scoring_imports_without_torch():
    code = ("import sys; import unified_bench.tasks.mmt.scoring, unified_bench.tasks.mmt.extract; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
