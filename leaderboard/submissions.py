"""Accepting a submission: every rule between an uploaded body and a stored pending row.

Order matters: the cheap checks (JSON, envelope, schema, benchmark and version) run before the
recompute, and the dedup is enforced by a UNIQUE index so concurrent duplicates store exactly once.
Every refusal is a ``Refusal`` with an HTTP status, the problem and the fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leaderboard.db.models import Submission, Thumbnail, Token, utcnow
from leaderboard.settings import Settings
from unified_bench.core.hashing import canonical_json
from unified_bench.errors import UnifiedBenchError
from unified_bench.results.schema import Aggregate, Results, parse_results

ENVELOPE_KEYS = {"results", "name", "params_b", "thumbnails"}
THUMBNAIL_SIDE = 160
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Refusal(Exception):
    """A submission the server will not store: HTTP status, problem, fix (and the duplicate's id)."""

    status: int
    problem: str
    fix: str
    existing_id: int | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.problem, "fix": self.fix}
        if self.existing_id is not None:
            out["existing_id"] = self.existing_id
        return out


def canonical_hash(value: Any) -> str:
    """sha256 of the project's one canonical JSON form (the CLI's cache keys use the same)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def dedup_fields(results: Results) -> dict[str, Any]:
    """What makes two submissions the same run: model, revision, task, task version, settings, and the
    data set's identity (the same settings on another image set are another run, not a duplicate)."""
    model = results.model
    return {
        "dataset": [results.dataset.get("name"), results.dataset.get("content_sha256")],
        "model": model.spec if model else None,
        "revision": [[c.role, c.source, c.revision] for c in model.components] if model else None,
        "task": results.benchmark.name,
        "task_version": results.benchmark.version,
        "settings": results.settings,
    }


def model_type(results: Results) -> str:
    """"unified" (one model does both directions), "composite" (several components) or "none"."""
    if results.model is None:
        return "none"
    return "unified" if len(results.model.components) <= 1 else "composite"


def _finite(agg: Aggregate | None) -> bool:
    return agg is None or all(math.isfinite(x) for x in (agg.mean, agg.ci_low, agg.ci_high))


def _agg_dict(agg: Aggregate) -> dict[str, Any]:
    return {"mean": agg.mean, "ci_low": agg.ci_low, "ci_high": agg.ci_high, "n": agg.n}


def summary(results: Results) -> dict[str, Any]:
    """The small part of a results file the ranking page reads (kept in its own column)."""
    return {
        "metrics": [
            {"name": m.name, "higher_is_better": m.higher_is_better, "in_overall": m.in_overall,
             "lower_bound": m.lower_bound, "upper_bound": m.upper_bound}
            for m in results.metrics
        ],
        "aggregates": {k: _agg_dict(v) for k, v in results.aggregates.items()},
        "coverage": {"n_samples": results.coverage.n_samples, "n_scored": results.coverage.n_scored},
    }


