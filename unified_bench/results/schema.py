"""The versioned results.json schema (pydantic models).

Why a module of its own: the leaderboard validates submissions with exactly these models, and
``report`` renders from them, never from models or run internals. Bump ``SCHEMA_VERSION``
on any incompatible change; readers refuse other major versions with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unified_bench.errors import SchemaError

SCHEMA_VERSION = "2.0"
#: Older major versions ``parse_results`` upgrades in memory (read-only: never written again).
UPGRADABLE_MAJORS = ("1",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkInfo(_Strict):
    name: str  # "unified", "geneval", "mmt"
    version: str
    view: str = "generic"  # the report's per-sample view (``unified_bench.report.views``)


class ComponentInfo(_Strict):
    role: str
    source: str
    revision: str | None
    architecture: str


class ModelInfo(_Strict):
    spec: str
    components: list[ComponentInfo]


class MetricInfo(_Strict):
    """A column of the results: what it measures and how to read it (the leaderboard needs this).

    ``scale`` multiplies per-sample values into aggregates (x100 for similarities and accuracies);
    the bounds are on the aggregate scale.
    """

    name: str
    higher_is_better: bool
    lower_bound: float | None = None
    upper_bound: float | None = None
    in_overall: bool = False
    scale: float = 1.0
    details: dict[str, Any] = Field(default_factory=dict)  # checkpoint, revision, preprocessing, ...


class Aggregate(_Strict):
    """A score over the data set (mean with its bootstrap 95% CI), on the metric's aggregate scale."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


class StageCoverage(_Strict):
    """How many requests of one stage produced an output (``total - ok - failed`` were never run)."""

    total: int
    ok: int
    failed: int


class Coverage(_Strict):
    """How much of the data set was scored; the denominators never shrink (missing = wrong / 0)."""

    n_samples: int
    n_scored: int
    stages: dict[str, StageCoverage] = Field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.n_scored / self.n_samples if self.n_samples else 0.0


class SampleRecord(_Strict):
    """One data-set item. ``outputs`` and ``scores`` keys depend on the benchmark.

    ``groups`` names the sample's groups (e.g. ``{"tag": "counting"}``) for per-group aggregates;
    ``seeds`` the seed each of its model outputs was drawn with (``"stage:item_id"`` -> seed, where
the item id is the sample id, with ``#repeat`` after the first repeat).
    """

    id: str
    status: Literal["ok", "failed"]
    error: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, float | None] = Field(default_factory=dict)
    groups: dict[str, str] = Field(default_factory=dict)
    seeds: dict[str, int] = Field(default_factory=dict)


class Provenance(_Strict):
    unified_bench_version: str
    git_commit: str | None
    package_versions: dict[str, str]
    device: str
    dtype: str
    seed: int
    batch_size: int
    deterministic: bool
    created_at: str
    wall_time_s: float
    python: str
    platform: str
    accelerator: dict[str, Any] = Field(default_factory=dict)  # GPU name, CUDA, driver (empty on CPU)


class Results(_Strict):
    """One run of one task: the leaderboard's unit of submission.

    ``model`` is None when outputs were scored without a model (e.g. an existing image folder);
    ``groups`` holds per-group aggregates (``{"tag": {"counting": ...}}``); ``files`` names the
    task-specific files written next to results.json (CSV tables, a submission file).
    """

    schema_version: str = SCHEMA_VERSION
    benchmark: BenchmarkInfo
    model: ModelInfo | None
    dataset: dict[str, Any]
    settings: dict[str, Any]
    metrics: list[MetricInfo]
    standard: bool  # the published protocol exactly
    non_standard_reasons: list[str] = Field(default_factory=list)
    aggregates: dict[str, Aggregate]
    overall: Aggregate | None
    groups: dict[str, dict[str, Aggregate]] = Field(default_factory=dict)
    coverage: Coverage
    samples: list[SampleRecord]
    provenance: Provenance
    files: dict[str, str] = Field(default_factory=dict)


def load_results(path: str | Path) -> Results:
    """Read and validate a results file; refuse other schema versions with a clear message."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise SchemaError(
            f"No results file at '{path}'.",
            "Pass a run directory that finished, or the path to its results.json.",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"'{path}' is not valid JSON ({exc}).", "Re-run the evaluation to regenerate it.") from exc
    return parse_results(raw, origin=str(path))


def parse_results(raw: Any, origin: str = "results") -> Results:
    """Validate ``raw`` (a decoded results.json); 1.x files are upgraded in memory to 2.0."""
    if not isinstance(raw, dict):
        raise SchemaError(f"{origin}: expected a JSON object at the top level.", "Submit a results.json file.")
    version = str(raw.get("schema_version", "missing"))
    major = version.split(".")[0]
    if major in UPGRADABLE_MAJORS:
        raw = upgrade_v1(raw)
    elif major != SCHEMA_VERSION.split(".")[0]:
        raise SchemaError(
            f"{origin} has results schema version {version}; this unified-bench reads {SCHEMA_VERSION} "
            f"(and upgrades {', '.join(m + '.x' for m in UPGRADABLE_MAJORS)}).",
            "Re-run the evaluation with this version of unified-bench, or install the version that wrote it.",
        )
    try:
        return Results.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SchemaError(
            f"{origin} is malformed at '{where}': {first['msg']} ({exc.error_count()} problem(s) in all).",
            "Re-run the evaluation to regenerate the file; do not edit results.json by hand.",
        ) from exc


def upgrade_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """A 1.x results dict (unified task only) in the 2.0 shape, so old runs still render.

    1.x had ``image_set`` instead of ``dataset`` and coverage counted captions and reconstructions;
    both map one to one. Anything else malformed is left for validation to report.
    """
    out = dict(raw)
    out["schema_version"] = SCHEMA_VERSION
    if "image_set" in out and "dataset" not in out:
        out["dataset"] = out.pop("image_set")
    cov = out.get("coverage")
    if isinstance(cov, dict) and "n_references" in cov:
        n = cov.get("n_references", 0)
        out["coverage"] = {
            "n_samples": n,
            "n_scored": cov.get("n_scored", 0),
            "stages": {
                "caption": {"total": n, "ok": cov.get("n_captioned", 0), "failed": n - cov.get("n_captioned", 0)},
                "generate": {
                    "total": cov.get("n_captioned", 0),
                    "ok": cov.get("n_generated", 0),
                    "failed": cov.get("n_captioned", 0) - cov.get("n_generated", 0),
                },
            },
        }
    bench = out.get("benchmark")
    if isinstance(bench, dict) and bench.get("name") == "unified" and "view" not in bench:
        out["benchmark"] = {**bench, "view": "unified"}
    metrics = out.get("metrics")
    if isinstance(metrics, list):
        out["metrics"] = [
            {**m, "scale": float(m.get("details", {}).get("scale", 1))} if isinstance(m, dict) and "scale" not in m
            else m
            for m in metrics
        ]
    return out


def write_results(results: Results, path: str | Path) -> None:
    """Atomic write: a crash never leaves a half-written results.json."""
    from unified_bench.core.atomic import atomic_write_text

    atomic_write_text(Path(path), results.model_dump_json(indent=2))

