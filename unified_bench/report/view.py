"""Results -> the rows, columns and summaries the report template shows.

Why separate from rendering: the choices here (which metrics form the per-sample mean, worst-first
order, where unscored samples go, what counts as a demo run) are the report's logic and are tested
directly; the template only lays them out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unified_bench.report.plots import Histogram, histogram_png
from unified_bench.report.thumbnails import Thumbnail
from unified_bench.results.schema import MetricInfo, Results, SampleRecord

#: Name of the computed per-sample column (mean of the in-overall metrics of one sample).
OVERALL_COLUMN = "overall"


@dataclass(frozen=True)
class MetricColumn:
    """One score column of the per-sample table."""

    name: str
    higher_is_better: bool
    in_overall: bool
    lower_bound: float | None = None
    upper_bound: float | None = None

    @property
    def arrow(self) -> str:
        return "\u2191" if self.higher_is_better else "\u2193"


@dataclass(frozen=True)
class SampleRow:
    """One sample as displayed: the task view's images and text, scores and the per-sample mean."""

    id: str
    status: str
    error: str | None
    text: str | None
    images: tuple[Thumbnail, ...]
    scores: dict[str, float | None]
    overall: float | None
    overall_partial: bool = False  # some in-overall metrics were missing for this sample
    notes: tuple[str, ...] = ()
    group: str | None = None  # the value of the view's group key (the report's filter)


@dataclass(frozen=True)
class SummaryRow:
    """One aggregate (mean over the image set with its 95% CI)."""

    name: str
    mean: float
    ci_low: float
    ci_high: float
    n: int
    arrow: str = ""
    in_overall: bool = False


@dataclass
class ReportView:
    """Everything the template needs, already computed and ordered."""

    columns: list[MetricColumn]
    rows: list[SampleRow]
    summary: list[SummaryRow]
    histograms: list[Histogram]
    demo_notices: list[str]
    dataset_headline: dict[str, Any]
    dataset_rest: dict[str, Any]
    image_labels: tuple[str, ...]
    text_label: str
    group_key: str | None
    groups: list[str]
    n_failed: int
    n_missing_images: int
    settings_json: str
    metric_details: list[tuple[str, str]] = field(default_factory=list)


def metric_columns(metrics: list[MetricInfo], samples: list[SampleRecord]) -> list[MetricColumn]:
    """Declared metrics first (in-overall ones leading), then any score key the metrics list omits."""
    # sorted() is stable: declared order is kept within each group
    declared = sorted(metrics, key=lambda m: not m.in_overall)
    cols = [
        MetricColumn(m.name, m.higher_is_better, m.in_overall, m.lower_bound, m.upper_bound) for m in declared
    ]
    known = {c.name for c in cols}
    for s in samples:
        for key in s.scores:
            if key not in known:
                # Undeclared score: show it, but we cannot know its direction; assume higher is better.
                cols.append(MetricColumn(key, True, False))
                known.add(key)
    return cols


def per_sample_overall(
    scores: dict[str, float | None], columns: list[MetricColumn]
) -> tuple[float | None, bool]:
    """Mean of the sample's finite in-overall scores, and whether any in-overall score was missing.

    Raw per-sample values (cosine similarities in [-1, 1]), i.e. the aggregates' scale / 100.
    """
    wanted = [c.name for c in columns if c.in_overall]
    vals = [scores.get(n) for n in wanted]
    finite = [float(v) for v in vals if v is not None and math.isfinite(v)]
    if not finite:
        return None, False
    return sum(finite) / len(finite), len(finite) < len(wanted)


def worst_first(rows: list[SampleRow]) -> list[SampleRow]:
    """Lowest per-sample mean first; samples without one (failed, unscored) last, in id order."""
    scored = sorted((r for r in rows if r.overall is not None), key=lambda r: (r.overall, r.id))
    unscored = sorted((r for r in rows if r.overall is None), key=lambda r: r.id)
    return scored + unscored


