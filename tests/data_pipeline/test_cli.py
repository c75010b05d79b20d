"""The CLI end to end on the shipped offline recipe, against an existing scheduler (--scheduler)."""

from __future__ import annotations

from pathlib import Path

from data_pipeline.cli import main

DEMO = Path(__file__).resolve().parents[2] / "recipes" / "local-demo.yaml"


def test_build_inspect_validate_local_demo(tmp_path, dask_client, capsys):
    out = tmp_path / "demo"
    addr = dask_client.scheduler.address
    assert main(["build", str(DEMO), "--out", str(out), "--scheduler", addr]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "8 inputs of 8 planned" in text and "accepted: 7" in text and "duplicate_exact" in text
    assert "caption length (words), 1 captions" in text  # astronaut's sidecar caption
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("valid")
    assert main(["validate", str(out), "--no-load"]) == 0  # the file checks alone
    capsys.readouterr()
    (out / "00000.parquet").write_bytes(b"garbage")
    assert main(["validate", str(out)]) == 1
    assert "INVALID" in capsys.readouterr().out
