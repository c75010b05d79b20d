"""``unified-bench evaluate --task mmt`` end to end: results, CSV tables, report, submission file.

The model always answers "The answer is A." so every expected number follows by hand from the
fixture's answer keys (read independently with the csv module).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from unified_bench.cli.main import main
from unified_bench.models.base import Capability, ComponentIdentity, ModelAdapter, ModelIdentity
from unified_bench.results.recompute import mismatches
from unified_bench.results.schema import load_results

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mmt"


class AlwaysA(ModelAdapter):
    capabilities = frozenset({Capability.ANSWER})

    def identity(self) -> ModelIdentity:
        return ModelIdentity("always-a", (ComponentIdentity("unified", "tests", "v1", "AlwaysA"),))

    def answer(self, images, questions, settings, seeds):
        assert all(images) and all("Options:" in q for q in questions)
        return ["The answer is A."] * len(questions)


def make_always_a(runtime) -> AlwaysA:
    return AlwaysA()


def _keys(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _run(tmp_path: Path, data: Path, *extra: str) -> Path:
    out = tmp_path / "run"
    code = main(["evaluate", "--task", "mmt", "--model", "py:tests.tasks.mmt.test_mmt_task:make_always_a",
                 "--data", str(data), "--out", str(out), "--quiet", "--batch-size", "4", *extra])
    assert code == 0
    return out


def test_scores_by_hand(tmp_path):
    out = _run(tmp_path, FIXTURES / "mmt_fixture.tsv")
    res = load_results(out)
    rows = [r for r in _keys(FIXTURES / "mmt_fixture.tsv") if r["answer"]]
    hits = [r["answer"] == "A" for r in rows]
    assert res.aggregates["accuracy"].mean == pytest.approx(100 * sum(hits) / len(hits))
    assert res.overall.mean == pytest.approx(100 * sum(hits) / len(hits))
    by_sub: dict[str, list[bool]] = {}
    meta_of: dict[str, str] = {}
    for r in rows:
        by_sub.setdefault(r["category"], []).append(r["answer"] == "A")
        meta_of[r["category"]] = r["l2-category"]
    for sub, h in by_sub.items():
        assert res.groups["category"][sub].mean == pytest.approx(100 * sum(h) / len(h))
    for meta in set(meta_of.values()):
        subs = [100 * sum(h) / len(h) for s, h in by_sub.items() if meta_of[s] == meta]
        assert res.groups["l2_category"][meta].mean == pytest.approx(sum(subs) / len(subs))  # macro
    # Micro and macro differ on this fixture (unequal subtask sizes).
    macro = [res.groups["l2_category"][m].mean for m in res.groups["l2_category"]]
    assert abs(sum(macro) / len(macro) - res.overall.mean) > 1
    # The question without a key is not scored (no smaller denominator for keyed ones either).
    assert res.aggregates["accuracy"].n == len(rows) and len(res.samples) == len(_keys(FIXTURES / "mmt_fixture.tsv"))
    assert mismatches(res) == []
    for name in ("subtasks.csv", "meta_tasks.csv", "report.html"):
        assert (out / name).is_file()
    assert res.files == {"subtasks": "subtasks.csv", "meta_tasks": "meta_tasks.csv"}
    page = (out / "report.html").read_text()
    assert "extracted: A" in page and 'id="group-filter"' in page


def test_circular_needs_every_rotation(tmp_path):
    out = _run(tmp_path, FIXTURES / "mmt_fixture.tsv", "--circular")
    res = load_results(out)
    # "Always A" picks a different original option in every rotation: right at most once, so a
    # question with two or more options is never circularly correct.
    assert res.aggregates["circular_accuracy"].mean == 0.0
    assert res.aggregates["accuracy"].mean > 0


def test_all_split_writes_the_submission_file(tmp_path):
    out = _run(tmp_path, FIXTURES / "mmt_fixture_ALL.tsv")
    res = load_results(out)
    assert res.files.get("submission") == "submission.tsv" and "accuracy" not in res.aggregates
    rows = _keys(out / "submission.tsv")
    assert len(rows) == len(_keys(FIXTURES / "mmt_fixture_ALL.tsv"))
    assert {r["opt"] for r in rows} == {"A"} and "image" not in rows[0]
    with (FIXTURES / "mmt_fixture_ALL.tsv").open(encoding="utf-8") as fh:
        source = [c for c in fh.readline().rstrip("\n").split("\t") if c != "image"]
    assert list(rows[0])[: len(source)] == source  # the source file's column order, then ours
    assert list(rows[0])[len(source):] == ["prediction", "opt", "log"]
