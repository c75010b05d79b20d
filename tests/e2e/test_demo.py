"""`unified-bench demo` as a user runs it: a subprocess, offline, ending with reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from unified_bench.results.schema import load_results

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_offline_and_ends_with_reports(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "unified_bench.cli.main", "demo", "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RANDOM weights" in proc.stdout
    for name in ("janus", "composite"):
        run = out / "runs" / name
        assert (run / "COMPLETE").exists() and (run / "report.html").exists()
        assert f"report: {run / 'report.html'}" in proc.stdout
        res = load_results(run)
        assert res.coverage.n_samples == 6
        assert res.overall is not None  # all four encoder kinds present ...
        assert not res.standard  # ... but tiny checkpoints, demo images: not the published protocol
        assert "RANDOM weights" in (res.settings.get("notice") or "")
        assert "RANDOM weights" in (run / "report.html").read_text()
        # Loaded through the same path as hf: specs: local directories with content revisions.
        assert all(c.revision for c in res.model.components)
    composite = load_results(out / "runs" / "composite")
    assert {c.role for c in composite.model.components} == {"understanding", "generation"}
