"""The README's one command: ``unified-leaderboard serve --demo`` starts a populated site."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_demo_starts_a_populated_site(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "leaderboard.cli", "serve", "--demo", "--demo-models", "6", "--db", db,
         "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/tasks/unified", timeout=10) as resp:
                    page = resp.read().decode()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert page.count("<tr data-id") == 8 and "DEMO DATABASE" in page
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "8 models added" in out


def test_benchmark_runs_small(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_leaderboard
    finally:
        sys.path.pop(0)
    out = bench_leaderboard.main(["--models", "12", "--clients", "4", "--requests", "2"])
    assert out["p99_ratio"] > 0 and "ratio ranking/static" in capsys.readouterr().out
