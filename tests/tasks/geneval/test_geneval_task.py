"""``--task geneval`` end to end: generate in the official layout, then re-score that folder with no
model (one image removed: counted wrong, never dropped), and the summary against the official rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from unified_bench.cli.main import main
from unified_bench.results.recompute import mismatches
from unified_bench.results.schema import load_results
from unified_bench.tasks.geneval.aggregate import aggregate_geneval


@pytest.fixture(scope="module")
def janus(tmp_path_factory) -> str:
    from unified_bench.demo.models import build_demo_janus

    return str(build_demo_janus(tmp_path_factory.mktemp("janus") / "janus"))


def _judge_flags(models: dict[str, Path]) -> list[str]:
    return ["--detector-checkpoint", str(models["mask2former"]), "--colour-model", f"local-dir:{models['open_clip']}",
            "--colour-pretrained", ""]


def _official_summary(res) -> dict:
    """The official summary_scores rules applied to the per-image verdicts in results.json."""
    records = [
        {"tag": s.groups["tag"], "prompt_index": s.id, "correct": v["correct"], "status": v["status"]}
        for s in res.samples for v in s.outputs["verdicts"]
    ]
    return aggregate_geneval(records)


def test_generate_then_rescore_the_folder_without_a_model(tmp_path, janus, geneval_models, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", "--task", "geneval", "--model", janus, "--data", "generated:0:1", "--out", str(out),
                 "--images-per-prompt", "2", "--height", "64", "--width", "64", "--quiet",
                 *_judge_flags(geneval_models)]) == 0
    res = load_results(out)
    assert res.coverage.n_samples == 6 and res.coverage.stages["generate"].total == 12
    folder = out / "images"
    prompts = sorted(p for p in folder.iterdir() if p.name.isdigit())
    assert len(prompts) == 6 and all((p / "metadata.jsonl").is_file() for p in prompts)
    assert all(len(list((p / "samples").glob("*.png"))) == 2 for p in prompts)  # official layout
    official = _official_summary(res)
    assert res.overall.mean == pytest.approx(100 * official["overall"])
    for tag, info in official["tags"].items():
        assert res.groups["tag"][tag].mean == pytest.approx(100 * info["score"])
    assert res.aggregates["prompt_correct"].mean == pytest.approx(100 * official["prompt_accuracy"])
    assert mismatches(res) == []
    assert not res.standard and any("not directly comparable" in r for r in res.non_standard_reasons)
    page = (out / "report.html").read_text()
    assert 'id="group-filter"' in page and "a photo of" in page

    # Re-score the generated folder with no model, one image removed.
    copy = tmp_path / "folder"
    shutil.copytree(folder, copy)
    removed = copy / prompts[0].name / "samples" / "00001.png"
    removed.unlink()
    rescored = tmp_path / "rescored"
    assert main(["evaluate", "--task", "geneval", "--data", str(copy), "--out", str(rescored),
                 "--images-per-prompt", "2", "--quiet", *_judge_flags(geneval_models)]) == 0
    again = load_results(rescored)
    assert again.model is None
    assert again.coverage.n_samples == 6 and again.coverage.stages["generate"].total == 12
    assert again.coverage.stages["generate"].failed == 1  # the missing image, still counted
    first = next(s for s in again.samples if s.id == prompts[0].name)
    assert [v["status"] for v in first.outputs["verdicts"]] == ["ok", "missing"]
    assert first.outputs["verdicts"][1]["correct"] is False
    assert _official_summary(again)["n_images"] == 12
    # The images that are there get the same verdicts as in the generating run.
    before = {s.id: s.outputs["verdicts"] for s in res.samples}
    for s in again.samples:
        for k, verdict in enumerate(s.outputs["verdicts"]):
            if verdict["status"] == "ok":
                assert verdict["correct"] == before[s.id][k]["correct"]


def test_a_folder_that_is_not_official_layout_is_one_clear_error(tmp_path, capsys, geneval_models):
    (tmp_path / "imgs").mkdir()
    assert main(["evaluate", "--task", "geneval", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"),
                 "--quiet", *_judge_flags(geneval_models)]) == 2
    err = capsys.readouterr().err
    assert "holds no prompt folders" in err and "fix:" in err
    assert not (tmp_path / "o").exists()


def test_scoring_a_folder_needs_no_model_but_generation_does(tmp_path, capsys, geneval_models):
    assert main(["evaluate", "--task", "geneval", "--data", "generated:0:1", "--out", str(tmp_path / "o"),
                 "--quiet", *_judge_flags(geneval_models)]) == 2
    assert "needs a model" in capsys.readouterr().err
