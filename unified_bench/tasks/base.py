"""The task contract: what a benchmark declares so that one runner can run every benchmark.

Why: a task knows its data, the questions it asks a model and how to judge the answers; it never
sees a model, a cache key, a batch or a file handle. The runner (``unified_bench.runner.evaluate``)
owns the lifecycle for every task: capability check, run directory, keys, seeds, batching, calling
the adapter, writing and re-validating artifacts, closing the model before scoring, judging, results
and report. A new benchmark is a subclass of ``Task`` registered in ``unified_bench.tasks.TASKS``;
nothing in the runner changes (``tests/tasks/test_plugin_task.py`` proves it).

The flow of one run, and which hook each step calls::

    dataset = task.load_dataset(spec)                   lazy; fingerprint() names its content
    judges  = task.load_judges(runtime)                 before the run directory exists
    task.bind_model(adapter)                            fit stages to the model (native size)
    for stage in task.stages():                         e.g. caption, then generate
        existing = task.existing_outputs(stage, ...)    outputs that need no model (a folder)
        for sample: task.requests(stage, sample, prior) Request objects (plain, picklable data)
    task.prepare_scoring(judges, dataset, run_dir)      e.g. embed reference images once
    for sample: task.score_input(sample, outputs)       what to judge (None: nothing produced)
    task.score_batch(judges, batch, run_dir)            batched judging -> one dict per item
    task.sample_record(sample, outputs, scored)         pure -> SampleRecord (failure = explicit 0)
    type(task).aggregate(samples, metrics, settings, seed)  pure, torch-free (the leaderboard's)
    task.write_files(run_dir, results)                  task-specific files (CSV, submission)
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from unified_bench.data.dataset import Dataset
from unified_bench.models.base import Capability, ModelAdapter
from unified_bench.results.aggregate import Aggregation, default_aggregation

if TYPE_CHECKING:
    from unified_bench.results.schema import MetricInfo, Results, SampleRecord
    from unified_bench.specs import RuntimeOptions


@dataclass(frozen=True)
class Request:
    """One call a model must answer: plain, picklable data (it may travel to a Dask worker).

    ``images`` are encoded image bytes (decoded next to the model, so nothing holds decoded
    pixels for a whole stage); ``text`` is the prompt (generate) or the question (answer).
    ``key_parts`` identify the inputs for the cache key (e.g. the image's sha256 instead of its
    bytes). ``output_path`` is where the runner writes a generated image, relative to the run
    directory (a task may choose an official layout).
    """

    sample_id: str
    images: tuple[bytes, ...] = ()
    text: str = ""
    repeat: int = 0
    key_parts: Mapping[str, Any] = field(default_factory=dict)
    output_path: str | None = None

    @property
    def item_id(self) -> str:
        """Unique within a stage: the sample id, with ``#repeat`` for repeats after the first."""
        return self.sample_id if self.repeat == 0 else f"{self.sample_id}#{self.repeat}"


@dataclass(frozen=True)
class Stage:
    """A kind of request the task needs, with the settings every request of the stage shares.

    ``name`` names the stage's record file (``<name>.jsonl``) and enters each item's seed, so two
    stages of one kind (e.g. captioning twice with different prompts) never share outputs.
    """

    name: str
    kind: Capability
    settings: Any  # CaptionSettings | GenerationSettings | AnswerSettings: frozen, with to_dict()


@dataclass(frozen=True)
class ScoreInput:
    """One item to judge: the sample, its outputs, and what identifies them in the score key."""

    sample_id: str
    payload: Any
    key_parts: Mapping[str, Any]


#: ``{stage name: {item id: record}}``: the model outputs of a sample (records of status ``ok``).
Outputs = Mapping[str, Mapping[str, Mapping[str, Any]]]


