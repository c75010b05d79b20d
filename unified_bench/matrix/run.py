"""Run every (captioner, generator) pairing through the one runner and assemble matrix.json.

Why each pair is an ordinary run directory plus one shared output cache (and not one big run):
a pair is then exactly what ``unified-bench evaluate --model A+X`` would produce (same keys,
results.json, report, resume), and the matrix adds no second lifecycle. What makes each caption
computed once per captioner is the runner's output cache (``ExecutionOptions.output_cache``),
consulted by request key before computing: a composite's caption keys name only its captioner
(``producer_identity``), so ``A+X`` and ``A+Y`` (and ``A`` alone, on the diagonal) look up the same
captions, and a re-run of the matrix, or a larger matrix sharing the cache, computes nothing twice.

Layout::

    OUT/matrix.json                 the grid (validated, ``schema.py``), derived figures, cache counts
    OUT/matrix.png, OUT/matrix.html the heat-map and the page embedding it
    OUT/pairs/<captioner>__<generator>/   each pair's run directory (results.json, report.html, ...)
    OUT/cache/                      the shared output cache (unless --output-cache points elsewhere)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unified_bench.errors import SpecError, UnifiedBenchError
from unified_bench.matrix.derived import REFERENCE, derived_figures
from unified_bench.matrix.schema import DerivedFigure, MatrixCell, MatrixResults, StageCounts, write_matrix
from unified_bench.models.base import Capability
from unified_bench.specs import ClusterSpec, ExecutionOptions, RunSpec, parse_model_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatrixEntry:
    """A row or column: a short label (shown in the grid, names the pair folders) and a model spec."""

    label: str
    spec: str


@dataclass(frozen=True)
class MatrixSpec:
    """What to run: the pairings, the shared run settings (``base``: task, config, data, limit,
    runtime; its model is ignored), the optional reference-description row and the grid's metric."""

    captioners: tuple[MatrixEntry, ...]
    generators: tuple[MatrixEntry, ...]
    base: RunSpec
    reference: bool = False
    metric: str = "overall"


@dataclass(frozen=True)
class Pair:
    captioner: str
    generator: str
    model: str
    run: RunSpec

    @property
    def folder(self) -> str:
        return f"{_slug(self.captioner)}__{_slug(self.generator)}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "model"


def default_label(spec: str) -> str:
    """A short name for a spec: the repo name, the folder name or the factory name."""
    text = spec.strip().rstrip("/")
    if text.startswith("py:"):
        return text.rsplit(":", 1)[-1]
    if text.startswith("hf:"):
        text = text[3:].partition("@")[0]
    return Path(text).name or text


def parse_entries(text: str, flag: str) -> tuple[MatrixEntry, ...]:
    """``A,B`` or ``label=SPEC,...`` -> entries; every spec parsed (a bad one fails before any run)."""
    entries = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        label, sep, spec = raw.partition("=")
        if not sep:
            label, spec = default_label(raw), raw
        label, spec = label.strip(), spec.strip()
        if "+" in spec:
            raise SpecError(f"{flag} entry '{raw}' is a composite.", "List single models; the matrix pairs them.")
        parse_model_spec(spec)
        if label == REFERENCE:
            raise SpecError(f"'{REFERENCE}' is reserved for the reference descriptions' row.",
                            f"Name the model otherwise: {flag} mymodel={spec}.")
        entries.append(MatrixEntry(label, spec))
    if not entries:
        raise SpecError(f"{flag} is empty.", f"Pass a comma-separated list of model specs to {flag}.")
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise SpecError(f"{flag} has two models with the same short name: {labels}.",
                        "Name them explicitly: LABEL=SPEC (e.g. small=hf:org/a,large=hf:org/b).")
    return tuple(entries)


def plan_pairs(spec: MatrixSpec) -> list[Pair]:
    """Every pairing (captioner-major order), plus the reference row; the diagonal is the model alone."""
    from unified_bench.tasks import TASKS

    task = TASKS.get(spec.base.task)(spec.base.task_config)
    if not {Capability.CAPTION, Capability.GENERATE} <= task.needs():
        raise SpecError(
            f"Task '{spec.base.task}' does not caption and generate, so it has no captioner x generator matrix.",
            "Use --task unified.",
        )
    specs: dict[str, str] = {}
    for entry in (*spec.captioners, *spec.generators):
        if specs.setdefault(entry.label, entry.spec) != entry.spec:
            raise SpecError(f"'{entry.label}' names two different models ({specs[entry.label]}, {entry.spec}).",
                            "Use the same LABEL=SPEC in --captioners and --generators for a unified model.")
    pairs = []
    for c in spec.captioners:
        for g in spec.generators:
            model = c.spec if c.label == g.label else f"{c.spec}+{g.spec}"
            pairs.append(Pair(c.label, g.label, model, dataclasses.replace(spec.base, model=parse_model_spec(model))))
    if spec.reference:
        config = spec.base.task_config
        if config is None or not hasattr(config, "caption_source"):
            raise SpecError(f"Task '{spec.base.task}' cannot regenerate from reference descriptions.",
                            "Use --task unified, or drop --reference-captions.")
        ref_config = dataclasses.replace(config, caption_source="reference")
        for g in spec.generators:
            run = dataclasses.replace(spec.base, model=parse_model_spec(g.spec), task_config=ref_config)
            pairs.append(Pair(REFERENCE, g.label, g.spec, run))
    return pairs


