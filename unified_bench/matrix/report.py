"""The matrix's heat-map (matplotlib PNG) and a self-contained HTML page embedding it.

Why from ``MatrixResults`` only: like the run report, presentation reads results and never models,
so the page can be rebuilt from matrix.json.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from unified_bench.core.atomic import atomic_write_bytes, atomic_write_text
from unified_bench.matrix.schema import MatrixResults


def heatmap_png(results: MatrixResults) -> bytes:
    """Captioners as rows, generators as columns, the metric in each cell (blank: failed pair)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import numpy as np
    from matplotlib.figure import Figure

    grid = np.full((len(results.captioners), len(results.generators)), np.nan)
    for i, c in enumerate(results.captioners):
        for j, g in enumerate(results.generators):
            cell = results.cell(c, g)
            if cell is not None and cell.score is not None:
                grid[i, j] = cell.score
    fig = Figure(figsize=(1.6 + 1.3 * len(results.generators), 1.2 + 0.7 * len(results.captioners)))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis" if results.higher_is_better else "viridis_r")
    ax.set_xticks(range(len(results.generators)), results.generators, rotation=30, ha="right")
    ax.set_yticks(range(len(results.captioners)), results.captioners)
    ax.set_xlabel("generator")
    ax.set_ylabel("captioner")
    ax.set_title(f"{results.task}: {results.metric}")
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            value = grid[i, j]
            text = "failed" if np.isnan(value) else f"{value:.2f}"
            diagonal = results.captioners[i] == results.generators[j]
            ax.text(j, i, text, ha="center", va="center", fontsize=9, fontweight="bold" if diagonal else "normal",
                    color="black" if np.isnan(value) or value > middle else "white")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def render_matrix_html(results: MatrixResults, png: bytes) -> str:
    e = html.escape
    rows = []
    for c in results.captioners:
        tds = []
        for g in results.generators:
            cell = results.cell(c, g)
            if cell is None:
                tds.append("<td></td>")
                continue
            label = f"{cell.score:.2f}" if cell.score is not None else f"failed: {e(cell.error or '')}"
            ci = f" <small>({cell.ci_low:.2f}..{cell.ci_high:.2f})</small>" if cell.ci_low is not None else ""
            style = ' style="font-weight:bold"' if c == g else ""
            tds.append(f'<td{style}><a href="{e(cell.run_dir)}/report.html">{label}</a>{ci}</td>')
        rows.append(f"<tr><th>{e(c)}</th>{''.join(tds)}</tr>")
    derived = "".join(
        f"<tr><td>{e(d.model)}</td><td>{'n/a' if d.own_loop is None else f'{d.own_loop:.2f}'}</td>"
        f"<td>{_fmt(d.understanding_serves_generation)} (vs {e(d.best_other_captioner or '-')})</td>"
        f"<td>{_fmt(d.generation_serves_understanding)} (vs {e(d.best_other_generator or '-')})</td></tr>"
        for d in results.derived
    )
    stages = "".join(
        f"<tr><td>{e(name)}</td><td>{s.computed}</td><td>{s.shared}</td><td>{s.cached}</td></tr>"
        for name, s in results.stages.items()
    )
    specs = "".join(f"<li><b>{e(k)}</b>: <code>{e(v)}</code></li>" for k, v in results.specs.items())
    img = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Unification matrix: {e(results.task)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head><body>
<h1>Captioner x generator matrix ({e(results.task)}, {e(results.metric)})</h1>
<p>Data: {e(results.data)}{f", first {results.limit} samples" if results.limit else ""}.
Rows caption, columns generate; the diagonal (bold) is each unified model's own loop.
Each cell links to its pair's report.</p>
<img alt="heat-map" src="data:image/png;base64,{img}">
<table><tr><th>captioner \\ generator</th>{"".join(f"<th>{e(g)}</th>" for g in results.generators)}</tr>
{"".join(rows)}</table>
<h2>Does a unified model's understanding serve its own generation?</h2>
<p>Own loop minus the best cross pairing (positive: the own loop is better).
<em>understanding serves generation</em>: own captions vs the best other captioner, with its own generator;
<em>generation serves understanding</em>: own generator vs the best other generator, with its own captions.</p>
<table><tr><th>model</th><th>own loop</th><th>understanding serves generation</th>
<th>generation serves understanding</th></tr>{derived}</table>
<h2>Work done (all pairs)</h2>
<table><tr><th>stage</th><th>computed</th><th>from the shared cache</th><th>already in the pair</th></tr>
{stages}</table>
<h2>Models</h2><ul>{specs}</ul>
</body></html>
"""


def write_matrix_report(results: MatrixResults, out: Path) -> Path:
    """Write ``matrix.png`` and ``matrix.html`` into ``out``; return the page's path."""
    png = heatmap_png(results)
    atomic_write_bytes(out / "matrix.png", png, durable=False)
    page = out / "matrix.html"
    atomic_write_text(page, render_matrix_html(results, png))
    return page