def demo_notices(results: Results) -> list[str]:
    """Why this run's numbers must not be read as a model's quality (random weights, demo models)."""
    notices: list[str] = []
    notice = results.settings.get("notice")
    if isinstance(notice, str) and notice.strip():
        notices.append(notice.strip())
    provenance = results.settings.get("provenance_flags")
    if isinstance(provenance, dict):
        notices.extend(f"{flag}: {why}" for flag, why in provenance.items())
    flags = [results.settings.get(k) for k in ("random_weights", "demo")]
    spec = results.model.spec.lower() if results.model is not None else ""
    sources = " ".join(c.source.lower() for c in results.model.components) if results.model is not None else ""
    if (
        any(f is True for f in flags)
        or spec.startswith("demo")
        or "random-weights" in spec
        or "demo:" in sources
    ):
        notices.append(
            "Random-weights demo: the model and encoders are tiny untrained networks built offline. "
            "These numbers only show that the pipeline runs; they say nothing about any real model."
        )
    return notices


_DATASET_HEADLINE = ("name", "kind", "source", "n_images", "n", "content_sha256", "archive_sha256")


def build_view(results: Results, run_dir: Path) -> ReportView:
    """Compute the report's content from validated results and the images in ``run_dir``."""
    from unified_bench.report.views import view_for

    sample_view = view_for(results.benchmark.view)()
    columns = metric_columns(results.metrics, results.samples)
    rows: list[SampleRow] = []
    n_missing = 0
    for s in results.samples:
        media = sample_view.media(s, run_dir)
        gaps = media.expected_gaps or tuple(False for _ in media.images)
        # A placeholder explained by the sample's failure needs no note; every other one (missing,
        # unreadable or refused file) gets a note under the images.
        notes = tuple(t.note for t, gap in zip(media.images, gaps, strict=True) if t.note and not gap)
        notes += media.notes
        n_missing += sum(1 for t in media.images if t.missing)
        overall, partial = per_sample_overall(s.scores, columns)
        rows.append(
            SampleRow(
                id=s.id,
                status=s.status,
                error=s.error,
                text=media.text,
                images=media.images,
                scores=dict(s.scores),
                overall=overall,
                overall_partial=partial,
                notes=notes,
                group=s.groups.get(sample_view.group_key) if sample_view.group_key else None,
            )
        )
    rows = worst_first(rows)

    by_name = {c.name: c for c in columns}
    summary = [
        SummaryRow(
            name,
            a.mean,
            a.ci_low,
            a.ci_high,
            a.n,
            by_name[name].arrow if name in by_name else "",
            by_name[name].in_overall if name in by_name else False,
        )
        for name, a in sorted(
            results.aggregates.items(),
            key=lambda kv: (
                [c.name for c in columns].index(kv[0]) if kv[0] in by_name else len(columns),
                kv[0],
            ),
        )
    ]

    histograms: list[Histogram] = []
    for c in columns:
        vals = [r.scores.get(c.name) for r in rows]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        if not vals:
            continue
        label = "per-sample value (raw)" + ("" if c.higher_is_better else ", lower is better")
        src = histogram_png(vals, c.name, label)
        histograms.append(Histogram(c.name, len(vals), src))
    overall_vals = [r.overall for r in rows if r.overall is not None]
    if overall_vals:
        src = histogram_png(overall_vals, "per-sample mean of in-overall metrics", "mean (raw)")
        histograms.append(Histogram(OVERALL_COLUMN, len(overall_vals), src))

    dataset = dict(results.dataset)
    headline = {k: dataset.pop(k) for k in _DATASET_HEADLINE if k in dataset}
    details = [
        (m.name, json.dumps(m.details, indent=2, sort_keys=True, default=str))
        for m in results.metrics
        if m.details
    ]
    return ReportView(
        columns=columns,
        rows=rows,
        summary=summary,
        histograms=histograms,
        demo_notices=demo_notices(results),
        dataset_headline=headline,
        dataset_rest=dataset,
        image_labels=sample_view.image_labels,
        text_label=sample_view.text_label,
        group_key=sample_view.group_key,
        groups=sorted({r.group for r in rows if r.group is not None}),
        n_failed=sum(1 for s in results.samples if s.status == "failed"),
        n_missing_images=n_missing,
        settings_json=json.dumps(results.settings, indent=2, sort_keys=True, default=str),
        metric_details=details,
    )