class Task(ABC):
    """A benchmark. Subclasses set the class attributes and implement the abstract hooks."""

    #: ``--task`` name and the version recorded in results (bump when scores change meaning).
    name: ClassVar[str]
    version: ClassVar[str]
    #: The frozen config dataclass the CLI builds (``config_cls()`` must give the protocol defaults).
    config_cls: ClassVar[type]
    #: The data set used when ``--data`` is not given.
    default_data: ClassVar[str]
    #: The report's per-sample view (``unified_bench.report.views.REPORT_VIEWS``).
    report_view: ClassVar[str] = "generic"
    #: Items per ``score_batch`` call.
    score_batch_size: int = 16

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_cls()

    # ----------------------------------------------------------------------------- data
    @abstractmethod
    def load_dataset(self, spec: str) -> Dataset:
        """Resolve ``--data`` (or ``default_data``) to a lazy data set; raise on a bad spec."""

    # ----------------------------------------------------------------------------- requests
    @abstractmethod
    def stages(self) -> list[Stage]:
        """The stages in order; a later stage may build on an earlier one's outputs."""

    @abstractmethod
    def requests(self, stage: Stage, sample: Any, prior: Outputs) -> Iterable[Request]:
        """The requests ``sample`` needs in ``stage``; ``prior`` holds its earlier stages' outputs.

        Yield nothing when a prerequisite failed (the sample then scores as a failure).
        """

    def bind_model(self, model: ModelAdapter) -> None:  # noqa: B027 - optional hook
        """Fit the stages to the loaded model before any work (called once, after loading).

        E.g. the unified task draws at the model's native canvas when the user chose no size.
        ``stages()`` is asked again afterwards. Default: nothing to fit.
        """

    def existing_outputs(self, stage: Stage, dataset: Dataset) -> dict[str, dict[str, Any]] | None:
        """Outputs of ``stage`` that exist without a model (e.g. a folder of images to score).

        Return ``{item id: record}`` (records as the runner writes them: ``{"text": ...}`` or
        ``{"image": path, "sha256": ..., "size": [w, h]}``, ``"status": "failed"`` with an
        ``"error"`` for a missing one) to skip the stage, or None (default) to run the model.
        """
        return None

    # ----------------------------------------------------------------------------- judging
    def load_judges(self, runtime: RuntimeOptions) -> Any:
        """Load the scoring models (encoders, detectors). Called before the run directory exists,
        so a judge that cannot load fails the run with nothing written. Default: none."""
        return None

    def judge_identity(self, judges: Any) -> dict[str, Any]:
        """Everything about the judges that changes a score (checkpoints, preprocessing): score key."""
        return {}

    def prepare_scoring(  # noqa: B027 - optional hook
        self, judges: Any, dataset: Dataset, run_dir: Path, show_progress: bool = True
    ) -> None:
        """One-off work before scoring (e.g. embed every reference image once). Default: none."""

    @abstractmethod
    def score_input(self, sample: Any, outputs: Outputs) -> ScoreInput | None:
        """What to judge for ``sample``, or None when its outputs are missing (it scores as failed)."""

    @abstractmethod
    def score_batch(self, judges: Any, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        """Judge a batch; one JSON-able dict per item (in order). Raise to fail the batch."""

    def close_judges(self, judges: Any) -> None:  # noqa: B027 - optional hook
        """Release the judges' memory. Default: nothing."""

    # ----------------------------------------------------------------------------- results
    @abstractmethod
    def sample_record(self, sample: Any, outputs: Outputs, scored: Mapping[str, Any] | None) -> SampleRecord:
        """The sample's results row (pure). ``scored`` is None when it could not be judged."""

    @abstractmethod
    def metrics(self, judges: Any) -> list[MetricInfo]:
        """The declared metrics (direction, bounds, scale, in-overall), from the metric metadata."""

    @classmethod
    def aggregate(
        cls,
        samples: Sequence[SampleRecord],
        metrics: Sequence[MetricInfo],
        settings: Mapping[str, Any],
        seed: int,
    ) -> Aggregation:
        """Pure and torch-free: the leaderboard recomputes submissions with it. Default: per-metric
        means, the mean of the in-overall metrics, and per-group means (``SampleRecord.groups``)."""
        return default_aggregation(samples, metrics, seed)

    def settings_record(self) -> dict[str, Any]:
        """The task's settings as recorded in run.json and results.json."""
        return self.config.to_dict()

    def output_summary(self, samples: Sequence[SampleRecord]) -> dict[str, Any]:
        """Run-level facts about the outputs, merged into results.json's settings (e.g. how many
        prompts the generator's text encoder truncated). Pure. Default: none."""
        return {}

    def non_standard_reasons(self, dataset: Dataset, limit: int | None, seed: int) -> list[str]:
        """Why a run is not the published protocol (empty = standard). Default: not standard."""
        return [f"task '{self.name}' declares no standard protocol"]

    def write_files(self, run_dir: Path, results: Results) -> dict[str, str]:
        """Write task-specific files next to results.json; return ``{label: relative path}``."""
        return {}

    # ----------------------------------------------------------------------------- command line
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add the task's own ``unified-bench evaluate`` flags (shown with ``--task NAME --help``)."""
        return None

    @classmethod
    def config_from_args(cls, args: argparse.Namespace) -> Any:
        """The task config from the parsed flags (validated: raise SpecError with the fix)."""
        return cls.config_cls()

    # ----------------------------------------------------------------------------- derived
    def needs(self) -> frozenset[Capability]:
        """The capabilities the stages ask of a model."""
        return frozenset(stage.kind for stage in self.stages())
