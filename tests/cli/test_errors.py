"""Bad input: one clear message naming the problem and the fix, exit code 2, nothing written."""

from __future__ import annotations

import json

import pytest

from unified_bench.cli.main import main

ECHO = "py:tests.helpers.echo_adapter:make_lossless"


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _assert_one_clear_error(code, err, fragment):
    assert code == 2
    assert err.startswith("error: ") and fragment in err, err
    assert "fix: " in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--model", "bogus-model"], "Unknown model spec 'bogus-model'"),
        (["--model", "org/name"], "Did you mean hf:org/name"),
        (["--model", ECHO, "--task", "unifeid"], "Unknown task 'unifeid'"),
        (["--model", ECHO, "--encoders", "clip,dinov4"], "Unknown encoder 'dinov4'"),
        (["--model", ECHO, "--aux", "fid"], "Unknown auxiliary metric 'fid'"),
        (["--model", ECHO, "--limit", "0"], "--limit must be at least 1"),
        (["--model", "py:tests.helpers.echo_adapter:make_caption_only"], "needs the model to generate"),
    ],
)
def test_configuration_errors(capsys, tmp_path, demo_image_dir, extra, fragment):
    out = tmp_path / "run"
    code, err = _run(capsys, ["evaluate", "--images", str(demo_image_dir), "--out", str(out), "--quiet", *extra])
    _assert_one_clear_error(code, err, fragment)
    assert not out.exists()


def test_missing_image_folder(capsys, tmp_path):
    out = tmp_path / "run"
    code, err = _run(capsys, ["evaluate", "--model", ECHO, "--images", str(tmp_path / "nope"), "--out", str(out)])
    _assert_one_clear_error(code, err, "nope")
    assert not out.exists()


def test_corrupt_image_is_named(capsys, tmp_path, demo_image_dir):
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(demo_image_dir.iterdir())[:2]:
        (images / p.name).write_bytes(p.read_bytes())
    good = sorted(demo_image_dir.iterdir())[0].read_bytes()
    (images / "broken.png").write_bytes(good[: len(good) // 3])
    out = tmp_path / "run"
    code, err = _run(capsys, ["evaluate", "--model", ECHO, "--images", str(images), "--out", str(out)])
    _assert_one_clear_error(code, err, "broken")
    assert not out.exists()


def test_report_refuses_other_schema_version(capsys, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": "9.0"}))
    code, err = _run(capsys, ["report", str(tmp_path)])
    _assert_one_clear_error(code, err, "schema version 9.0")
    assert not (tmp_path / "report.html").exists()


def test_report_on_missing_results(capsys, tmp_path):
    code, err = _run(capsys, ["report", str(tmp_path)])
    _assert_one_clear_error(code, err, "No results file")