def decode_body(body: bytes) -> dict[str, Any]:
    """The envelope ``{"results": ..., "name"?, "params_b"?, "thumbnails"?}`` (a bare results.json is
    accepted too, as if it were ``{"results": ...}``)."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Refusal(400, f"The body is not UTF-8 JSON ({exc}).",
                      "Send results.json, or use `unified-bench submit RUN_DIR`.") from exc
    if isinstance(raw, dict) and "results" not in raw and "schema_version" in raw:
        raw = {"results": raw}
    if not isinstance(raw, dict) or "results" not in raw:
        raise Refusal(422, "The body is not a submission object with a 'results' key.",
                      'Send {"results": <results.json>, "name": ..., "params_b": ...}.')
    extra = sorted(set(raw) - ENVELOPE_KEYS)
    if extra:
        raise Refusal(422, f"Unknown submission field(s): {', '.join(map(str, extra))[:200]}.",
                      f"Use only {', '.join(sorted(ENVELOPE_KEYS))}.")
    return raw


def validate_results(raw: Any, settings: Settings) -> Results:
    """Schema, benchmark and version, sample ids, finite aggregates, then the recompute."""
    from unified_bench.results.recompute import mismatches
    from unified_bench.tasks import TASKS

    try:
        results = parse_results(raw, origin="results")
    except UnifiedBenchError as exc:
        raise Refusal(422, exc.problem, exc.fix or "Re-run the evaluation.") from exc
    name, version = results.benchmark.name, results.benchmark.version
    if name not in TASKS:
        raise Refusal(422, f"Unknown benchmark {name[:100]!r}.", f"This site ranks: {', '.join(TASKS.names())}.")
    try:
        task_cls = TASKS.get(name)
    except UnifiedBenchError as exc:
        raise Refusal(422, f"Benchmark {name!r} cannot be loaded on this server ({exc.problem}).",
                      "Ask the site operator.") from exc
    if version != task_cls.version:
        raise Refusal(422, f"Benchmark {name!r} version {version[:50]!r} is not the version this site ranks "
                      f"({task_cls.version}).",
                      "Re-run the evaluation with the unified-bench release the site names.")
    if len(results.samples) > settings.max_samples:
        raise Refusal(413, f"{len(results.samples)} samples is more than this site accepts "
                      f"({settings.max_samples}).", "Submit the standard data set only.")
    if not results.samples:
        raise Refusal(422, "The results have no per-sample records.",
                      "Submit results.json exactly as unified-bench wrote it (with its samples).")
    ids = [s.id for s in results.samples]
    if len(set(ids)) != len(ids):
        raise Refusal(422, "Sample ids repeat.", "Submit results.json exactly as unified-bench wrote it.")
    # PostgreSQL TEXT cannot hold NUL; a stored string must be storable on every supported database.
    model_strings = [results.model.spec, *(x for c in results.model.components
                                            for x in (c.role, c.source, c.revision or "", c.architecture))] \
        if results.model else []
    if any("\x00" in x for x in model_strings):
        raise Refusal(422, "The model spec or a component contains a NUL character.",
                      "Submit results.json exactly as unified-bench wrote it.")
    stated = [results.overall, *results.aggregates.values(), *(a for g in results.groups.values()
                                                                for a in g.values())]
    if not all(_finite(a) for a in stated):
        raise Refusal(422, "An aggregate is NaN or infinite.", "Re-run the evaluation; scores must be finite.")
    try:
        bad = mismatches(results)
    except UnifiedBenchError as exc:
        raise Refusal(422, f"The aggregates cannot be recomputed: {exc.problem}", exc.fix or "") from exc
    except (ValueError, TypeError, ArithmeticError, KeyError, IndexError) as exc:
        # A malformed-but-schema-valid file can trip the task's math; that is bad input, not a crash.
        raise Refusal(422, f"The aggregates cannot be recomputed from the samples ({type(exc).__name__}).",
                      "Submit results.json exactly as unified-bench wrote it.") from exc
    if bad:
        shown = ", ".join(bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise Refusal(422, f"Stated aggregates differ from the ones recomputed from the samples: {shown}.",
                      "Do not edit results.json; re-run `unified-bench evaluate` and submit its file.")
    return results


def _display_name(raw: Any, results: Results) -> str:
    if raw is None:
        if results.model is None:
            return "(outputs without a model)"
        return results.model.spec[-300:]
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 200 or _CONTROL.search(raw):
        raise Refusal(422, "'name' must be a non-empty string of at most 200 printable characters.",
                      "Pass --name with a short model name.")
    return raw.strip()


def _params(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or not 0 < raw < 1e5:
        raise Refusal(422, "'params_b' must be the model size in billions of parameters (0 < x < 100000).",
                      "Pass --params-b 7 for a 7B model, or leave it out.")
    return float(raw)


def thumbnails(raw: Any, sample_ids: set[str], settings: Settings) -> list[tuple[str, str, bytes]]:
    """Decode, check and re-encode submitted images as small PNGs: (sample_id, kind, png)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > settings.max_thumbnails:
        raise Refusal(422, f"'thumbnails' must be a list of at most {settings.max_thumbnails} images.",
                      "Leave out --thumbnails or submit fewer images.")
    from PIL import Image, UnidentifiedImageError

    out = []
    seen = set()
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and set(item) == {"sample_id", "kind", "data"}
                and isinstance(item["sample_id"], str) and isinstance(item["kind"], str)
                and isinstance(item["data"], str)):
            raise Refusal(422, f"thumbnails[{i}] is not {{sample_id, kind, data}} strings.",
                          "Use `unified-bench submit --thumbnails`.")
        sid, kind = item["sample_id"], item["kind"]
        if sid not in sample_ids or len(sid) > 300 or "\x00" in sid or not _KIND.match(kind) or (sid, kind) in seen:
            raise Refusal(422, f"thumbnails[{i}] names an unknown sample, a bad kind or a repeat.",
                          "Name a sample id of the results and a kind like 'reference' or 'generated'.")
        seen.add((sid, kind))
        if len(item["data"]) > settings.max_thumbnail_bytes * 4 // 3 + 4:
            raise Refusal(413, f"thumbnails[{i}] is larger than {settings.max_thumbnail_bytes} bytes.",
                          "Submit smaller images.")
        try:
            data = base64.b64decode(item["data"], validate=True)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in ("PNG", "JPEG", "WEBP") or img.width * img.height > 16_000_000:
                    raise Refusal(422, f"thumbnails[{i}] is not a PNG/JPEG/WEBP of at most 16 megapixels.",
                                  "Submit the PNG files of the run directory.")
                img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                buf = io.BytesIO()
                img.convert("RGB").save(buf, format="PNG")
        except (binascii.Error, UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise Refusal(422, f"thumbnails[{i}] is not a readable image ({type(exc).__name__}).",
                          "Submit the PNG files of the run directory.") from exc
        out.append((sid, kind, buf.getvalue()))
    return out


def accept(session: Session, token: Token, body: bytes, settings: Settings) -> Submission:
    """Validate ``body`` and store it as a pending submission of ``token``; raise ``Refusal`` otherwise."""
    raw = decode_body(body)
    results = validate_results(raw["results"], settings)
    name = _display_name(raw.get("name"), results)
    params_b = _params(raw.get("params_b"))
    thumbs = thumbnails(raw.get("thumbnails"), {s.id for s in results.samples}, settings)
    return insert(session, token, results, name, params_b, thumbs)


def insert(session: Session, token: Token, results: Results, name: str, params_b: float | None = None,
           thumbs: list[tuple[str, str, bytes]] | tuple = (), status: str = "pending") -> Submission:
    """Store validated ``results``; a duplicate run (same dedup key) raises a 409 ``Refusal``."""
    fields = dedup_fields(results)
    key = canonical_hash(fields)
    overall = results.overall
    now = utcnow()
    row = Submission(
        token_id=token.id, status=status, created_at=now, updated_at=now,
        benchmark=results.benchmark.name, benchmark_version=results.benchmark.version,
        display_name=name, model_spec=fields["model"] or "", revision=json.dumps(fields["revision"]),
        model_type=model_type(results), params_b=params_b, settings_hash=canonical_hash(results.settings),
        dedup_key=key, fingerprint=key, standard=results.standard,
        overall_mean=overall.mean if overall else None, overall_low=overall.ci_low if overall else None,
        overall_high=overall.ci_high if overall else None, n_samples=len(results.samples),
        summary_json=json.dumps(summary(results)), results_json=results.model_dump_json(),
    )
    session.add(row)
    try:
        session.flush()
        for sid, kind, png in thumbs:
            session.add(Thumbnail(submission_id=row.id, sample_id=sid, kind=kind, png=png))
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        existing = session.scalar(select(Submission.id).where(Submission.dedup_key == key))
        raise Refusal(409, "This run (same model, revision, task, task version and settings) was already "
                      "submitted.", "Nothing to do; see the existing submission.", existing_id=existing) from exc
    return row


def moderate(session: Session, submission_id: int, action: str, reason: str | None = None) -> Submission:
    """Publish or reject a pending (or published) submission; a rejection keeps its reason."""
    from unified_bench.errors import SpecError

    row = session.get(Submission, submission_id)
    if row is None:
        raise SpecError(f"No submission with id {submission_id}.", "List them with `unified-leaderboard moderate`.")
    if action == "publish":
        if row.status == "rejected":
            raise SpecError(f"Submission {submission_id} was rejected ({row.reason}).",
                            "Ask the submitter to submit again.")
        row.status, row.reason = "published", None
    elif action == "reject":
        if not reason:
            raise SpecError("A rejection needs a reason.", "Pass --reason '...'.")
        row.status, row.reason, row.dedup_key = "rejected", reason, None
    else:
        raise SpecError(f"Unknown moderation action {action!r}.", "Use publish or reject.")
    row.updated_at = utcnow()
    session.commit()
    return row
