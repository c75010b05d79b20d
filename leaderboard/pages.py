"""Server-rendered pages: task index, ranked table (+ CSV/JSON export and plots), model, compare.

Every page is rendered by an autoescaped Jinja2 template; no page carries a script. Ranking pages
and plots are cached per URL until the data changes (``PageCache``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leaderboard.app import data_version, get_session
from leaderboard.db.models import Submission, Thumbnail
from leaderboard.plots import Bar, bar_geometry, scatter_geometry
from leaderboard.table import View, build_table, table_records
from unified_bench.results.schema import Results

router = APIRouter(include_in_schema=False)
SAMPLES_PER_PAGE = 50


def _render(request: Request, template: str, **context: Any) -> str:
    env = request.app.state.env
    return env.get_template(template).render(banner=request.app.state.settings.banner, **context)


def _cached(request: Request, session: Session, media: str, build: Callable[[], bytes | str]) -> Response:
    key = (request.url.path, request.url.query, data_version(session))
    hit = request.app.state.cache.get(key)
    if hit is None:
        body = build()
        hit = (body.encode() if isinstance(body, str) else body, media)
        request.app.state.cache.put(key, hit)
    return Response(hit[0], media_type=hit[1])


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: Session = Depends(get_session)) -> Response:
    stmt = (select(Submission.benchmark, func.count(Submission.id))
            .where(Submission.status == "published").group_by(Submission.benchmark).order_by(Submission.benchmark))
    tasks = list(session.execute(stmt))
    return HTMLResponse(_render(request, "index.html", title="Leaderboard", tasks=tasks))


def _table_or_404(session: Session, task: str, request: Request):  # noqa: ANN202
    table = build_table(session, View.from_params(task, request.query_params))
    if table.total == 0:
        raise HTTPException(404, f"No published results for task '{task}'.")
    return table


@router.get("/tasks/{task}", response_class=HTMLResponse)
def task_page(task: str, request: Request, session: Session = Depends(get_session)) -> Response:
    def build() -> str:
        table = _table_or_404(session, task, request)
        return _render(request, "task.html", title=f"{task} leaderboard", table=table, view=table.view,
                       task=task)
    return _cached(request, session, "text/html; charset=utf-8", build)


@router.get("/tasks/{task}/export.csv")
def export_csv(task: str, request: Request, session: Session = Depends(get_session)) -> Response:
    table = _table_or_404(session, task, request)
    records = table_records(table)
    buf = io.StringIO()
    fields = list(records[0]) if records else ["rank", "id", "name"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for rec in records:
        # A cell starting with = + - @ is a formula in spreadsheets: prefix a quote (CSV injection).
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v) for k, v in rec.items()})
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{task}-leaderboard.csv"'})


@router.get("/tasks/{task}/export.json")
def export_json(task: str, request: Request, session: Session = Depends(get_session)) -> Response:
    from leaderboard.api import clean

    table = _table_or_404(session, task, request)
    body = json.dumps(clean({"task": task, "view": table.view.query(), "rows": table_records(table)}), default=str)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{task}-leaderboard.json"'})


@router.get("/tasks/{task}/bars.svg")
def task_bars(task: str, request: Request, session: Session = Depends(get_session)) -> Response:
    def build() -> str:
        table = _table_or_404(session, task, request)
        bars = [Bar(r.name, r.overall.mean, r.overall.low, r.overall.high, f"/models/{r.id}")
                for r in table.rows if r.overall is not None][:30]
        return _render(request, "bars.svg", g=bar_geometry(bars), title=f"{task}: overall (95% CI), top 30")
    return _cached(request, session, "image/svg+xml", build)


@router.get("/tasks/{task}/size.svg")
def task_size(task: str, request: Request, session: Session = Depends(get_session)) -> Response:
    def build() -> str:
        table = _table_or_404(session, task, request)
        pts = [(r.name, r.params_b, r.overall.mean, r.overall.low, r.overall.high)
               for r in table.rows if r.overall is not None and r.params_b]
        return _render(request, "scatter.svg", g=scatter_geometry(pts), title=f"{task}: overall vs. model size")
    return _cached(request, session, "image/svg+xml", build)


def _published(session: Session, submission_id: int) -> tuple[Submission, Results]:
    row = session.get(Submission, submission_id)
    if row is None or row.status != "published":
        raise HTTPException(404, f"No published model with id {submission_id}.")
    return row, Results.model_validate_json(row.results_json)


def _thumb_kinds(session: Session, submission_id: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    stmt = (select(Thumbnail.sample_id, Thumbnail.kind).where(Thumbnail.submission_id == submission_id)
            .order_by(Thumbnail.id))
    for sid, kind in session.execute(stmt):
        out.setdefault(sid, []).append(kind)
    return out


@router.get("/models/{submission_id}", response_class=HTMLResponse)
def model_page(submission_id: int, request: Request, session: Session = Depends(get_session)) -> Response:
    row, results = _published(session, submission_id)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * SAMPLES_PER_PAGE
    samples = results.samples[start:start + SAMPLES_PER_PAGE]
    n_pages = max(1, -(-len(results.samples) // SAMPLES_PER_PAGE))
    # The per-task breakdown: the same model's published runs of the other tasks.
    others = list(session.execute(
        select(Submission.id, Submission.benchmark, Submission.benchmark_version, Submission.overall_mean)
        .where(Submission.model_spec == row.model_spec, Submission.status == "published",
               Submission.id != row.id, Submission.model_spec != "")
        .order_by(Submission.benchmark)))
    return HTMLResponse(_render(
        request, "model.html", others=others, title=row.display_name, row=row, results=results, samples=samples, page=page,
        n_pages=n_pages, thumbs=_thumb_kinds(session, submission_id), metric_names=[m.name for m in results.metrics],
    ))


@router.get("/models/{submission_id}/bars.svg")
def model_bars(submission_id: int, request: Request, session: Session = Depends(get_session)) -> Response:
    _, results = _published(session, submission_id)
    # One axis needs one scale: the overall score and the metrics it averages (all on the same scale);
    # a task without an overall plots every metric.
    in_overall = {m.name for m in results.metrics if m.in_overall} or set(results.aggregates)
    bars = [Bar(name, a.mean, a.ci_low, a.ci_high) for name, a in results.aggregates.items() if name in in_overall]
    if results.overall is not None:
        bars.insert(0, Bar("overall", results.overall.mean, results.overall.ci_low, results.overall.ci_high))
    body = _render(request, "bars.svg", g=bar_geometry(bars), title="overall and its metrics (95% CI)")
    return Response(body, media_type="image/svg+xml")


@router.get("/thumbnail")
def thumbnail(submission: int, sample: str, kind: str, session: Session = Depends(get_session)) -> Response:
    stmt = (select(Thumbnail.png).join(Submission, Submission.id == Thumbnail.submission_id)
            .where(Thumbnail.submission_id == submission, Thumbnail.sample_id == sample, Thumbnail.kind == kind,
                   Submission.status == "published"))
    png = session.scalar(stmt)
    if png is None:
        raise HTTPException(404, "No such thumbnail.")
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, session: Session = Depends(get_session)) -> Response:
    try:
        a_id, b_id = int(request.query_params.get("a", "")), int(request.query_params.get("b", ""))
    except ValueError as exc:
        raise HTTPException(404, "Compare needs two model ids: /compare?a=ID&b=ID.") from exc
    a_row, a = _published(session, a_id)
    b_row, b = _published(session, b_id)
    if a.benchmark.name != b.benchmark.name:
        raise HTTPException(400, f"#{a_id} is a {a.benchmark.name} run and #{b_id} a {b.benchmark.name} run; "
                            "compare two runs of the same task.")
    metrics = [m for m in a.metrics if m.name in {x.name for x in b.metrics}]
    b_samples = {s.id: s for s in b.samples}
    diffs = []
    for s in a.samples:
        other = b_samples.get(s.id)
        if other is None:
            continue
        delta = {}
        for m in metrics:
            x, y = s.scores.get(m.name), other.scores.get(m.name)
            delta[m.name] = None if x is None or y is None else (x - y) * m.scale
        diffs.append((s, other, delta))
    sort_metric = request.query_params.get("by", metrics[0].name if metrics else "")
    if sort_metric in {m.name for m in metrics}:
        diffs.sort(key=lambda d: -abs(d[2][sort_metric]) if d[2][sort_metric] is not None else 0.0)
    return HTMLResponse(_render(
        request, "compare.html", title=f"{a_row.display_name} vs {b_row.display_name}", a_row=a_row, b_row=b_row,
        a=a, b=b, metrics=metrics, diffs=diffs[:200], n_common=len(diffs), by=sort_metric,
    ))
