"""``write_report``: render a run directory's results.json into one self-contained HTML page.

Why Jinja2 with autoescaping: captions, errors and ids are model output or user input, and
everything interpolated into the page must be escaped by default rather than remembered at
each call site. The template ships as package data (``template.html``) next to this module.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from unified_bench.report.view import OVERALL_COLUMN, build_view
from unified_bench.results.schema import load_results

logger = logging.getLogger(__name__)

_TEMPLATE = "template.html"


def _fmt_score(value: float | None) -> str:
    """Per-sample score for display: 4 decimals for raw similarities, fewer for large values (PSNR)."""
    if value is None or not math.isfinite(value):
        return "\u2014"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _fmt_aggregate(value: float, reference: float | None = None) -> str:
    """Aggregates are mostly x100 similarities (2 decimals); small auxiliary ones (LPIPS) keep 4.

    ``reference`` (the mean) picks the precision, so a mean and its CI bounds read alike.
    """
    if not math.isfinite(value):
        return "\u2014"
    ref = value if reference is None or not math.isfinite(reference) else reference
    return f"{value:.2f}" if abs(ref) >= 1 else f"{value:.4f}"


def _sort_value(value: float | None) -> str:
    """Machine-readable value for the sort script; empty means 'no score' (sorted last)."""
    if value is None or not math.isfinite(value):
        return ""
    return repr(float(value))


def _fmt_duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d} ({seconds:.0f} s)"


def _environment():
    from unified_bench.errors import require

    jinja2 = require("jinja2")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("unified_bench.report", "."),
        autoescape=True,  # every {{ }} is HTML-escaped: captions are untrusted model output
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(score=_fmt_score, agg=_fmt_aggregate, sortval=_sort_value, duration=_fmt_duration)
    return env


def render_report(run_dir: Path) -> str:
    """The report's HTML for ``run_dir`` (validated results + the images it references)."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    view = build_view(results, run_dir)
    template = _environment().get_template(_TEMPLATE)
    return template.render(r=results, v=view, overall_column=OVERALL_COLUMN)


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Render ``run_dir/results.json`` to ``out`` (default ``run_dir/report.html``), atomically.

    Reads only the results file and the image files it names, so it can be re-run on any copy
    of a finished run directory. Raises ``SchemaError`` if results.json is missing, malformed or
    of another schema version.
    """
    from unified_bench.core.atomic import atomic_write_text

    run_dir = Path(run_dir)
    if run_dir.is_file() and run_dir.name == "results.json":
        run_dir = run_dir.parent
    html_text = render_report(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    atomic_write_text(out, html_text)
    logger.info("Wrote report %s (%.1f MB)", out, len(html_text) / 1e6)
    return out
