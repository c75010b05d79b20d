"""The ranking table: view state from the URL, published rows from the database, filter, rank, sort.

Why all state in the query string: every view is a permalink, and the server renders it without
JavaScript. Ranks are computed over the rows that pass the *filters* (a "standard only" view ranks
standard runs among themselves); the free-text search only hides rows, it never changes a rank.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from leaderboard.db.models import Submission
from leaderboard.ranking import Interval, rank_bands

FIXED_SORTS = ("rank", "name", "overall", "params", "type", "version", "submitted")
MODEL_TYPES = ("unified", "composite", "none")


@dataclass(frozen=True)
class View:
    """One view of a task's table; ``query()`` writes it back as a permalink."""

    task: str
    sort: str = "rank"
    desc: bool = False
    q: str = ""
    type: str = ""
    min_params: float | None = None
    max_params: float | None = None
    version: str = ""
    standard: bool = False
    cols: tuple[str, ...] | None = None  # None = every metric

    @classmethod
    def from_params(cls, task: str, params: Any) -> View:
        """Parse query parameters; anything unparseable falls back to the default (never an error page)."""
        def num(key: str) -> float | None:
            try:
                v = float(params.get(key, ""))
            except ValueError:
                return None
            return v if math.isfinite(v) else None

        # ``cols=a,b`` (permalinks) or repeated ``col=a&col=b`` (the column checkboxes of the form).
        picked = params.getlist("col") if hasattr(params, "getlist") else []
        cols_raw = params.get("cols")
        if picked:
            cols: tuple[str, ...] | None = tuple(picked)[:100]
        else:
            cols = None if cols_raw is None else tuple(c for c in cols_raw.split(",") if c)[:100]
        typ = params.get("type", "")
        return cls(
            task=task,
            sort=params.get("sort", "rank")[:100] or "rank",
            desc=params.get("dir", "") == "desc",
            q=params.get("q", "")[:200],
            type=typ if typ in MODEL_TYPES else "",
            min_params=num("min_params"),
            max_params=num("max_params"),
            version=params.get("version", "")[:50],
            standard=params.get("standard", "") in ("1", "true", "on"),
            cols=cols,
        )

    def query(self, **changes: Any) -> str:
        v = replace(self, **changes)
        items: list[tuple[str, str]] = []
        if v.sort != "rank":
            items.append(("sort", v.sort))
        if v.desc:
            items.append(("dir", "desc"))
        for key in ("q", "type", "version"):
            if getattr(v, key):
                items.append((key, getattr(v, key)))
        for key in ("min_params", "max_params"):
            if getattr(v, key) is not None:
                items.append((key, f"{getattr(v, key):g}"))
        if v.standard:
            items.append(("standard", "1"))
        if v.cols is not None:
            items.append(("cols", ",".join(v.cols)))
        return urlencode(items)


@dataclass
class Row:
    id: int
    name: str
    model_type: str
    params_b: float | None
    version: str
    standard: bool
    overall: Interval | None
    aggregates: dict[str, dict[str, Any]]
    submitted: datetime
    rank: int | None = None


@dataclass
class Table:
    view: View
    rows: list[Row]
    metrics: list[dict[str, Any]]  # every metric of the task: name, higher_is_better, ...
    shown: list[str]  # metric columns shown
    versions: list[str]
    total: int  # published rows before filters
    has_overall: bool = field(default=False)


def load_rows(session: Session, task: str) -> tuple[list[Row], list[dict[str, Any]]]:
    """Published rows of ``task`` and the union of their metric declarations (first seen first)."""
    stmt = select(
        Submission.id, Submission.display_name, Submission.model_type, Submission.params_b,
        Submission.benchmark_version, Submission.standard, Submission.overall_mean, Submission.overall_low,
        Submission.overall_high, Submission.summary_json, Submission.created_at,
    ).where(Submission.benchmark == task, Submission.status == "published")
    rows, metrics, seen = [], [], set()
    for r in session.execute(stmt):
        summ = json.loads(r.summary_json)
        for m in summ["metrics"]:
            if m["name"] not in seen:
                seen.add(m["name"])
                metrics.append(m)
        overall = None if r.overall_mean is None else Interval(r.overall_mean, r.overall_low, r.overall_high)
        rows.append(Row(r.id, r.display_name, r.model_type, r.params_b, r.benchmark_version, r.standard,
                        overall, summ["aggregates"], r.created_at))
    return rows, metrics


def _passes(row: Row, v: View) -> bool:
    if v.type and row.model_type != v.type:
        return False
    if v.version and row.version != v.version:
        return False
    if v.standard and not row.standard:
        return False
    if v.min_params is not None and (row.params_b is None or row.params_b < v.min_params):
        return False
    return not (v.max_params is not None and (row.params_b is None or row.params_b > v.max_params))


def _sort_key(row: Row, v: View) -> tuple:
    """Missing values sort last in both directions (the flag comes first and is not reversed)."""
    s = v.sort
    if s == "name":
        val: Any = row.name.casefold()
    elif s in ("rank", "overall"):
        # rank order = overall mean, best first (ties between bands broken by the mean).
        val = None if row.overall is None else (-row.overall.mean if s == "rank" else row.overall.mean)
    elif s == "params":
        val = row.params_b
    elif s == "type":
        val = row.model_type
    elif s == "version":
        val = row.version
    elif s == "submitted":
        val = row.submitted
    else:
        agg = row.aggregates.get(s)
        val = None if agg is None else agg["mean"]
    return (val is None, val)


def build_table(session: Session, view: View) -> Table:
    rows, metrics = load_rows(session, view.task)
    total = len(rows)
    versions = sorted({r.version for r in rows})
    names = [m["name"] for m in metrics]
    if view.sort not in FIXED_SORTS and view.sort not in names:
        view = replace(view, sort="rank")
    filtered = [r for r in rows if _passes(r, view)]
    for row, rank in zip(filtered, rank_bands([r.overall for r in filtered]), strict=True):
        row.rank = rank
    needle = view.q.casefold().strip()
    if needle:
        filtered = [r for r in filtered if needle in r.name.casefold()]
    present = [r for r in filtered if _sort_key(r, view)[0] is False]
    missing = [r for r in filtered if _sort_key(r, view)[0] is True]
    present.sort(key=lambda r: (_sort_key(r, view)[1], r.id), reverse=view.desc)
    missing.sort(key=lambda r: r.id)
    shown = names if view.cols is None else [c for c in view.cols if c in names]
    return Table(view, present + missing, metrics, shown, versions, total,
                 has_overall=any(r.overall is not None for r in rows))


CSV_FIXED = ["rank", "id", "name", "type", "params_b", "version", "standard", "overall", "overall_ci_low",
             "overall_ci_high"]


def table_records(table: Table) -> list[dict[str, Any]]:
    """The rows as flat records (CSV and JSON export; the same columns the page shows)."""
    out = []
    for r in table.rows:
        rec: dict[str, Any] = {
            "rank": r.rank, "id": r.id, "name": r.name, "type": r.model_type, "params_b": r.params_b,
            "version": r.version, "standard": r.standard,
            "overall": r.overall.mean if r.overall else None,
            "overall_ci_low": r.overall.low if r.overall else None,
            "overall_ci_high": r.overall.high if r.overall else None,
        }
        for name in table.shown:
            agg = r.aggregates.get(name)
            rec[name] = agg["mean"] if agg else None
            rec[f"{name}_ci_low"] = agg["ci_low"] if agg else None
            rec[f"{name}_ci_high"] = agg["ci_high"] if agg else None
        out.append(rec)
    return out
