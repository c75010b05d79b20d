"""matrix.json: the captioner x generator matrix, validated with pydantic (like results.json).

Why a schema: the matrix is read back by the report and by people comparing labs; each cell points
at its pair's own run directory (its results.json holds every per-sample number), so the matrix
only adds what spans pairs: the grid, the derived figures and what the shared cache saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unified_bench.core.atomic import atomic_write_text
from unified_bench.errors import SchemaError

MATRIX_SCHEMA_VERSION = "1.0"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatrixCell(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    captioner: str
    generator: str
    model: str  # the evaluated spec: "A+X", or "A" on the diagonal, or "X" for the reference row
    run_dir: str  # relative to the matrix directory; its results.json holds the per-sample numbers
    status: Literal["ok", "failed"]
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    error: str | None = None


class DerivedFigure(_Strict):
    model: str
    own_loop: float | None
    best_other_captioner: str | None
    understanding_serves_generation: float | None
    best_other_generator: str | None
    generation_serves_understanding: float | None


class StageCounts(_Strict):
    """Summed over every pair: computed by a model, taken from the shared cache, already in the pair."""

    computed: int = 0
    shared: int = 0
    cached: int = 0


class MatrixResults(_Strict):
    schema_version: str = MATRIX_SCHEMA_VERSION
    task: str
    metric: str
    higher_is_better: bool = True
    data: str
    limit: int | None
    captioners: list[str]
    generators: list[str]
    specs: dict[str, str]  # label -> model spec ("reference": the data set's descriptions)
    cells: list[MatrixCell]
    derived: list[DerivedFigure]
    stages: dict[str, StageCounts] = Field(default_factory=dict)
    output_cache: str
    files: dict[str, str] = Field(default_factory=dict)

    def cell(self, captioner: str, generator: str) -> MatrixCell | None:
        return next((c for c in self.cells if c.captioner == captioner and c.generator == generator), None)


def write_matrix(results: MatrixResults, path: Path) -> None:
    atomic_write_text(path, results.model_dump_json(indent=2))


def load_matrix(path: Path) -> MatrixResults:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return MatrixResults.model_validate(raw)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise SchemaError(f"'{path}' is not a valid matrix.json: {exc}", "Re-run unified-bench matrix.") from exc
