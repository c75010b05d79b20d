"""User-fixable settings fail before any model loads, with exit code 2 and nothing written."""

from __future__ import annotations

import os

import pytest

from unified_bench.cli.main import main

LOADED = "UB_TEST_MODEL_LOADED"


def make_recording_adapter(runtime):
    """A ``py:`` factory that leaves a mark when called (the model 'loads')."""
    from tests.helpers.echo_adapter import EchoAdapter

    open(os.environ[LOADED], "w").close()
    return EchoAdapter()


@pytest.fixture
def mark(tmp_path, monkeypatch):
    path = tmp_path / "loaded"
    monkeypatch.setenv(LOADED, str(path))
    return path


def _run(out, *extra):
    return main(["evaluate", "--model", "py:tests.cli.test_validate_first:make_recording_adapter",
                 "--data", "demo", "--out", str(out), "--quiet", *extra])


def test_out_that_is_a_file_fails_before_the_model_loads(tmp_path, mark, capsys):
    target = tmp_path / "results.txt"
    target.write_text("not a run")
    assert _run(target) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert not mark.exists() and target.read_text() == "not a run"


def test_out_under_a_file_fails_before_the_model_loads(tmp_path, mark, capsys):
    (tmp_path / "file").write_text("x")
    assert _run(tmp_path / "file" / "run") == 2
    assert "is not a writable directory" in capsys.readouterr().err
    assert not mark.exists()


def test_out_holding_another_run_fails_before_the_model_loads(tmp_path, mark, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"task": "unified@1.0", "model": {"raw": "other"}, "dataset": {}}')
    assert _run(out) == 2
    assert "holds a different run" in capsys.readouterr().err
    assert not mark.exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--temperature", "-1"], "--temperature must be 0"),
    (["--guidance", "-2"], "guidance_scale -2.0 is negative"),
    (["--steps", "0"], "--steps must be a positive integer"),
])
def test_bad_settings_fail_before_the_model_loads(tmp_path, mark, capsys, flags, message):
    assert _run(tmp_path / "run", *flags) == 2
    assert message in capsys.readouterr().err
    assert not mark.exists() and not (tmp_path / "run").exists()
