"""End to end against the loopback OpenAI-compatible server: ``unified-bench evaluate --model openai:NAME@URL``.

- the unified task (caption -> generate -> score with the tiny demo encoders) through the CLI;
- an MMT-style answer stage through the unchanged runner (a tiny task defined here);
- a second run and a kill -9 + resume re-ask the server nothing that was finished (server counts).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.models.served_server import ServedTestServer, expected_reply, prompt_colour
from tests.models.test_served import _png
from unified_bench.cli.main import main
from unified_bench.models.base import Capability
from unified_bench.results.schema import MetricInfo, SampleRecord, load_results
from unified_bench.specs import AnswerSettings, ExecutionOptions, RunSpec, RuntimeOptions, parse_model_spec
from unified_bench.tasks import TASKS
from unified_bench.tasks.base import Outputs, Request, ScoreInput, Stage, Task

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _args(url: str, out: Path, encoder_args: list[str], *extra: str) -> list[str]:
    return ["evaluate", "--model", f"openai:tiny-vlm@{url}", "--data", "demo", "--out", str(out), "--quiet",
            "--lpips-random-trunk", "--height", "32", "--width", "32", *encoder_args, *extra]


def test_unified_run_end_to_end_then_a_second_run_asks_nothing(tmp_path, encoder_args):
    out = tmp_path / "run"
    with ServedTestServer() as server:
        assert main(_args(server.url, out, encoder_args)) == 0
        res = load_results(out)
        n = res.coverage.n_samples
        assert res.coverage.n_scored == n and len(server.chat_posts()) == n and len(server.generation_posts()) == n
        # Every generated image is the server's colour for the caption it was given.
        for sample in res.samples:
            posts = [b for b in server.generation_posts() if b["seed"] == sample.seeds[f"generate:{sample.id}"]]
            assert len(posts) == 1 and posts[0]["size"] == "32x32"
            with Image.open(out / sample.outputs["generated_image"]) as image:
                assert image.getpixel((0, 0)) == prompt_colour(posts[0]["prompt"])
        asked = dict(server.counts)
        assert main(_args(server.url, out, encoder_args, "--no-report")) == 0
        probe_only = Counter(server.counts) - Counter(asked)
        assert len(server.chat_posts()) == n and len(server.generation_posts()) == n  # nothing asked again
        assert sum(probe_only.values()) <= 3  # GET /models + the two probes
    (component,) = res.model.components
    assert component.revision.startswith("unpinned served model") and component.source.startswith("openai:tiny-vlm@")
    assert "unpinned served model" in res.settings["provenance_flags"]
    assert "unpinned served model" in (out / "report.html").read_text()
    assert res.settings["prompt_layout"]["order"] == "text-image"
    assert "size" in res.settings["not_honoured"]["generate"]


def test_composite_of_a_served_captioner_and_a_served_generator(tmp_path, encoder_args, monkeypatch):
    monkeypatch.setenv("SERVED_E2E_KEY", "sk-e2e-secret-42")
    with ServedTestServer(models=("tiny-vlm", "tiny-gen"), key="sk-e2e-secret-42") as server:
        spec = f"openai:tiny-vlm@{server.url}+openai:tiny-gen@{server.url}"
        args = _args(server.url, tmp_path / "run", encoder_args, "--limit", "2", "--api-key-env", "SERVED_E2E_KEY")
        args[args.index("--model") + 1] = spec
        assert main(args) == 0
    # The key reached the server (it refuses requests without it) and nothing in the run directory.
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert b"sk-e2e-secret-42" not in path.read_bytes(), path
    assert {b["model"] for b in server.chat_posts()} == {"tiny-vlm"}
    assert {b["model"] for b in server.generation_posts()} == {"tiny-gen"}
    res = load_results(tmp_path / "run")
    assert [c.role for c in res.model.components] == ["understanding", "generation"]
    assert set(res.settings["provenance_flags"]) == {"unpinned served model (understanding)",
                                                      "unpinned served model (generation)"}


# -- MMT-style answers through the runner -----------------------------------------------------------
@dataclass(frozen=True)
class _QAConfig:
    question: str = "Which image is brighter? Answer A or B."

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question}


class ServedQATask(Task):
    """Each sample asks one question about its image and the next one (two images per request)."""

    name = "served-qa-test"
    version = "0.1"
    config_cls = _QAConfig
    default_data = "demo"

    def load_dataset(self, spec: str):
        from unified_bench.data.loader import load_image_set

        self._images = load_image_set(spec)
        return self._images

    def stages(self) -> list[Stage]:
        return [Stage("answer", Capability.ANSWER, AnswerSettings(max_new_tokens=8))]

    def requests(self, stage: Stage, sample: Any, prior: Outputs) -> Iterable[Request]:
        samples = list(self._images)
        nxt = samples[(samples.index(sample) + 1) % len(samples)]
        return [Request(sample.id, images=(sample.data, nxt.data), text=self.config.question)]

    def score_input(self, sample: Any, outputs: Outputs) -> ScoreInput | None:
        rec = outputs["answer"].get(sample.id)
        return ScoreInput(sample.id, rec["text"], {"answer": rec["key"]}) if rec else None

    def score_batch(self, judges: Any, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        return [{"chars": len(item.payload)} for item in batch]

    def sample_record(self, sample: Any, outputs: Outputs, scored: Mapping[str, Any] | None) -> SampleRecord:
        rec = outputs["answer"].get(sample.id)
        return SampleRecord(id=sample.id, status="ok" if scored else "failed",
                            outputs={"answer": rec["text"] if rec else None},
                            scores={"chars": float(scored["scores"]["chars"]) if scored else 0.0})

    def metrics(self, judges: Any) -> list[MetricInfo]:
        return [MetricInfo(name="chars", higher_is_better=True)]


@pytest.fixture
def qa_task():
    TASKS.register("served-qa-test", "tests.e2e.test_served_run:ServedQATask")
    yield
    TASKS._entries.pop("served-qa-test")  # noqa: SLF001 - undo the test's registration


def _decoded_png(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return _png(img.convert("RGB"))


def test_answer_stage_through_the_runner(qa_task, tmp_path):
    from unified_bench.data.loader import load_image_set
    from unified_bench.runner.evaluate import evaluate

    with ServedTestServer() as server:
        # The probe takes the first request; then one 429 and one 500 during the answers: retried, not failed.
        server.fault("/v1/chat/completions", ("slow", 0), ("429", 0), ("500",))
        run = RunSpec(task="served-qa-test", model=parse_model_spec(f"openai:tiny-vlm@{server.url}"), data="demo",
                      runtime=RuntimeOptions(device="cpu", dtype="fp32", batch_size=4))
        evaluate(run, ExecutionOptions(out=tmp_path / "run", show_progress=False, report=False))
    res = load_results(tmp_path / "run")
    samples = list(load_image_set("demo"))
    assert res.coverage.n_scored == len(samples)
    for i, s in enumerate(samples):
        record = next(r for r in res.samples if r.id == s.id)
        pngs = [_decoded_png(s.data), _decoded_png(samples[(i + 1) % len(samples)].data)]
        assert record.outputs["answer"] == expected_reply(ServedQATask.config_cls().question, pngs,
                                                          record.seeds[f"answer:{s.id}"])


# -- kill and resume -------------------------------------------------------------------------------
def _cmd(url: str, out: Path, encoder_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "unified_bench.cli.main", *_args(url, out, encoder_args, "--no-report"),
            "--batch-size", "1", "--served-concurrency", "1"]


def test_kill_then_resume_asks_nothing_finished_again(tmp_path, encoder_args):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = tmp_path / "run"
    with ServedTestServer() as server:
        server.delay_s = 0.3
        proc = subprocess.Popen(_cmd(server.url, out, encoder_args), env=env,
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
        assert not (out / "COMPLETE").exists()
        n_before = len(server.generation_posts())
        server.delay_s = 0.0
        subprocess.run(_cmd(server.url, out, encoder_args), env=env, check=True, timeout=300, capture_output=True)
        captions = Counter(repr(b["messages"]) for b in server.chat_posts())
        generations = Counter(b["prompt"] for b in server.generation_posts())
    n = load_results(out).coverage.n_samples
    assert 2 <= n_before < n and (out / "COMPLETE").exists()
    # Each image captioned once over both runs; each caption drawn once, except at most the single
    # request in flight at the moment of the kill.
    assert len(captions) == n and set(captions.values()) == {1}
    assert len(generations) == n and sum(generations.values()) <= n + 1


def test_cli_refused_key_is_one_message_before_anything_is_written(tmp_path, encoder_args, capsys):
    out = tmp_path / "run"
    with ServedTestServer(key="sk-needed") as server:
        code = main(_args(server.url, out, encoder_args, "--api-key-env", "SERVED_UNSET_KEY"))
    err = capsys.readouterr().err
    assert code == 2 and "refused the API key" in err and "export SERVED_UNSET_KEY" in err
    assert "Traceback" not in err and not out.exists()
    assert server.chat_posts() == [] and server.generation_posts() == []
