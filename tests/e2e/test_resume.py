"""kill -9 in the middle of a run, then the same command again.

Checks the issue's promise: nothing finished is recomputed (every adapter call is logged, and
the caption/generation calls of both runs add up to exactly one per image), and in
deterministic mode the final results equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLOW = "py:tests.helpers.echo_adapter:make_slow"


def _cmd(images, out, encoder_args):
    return [sys.executable, "-m", "unified_bench.cli.main", "evaluate", "--model", SLOW, "--images", str(images),
            "--out", str(out), "--batch-size", "1", "--deterministic", "--quiet", "--no-report",
            "--lpips-random-trunk", *encoder_args]


def _env(log):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["ECHO_ADAPTER_LOG"] = str(log)
    env["ECHO_ADAPTER_DELAY"] = "0.4"
    return env


def _comparable(results_path):
    data = json.loads(Path(results_path).read_text())
    data.pop("provenance")
    return data


def test_kill_then_resume_recomputes_nothing_and_matches(tmp_path, demo_image_dir, encoder_args):
    n_images = len(list(demo_image_dir.iterdir()))

    # Reference: uninterrupted.
    ref_out, ref_log = tmp_path / "uninterrupted", tmp_path / "ref.log"
    subprocess.run(_cmd(demo_image_dir, ref_out, encoder_args), env=_env(ref_log), check=True, timeout=300,
                   capture_output=True)

    # Interrupted: SIGKILL once two reconstructions are on record.
    out, log = tmp_path / "interrupted", tmp_path / "run.log"
    proc = subprocess.Popen(_cmd(demo_image_dir, out, encoder_args), env=_env(log),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    gens = out / "generate.jsonl"
    while time.monotonic() < deadline:
        if gens.exists() and gens.read_text().count("\n") >= 2:
            break
        if proc.poll() is not None:
            raise AssertionError("the run finished before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "COMPLETE").exists() and not (out / "results.json").exists()
    generated_before = log.read_text().count("generate")
    assert 2 <= generated_before < n_images

    # Same command again.
    subprocess.run(_cmd(demo_image_dir, out, encoder_args), env=_env(log), check=True, timeout=300,
                   capture_output=True)
    lines = log.read_text().splitlines()
    # Each image captioned once and generated once over both runs (batch size 1): nothing redone,
    # except at most the single item that was in flight at the moment of the kill.
    assert sum(1 for ln in lines if ln.startswith("caption")) == n_images
    n_generate = sum(1 for ln in lines if ln.startswith("generate"))
    assert n_images <= n_generate <= n_images + 1
    assert (out / "COMPLETE").exists()
    # Deterministic mode: identical to the uninterrupted run (all but provenance: times, dates).
    assert _comparable(out / "results.json") == _comparable(ref_out / "results.json")
