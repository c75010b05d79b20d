"""The pieces fit together with the tiny demo VLM: load -> prompt -> answer -> extract -> score -> files.

Not the task class (that lives on the runner); this proves the loader's images, the reference
prompts (single and multi-image) and the extraction run end to end offline, and that the outputs
are deterministic.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from unified_bench.tasks.mmt.extract import extract_choice
from unified_bench.tasks.mmt.prompt import rotated_prompt, rotations
from unified_bench.tasks.mmt.scoring import (
    ScoredQuestion,
    SubmissionRow,
    circular_hits,
    is_hit,
    metatask_csv,
    score_questions,
    submission_tsv,
)
from unified_bench.tasks.mmt.tsv import open_mcq_tsv

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mmt"


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    from unified_bench.demo.models import build_demo_vlm
    from unified_bench.models.loader import load_model
    from unified_bench.specs import RuntimeOptions, parse_model_spec

    path = build_demo_vlm(tmp_path_factory.mktemp("tiny-llava") / "model")
    return load_model(parse_model_spec(str(path)), RuntimeOptions(device="cpu", dtype="fp32", batch_size=4))


def _answer(vlm, questions, k=0):
    from unified_bench.specs import AnswerSettings

    prompts = [rotated_prompt(q.question, q.options, q.hint, k) for q in questions]
    outs = []
    for i in range(0, len(questions), 4):
        chunk = questions[i:i + 4]
        outs += vlm.answer([q.images() for q in chunk], [p[0] for p in prompts[i:i + 4]],
                           AnswerSettings(max_new_tokens=8), [0] * len(chunk))
    return [(q, out, shown, rot) for q, out, (_, shown, rot) in zip(questions, outs, prompts, strict=True)]


@pytest.mark.parametrize("name", ["mmt_fixture.tsv", "mmt_fixture_MI.tsv"])
def test_standard_run_on_fixture(vlm, name):
    ds = open_mcq_tsv(FIXTURES / name)
    questions = list(ds)
    answered = _answer(vlm, questions)
    letters = [extract_choice(out, shown) for _, out, shown, _ in answered]
    assert all(letter in "ABCDEFGHIZ" for letter in letters)
    scores = score_questions(ScoredQuestion(q.index, q.category, q.l2_category, q.split, is_hit(x, q.answer))
                             for q, x in zip(questions, letters, strict=True))
    assert scores.overall.n == 15 and scores.n_unscored == 1
    assert len(list(csv.DictReader(io.StringIO(metatask_csv(scores))))) == 5
    again = [extract_choice(out, shown) for _, out, shown, _ in _answer(vlm, questions)]
    assert again == letters  # greedy and seeded: the same letters every run


def test_circular_and_submission_on_all_file(vlm):
    ds = open_mcq_tsv(FIXTURES / "mmt_fixture_ALL.tsv")
    questions = [q for q in ds if len(q.options) <= 3]
    rot_hits = []
    for k in range(3):
        for q, out, shown, rot in _answer(vlm, [q for q in questions if k < len(q.options)], k):
            rot_hits.append((q.index, rot.original_letter(extract_choice(out, shown)) == "A"))
    per_q = circular_hits(rot_hits, {q.index: len(rotations(q.options)) for q in questions})
    assert set(per_q) == {q.index for q in questions}
    rows = [SubmissionRow(q.index, q.question, q.options, q.category, q.l2_category, q.split, q.hint, out,
                          extract_choice(out, shown)) for q, out, shown, _ in _answer(vlm, questions)]
    text = submission_tsv(rows, ds.columns)
    parsed = list(csv.reader(io.StringIO(text), delimiter="\t"))  # raw outputs may hold newlines
    assert [int(r[0]) for r in parsed[1:]] == sorted(q.index for q in questions)
    assert [r[-2] for r in parsed[1:]] == [row.opt for row in sorted(rows, key=lambda r: r.index)]
