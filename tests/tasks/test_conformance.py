"""Every registered task honours the contract and resumes after a kill with nothing recomputed.

Each task needs a demo run here (tiny models, a few samples): a task registered without one fails
``test_every_task_has_a_demo_run``, so a new task cannot skip the conformance checks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from unified_bench.results.schema import load_results
from unified_bench.runner.executor import BatchCall, LocalExecutor
from unified_bench.specs import ExecutionOptions, RunSpec
from unified_bench.tasks import TASKS
from unified_bench.tasks.base import Stage, Task


def _unified_demo(assets: dict) -> RunSpec:
    from unified_bench.demo.runs import unified_demo_run

    run = unified_demo_run(assets["janus"], assets["encoders"], notice=None)
    return dataclasses.replace(run, limit=4, runtime=dataclasses.replace(run.runtime, batch_size=2))


def _mmt_demo(assets: dict) -> RunSpec:
    from unified_bench.specs import AnswerSettings, RuntimeOptions, parse_model_spec
    from unified_bench.tasks.mmt.task import MMTConfig

    return RunSpec(
        task="mmt",
        model=parse_model_spec(assets["janus"]),
        task_config=MMTConfig(answer=AnswerSettings(max_new_tokens=8), circular=True),
        data=str(FIXTURES / "mmt" / "mmt_fixture.tsv"),
        limit=4,
        runtime=RuntimeOptions(device="cpu", dtype="fp32", batch_size=2, deterministic=True),
    )


def _geneval_demo(assets: dict) -> RunSpec:
    from unified_bench.demo.runs import geneval_demo_run

    return dataclasses.replace(geneval_demo_run(assets["janus"], assets["geneval"]), limit=3)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_RUNS: dict[str, Callable[[dict], RunSpec]] = {
    "unified": _unified_demo, "mmt": _mmt_demo, "geneval": _geneval_demo,
}


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict:
    from unified_bench.cli.demo import build_demo_assets
    from unified_bench.demo.geneval import build_geneval_models

    out = tmp_path_factory.mktemp("conformance")
    models, encoders = build_demo_assets(out, ["janus"])
    geneval = build_geneval_models(out / "geneval", include=("mask2former", "open_clip"))
    return {"janus": models["janus"], "encoders": encoders, "geneval": geneval}


class CountingExecutor(LocalExecutor):
    """Counts the requests it computes per stage; raises KeyboardInterrupt after ``kill_after`` calls."""

    def __init__(self, adapter, calls: Counter, kill_after: int | None = None) -> None:
        super().__init__(adapter)
        self.calls = calls
        self.kill_after = kill_after
        self.n_calls = 0

    def run(self, call: BatchCall):
        if self.kill_after is not None and self.n_calls >= self.kill_after:
            raise KeyboardInterrupt("simulated kill")
        out = super().run(call)
        self.n_calls += 1
        self.calls[call.stage] += len(call.requests)
        return out


def test_every_task_has_a_demo_run():
    assert sorted(TASKS.names()) == sorted(DEMO_RUNS)


@pytest.mark.parametrize("name", sorted(DEMO_RUNS))
def test_task_declares_the_contract(name):
    task_cls = TASKS.get(name)
    assert issubclass(task_cls, Task)
    assert task_cls.name == name and task_cls.version and task_cls.default_data
    task = task_cls()  # config_cls() gives the protocol defaults
    stages = task.stages()
    assert stages and all(isinstance(s, Stage) for s in stages)
    assert len({s.name for s in stages}) == len(stages)
    assert all(hasattr(s.settings, "to_dict") for s in stages)
    assert isinstance(task.settings_record(), dict)


@pytest.mark.parametrize("name", sorted(DEMO_RUNS))
def test_task_runs_end_to_end_and_resumes_after_a_kill(name, assets, tmp_path: Path):
    from unified_bench.runner.evaluate import evaluate

    run = DEMO_RUNS[name](assets)
    full_calls: Counter = Counter()
    full = evaluate(
        run,
        ExecutionOptions(out=tmp_path / "full", show_progress=False),
        executor_factory=lambda adapter, _run: CountingExecutor(adapter, full_calls),
    )
    assert (tmp_path / "full" / "COMPLETE").exists() and (tmp_path / "full" / "report.html").exists()
    res = load_results(tmp_path / "full")
    assert res.benchmark.name == name and res.metrics and res.samples
    assert res.coverage.n_samples == len(res.samples)
    assert set(res.coverage.stages) == {s.name for s in TASKS.get(name)(run.task_config).stages()}
    total_requests = sum(s.total for k, s in full.summaries.items() if k != "score")
    assert sum(full_calls.values()) == total_requests
    n_batches = sum(-(-s.total // run.runtime.batch_size) for k, s in full.summaries.items() if k != "score")

    # Killed half-way through the model's batches (batch size > 1 in each stage), then run again.
    first_calls: Counter = Counter()
    kill_after = max(1, n_batches // 2)
    with pytest.raises(KeyboardInterrupt):
        evaluate(
            run,
            ExecutionOptions(out=tmp_path / "killed", show_progress=False),
            executor_factory=lambda adapter, _run: CountingExecutor(adapter, first_calls, kill_after),
        )
    assert not (tmp_path / "killed" / "COMPLETE").exists()
    resume_calls: Counter = Counter()
    evaluate(
        run,
        ExecutionOptions(out=tmp_path / "killed", show_progress=False),
        executor_factory=lambda adapter, _run: CountingExecutor(adapter, resume_calls),
    )
    assert first_calls + resume_calls == full_calls  # every request computed exactly once overall
    assert 0 < sum(first_calls.values()) < total_requests
    resumed = load_results(tmp_path / "killed")
    assert [(s.id, s.status, s.scores, s.outputs.get("caption")) for s in resumed.samples] == [
        (s.id, s.status, s.scores, s.outputs.get("caption")) for s in res.samples
    ]
    assert resumed.aggregates == res.aggregates


@pytest.mark.parametrize("name", sorted(DEMO_RUNS))
def test_task_module_imports_without_torch(name):
    """The leaderboard recomputes every task's aggregates without torch installed."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, fullname, path=None, target=None):\n"
        "        if fullname.split('.')[0] in ('torch', 'torchvision', 'transformers', 'diffusers'):\n"
        "            raise ImportError(fullname + ' is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from unified_bench.tasks import TASKS\n"
        f"cls = TASKS.get({name!r})\n"
        "assert callable(cls.aggregate)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
