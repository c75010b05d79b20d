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

SCHEMA_VERSION = "1.0"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkInfo(_Strict):
    name: str  # "unified", "geneval", "mmt"
    version: str


class ComponentInfo(_Strict):
    role: str
    source: str
    revision: str | None
    architecture: str


class ModelInfo(_Strict):
    spec: str
    components: list[ComponentInfo]


class MetricInfo(_Strict):
    """A column of the results: what it measures and how to read it (the leaderboard needs this)."""

    name: str
    higher_is_better: bool
    lower_bound: float | None = None
    upper_bound: float | None = None
    in_overall: bool = False
    details: dict[str, Any] = Field(default_factory=dict)  # checkpoint, revision, preprocessing, ...


class Aggregate(_Strict):
    """A score over the image set. Unified-task similarity scores are reported x100."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


class Coverage(_Strict):
    n_references: int
    n_captioned: int
    n_generated: int
    n_scored: int

    @property
    def fraction(self) -> float:
        return self.n_scored / self.n_references if self.n_references else 0.0


class SampleRecord(_Strict):
    """One reference item. ``outputs`` and ``scores`` keys depend on the benchmark."""

    id: str
    status: Literal["ok", "failed"]
    error: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, float | None] = Field(default_factory=dict)


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


class Results(_Strict):
    schema_version: str = SCHEMA_VERSION
    benchmark: BenchmarkInfo
    model: ModelInfo
    image_set: dict[str, Any]
    settings: dict[str, Any]
    metrics: list[MetricInfo]
    standard: bool  # the published protocol exactly (all standard encoders at standard checkpoints)
    non_standard_reasons: list[str] = Field(default_factory=list)
    aggregates: dict[str, Aggregate]
    overall: Aggregate | None
    coverage: Coverage
    samples: list[SampleRecord]
    provenance: Provenance


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
    if not isinstance(raw, dict):
        raise SchemaError(f"{origin}: expected a JSON object at the top level.", "Submit a results.json file.")
    version = str(raw.get("schema_version", "missing"))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise SchemaError(
            f"{origin} has results schema version {version}; this unified-bench reads {SCHEMA_VERSION}.",
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


def write_results(results: Results, path: str | Path) -> None:
    """Atomic write: a crash never leaves a half-written results.json."""
    from unified_bench.runner.atomic import atomic_write_text

    atomic_write_text(Path(path), results.model_dump_json(indent=2))