def cell_score(results: Any, metric: str) -> tuple[Any, bool]:
    """(the aggregate the grid shows, higher is better) for ``metric`` ("overall" or a metric name)."""
    if metric == "overall":
        if results.overall is None:
            raise SpecError("This run has no overall score (a non-standard encoder set).",
                            "Pick a metric for the grid: --metric clip (or another encoder).")
        return results.overall, True
    if metric not in results.aggregates:
        raise SpecError(f"Metric '{metric}' is not in the results ({', '.join(results.aggregates)}).",
                        "Pass --metric overall or one of those names.")
    info = next((m for m in results.metrics if m.name == metric), None)
    return results.aggregates[metric], info.higher_is_better if info is not None else True


@contextlib.contextmanager
def _executor_factory(cluster: ClusterSpec | None, device: str) -> Iterator[Callable[..., Any] | None]:
    """One Dask cluster for every pair (workers keep a model until the next pair needs another)."""
    if cluster is None:
        yield None
        return
    from unified_bench.runner.dask_executor import client_executor_factory, dask_client

    with dask_client(cluster, device) as client:
        yield client_executor_factory(client, cluster)


def run_matrix(
    spec: MatrixSpec,
    out: Path,
    *,
    output_cache: Path | None = None,
    cluster: ClusterSpec | None = None,
    executor_factory: Callable[..., Any] | None = None,
    force: bool = False,
    show_progress: bool = False,
    report: bool = True,
) -> MatrixResults:
    """Run (or resume) every pair into ``out/pairs/`` and write matrix.json, the heat-map and the page."""
    from unified_bench.runner.evaluate import evaluate

    pairs = plan_pairs(spec)
    out = Path(out)
    cache = Path(output_cache) if output_cache is not None else out / "cache"
    cells: list[MatrixCell] = []
    scores: dict[tuple[str, str], float | None] = {}
    higher = True
    stages: dict[str, dict[str, int]] = {}
    device = spec.base.runtime.resolved().device
    with _executor_factory(cluster, device) as cluster_factory:
        factory = executor_factory or cluster_factory
        for n, pair in enumerate(pairs, 1):
            log.info("matrix pair %d/%d: captioner %s, generator %s (%s)", n, len(pairs), pair.captioner,
                     pair.generator, pair.model)
            run_dir = out / "pairs" / pair.folder
            options = ExecutionOptions(out=run_dir, force=force, show_progress=show_progress, report=report,
                                       output_cache=cache)
            rel = str(run_dir.relative_to(out))
            try:
                evaluation = evaluate(pair.run, options, factory)
            except (SpecError, KeyboardInterrupt):
                raise  # a configuration problem fails the matrix (fix it, re-run: finished pairs are cached)
            except UnifiedBenchError as exc:
                log.warning("pair %s x %s failed: %s", pair.captioner, pair.generator, exc.problem)
                cells.append(MatrixCell(captioner=pair.captioner, generator=pair.generator, model=pair.model,
                                        run_dir=rel, status="failed", error=exc.problem))
                scores[(pair.captioner, pair.generator)] = None
                continue
            for name, summary in evaluation.summaries.items():
                counts = stages.setdefault(name, {"computed": 0, "shared": 0, "cached": 0})
                counts["computed"] += summary.computed
                counts["shared"] += summary.shared
                counts["cached"] += summary.cached
            agg, higher = cell_score(evaluation.results, spec.metric)
            cells.append(MatrixCell(captioner=pair.captioner, generator=pair.generator, model=pair.model,
                                    run_dir=rel, status="ok", score=agg.mean, ci_low=agg.ci_low,
                                    ci_high=agg.ci_high, n=agg.n))
            scores[(pair.captioner, pair.generator)] = agg.mean
    captioners = [c.label for c in spec.captioners] + ([REFERENCE] if spec.reference else [])
    generators = [g.label for g in spec.generators]
    # The figures read "positive = the own loop is better": for a lower-is-better metric, negate first.
    signed = scores if higher else {k: None if v is None else -v for k, v in scores.items()}
    derived = [DerivedFigure(**dataclasses.asdict(d)) for d in derived_figures(captioners, generators, signed)]
    if not higher:
        derived = [d.model_copy(update={"own_loop": scores.get((d.model, d.model))}) for d in derived]
    results = MatrixResults(
        task=spec.base.task,
        metric=spec.metric,
        higher_is_better=higher,
        data=spec.base.data or "(task default)",
        limit=spec.base.limit,
        captioners=captioners,
        generators=generators,
        specs={e.label: e.spec for e in (*spec.captioners, *spec.generators)}
        | ({REFERENCE: "the data set's reference descriptions"} if spec.reference else {}),
        cells=cells,
        derived=derived,
        stages={name: StageCounts(**counts) for name, counts in stages.items()},
        output_cache=str(cache),
        files={"heatmap": "matrix.png", "report": "matrix.html"},
    )
    out.mkdir(parents=True, exist_ok=True)
    from unified_bench.matrix.report import write_matrix_report

    write_matrix_report(results, out)
    write_matrix(results, out / "matrix.json")
    return results
