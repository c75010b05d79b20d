"""A new task is a plug-in: defined here in a few lines, run by the unchanged runner.

``WordCountTask`` captions every image and scores the caption's word count; nothing in
``unified_bench`` knows it exists except the registry entry the test adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from unified_bench.models.base import Capability, ComponentIdentity, ModelAdapter, ModelIdentity
from unified_bench.results.schema import MetricInfo, SampleRecord, load_results
from unified_bench.specs import CaptionSettings, ExecutionOptions, RunSpec, RuntimeOptions, parse_model_spec
from unified_bench.tasks import TASKS
from unified_bench.tasks.base import Outputs, Request, ScoreInput, Stage, Task


@dataclass(frozen=True)
class WordCountConfig:
    prompt: str = "Describe the image."

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt}


class WordCountTask(Task):
    name = "wordcount-test"
    version = "0.1"
    config_cls = WordCountConfig
    default_data = "demo"

    def load_dataset(self, spec: str):
        from unified_bench.data.loader import load_image_set

        return load_image_set(spec)

    def stages(self) -> list[Stage]:
        return [Stage("caption", Capability.CAPTION, CaptionSettings(prompt=self.config.prompt))]

    def requests(self, stage: Stage, sample: Any, prior: Outputs) -> Iterable[Request]:
        return [Request(sample.id, images=(sample.data,))]

    def score_input(self, sample: Any, outputs: Outputs) -> ScoreInput | None:
        cap = outputs["caption"].get(sample.id)
        return ScoreInput(sample.id, cap["text"], {"caption": cap["key"]}) if cap else None

    def score_batch(self, judges: Any, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        return [{"words": len(item.payload.split())} for item in batch]

    def sample_record(self, sample: Any, outputs: Outputs, scored: Mapping[str, Any] | None) -> SampleRecord:
        words = float(scored["scores"]["words"]) if scored else 0.0
        return SampleRecord(id=sample.id, status="ok" if scored else "failed", scores={"words": words})

    def metrics(self, judges: Any) -> list[MetricInfo]:
        return [MetricInfo(name="words", higher_is_better=True, in_overall=True)]


class WordsAdapter(ModelAdapter):
    """Captions an image with as many words as its id-independent width in tens of pixels."""

    capabilities = frozenset({Capability.CAPTION})

    def identity(self) -> ModelIdentity:
        return ModelIdentity("words", (ComponentIdentity("unified", "tests", "v1", "WordsAdapter"),))

    def caption(self, images, settings, seeds):
        return [" ".join(["word"] * (1 + (seed % 5))) for _image, seed in zip(images, seeds, strict=True)]


def make_words_adapter(runtime) -> WordsAdapter:
    return WordsAdapter()


@pytest.fixture
def registered():
    TASKS.register("wordcount-test", "tests.tasks.test_plugin_task:WordCountTask")
    yield
    TASKS._entries.pop("wordcount-test")  # noqa: SLF001 - undo the test's registration


def test_a_task_defined_in_a_test_runs_through_the_unchanged_runner(registered, tmp_path):
    from unified_bench.runner.evaluate import evaluate

    run = RunSpec(
        task="wordcount-test",
        model=parse_model_spec("py:tests.tasks.test_plugin_task:make_words_adapter"),
        data="demo",
        runtime=RuntimeOptions(device="cpu", dtype="fp32", batch_size=2),
    )
    result = evaluate(run, ExecutionOptions(out=tmp_path / "run", show_progress=False))
    res = load_results(tmp_path / "run")
    assert (tmp_path / "run" / "COMPLETE").exists() and (tmp_path / "run" / "report.html").exists()
    # Independent computation: each caption's words from the seed the runner recorded for it.
    expected = [1 + (s.seeds[f"caption:{s.id}"] % 5) for s in res.samples]
    assert [s.scores["words"] for s in res.samples] == expected
    assert res.aggregates["words"].mean == pytest.approx(sum(expected) / len(expected))
    assert res.overall.mean == pytest.approx(sum(expected) / len(expected))
    assert res.coverage.n_samples == res.coverage.n_scored == 6
    assert res.benchmark.name == "wordcount-test" and result.summaries["caption"].computed == 6
