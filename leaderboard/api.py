"""The JSON API: submissions (token-authenticated, size-capped, rate-limited) and the tables.

Identity comes only from the ``Authorization: Bearer`` token; nothing in the body names a submitter.
The OpenAPI description is served at ``/api/openapi.json``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leaderboard.app import get_session
from leaderboard.db.models import Submission, Token
from leaderboard.submissions import Refusal, accept
from leaderboard.table import View, build_table, table_records
from leaderboard.tokens import authenticate

router = APIRouter(prefix="/api", tags=["api"])

ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["results"],
    "additionalProperties": False,
    "properties": {
        "results": {"type": "object", "description": "results.json (schema 2.0) exactly as unified-bench wrote it"},
        "name": {"type": "string", "maxLength": 200, "description": "display name (default: the model spec)"},
        "params_b": {"type": "number", "description": "model size in billions of parameters"},
        "thumbnails": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sample_id", "kind", "data"],
                "properties": {"sample_id": {"type": "string"}, "kind": {"type": "string"},
                               "data": {"type": "string", "format": "byte"}},
            },
        },
    },
}


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def refusal_response(ref: Refusal, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ref.body(), status_code=ref.status, headers=headers)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def _authenticate(request: Request) -> Token | None:
    with request.app.state.sessions() as session:
        return authenticate(session, _bearer(request))


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"The body ({declared} bytes) is larger than this site accepts ({limit}).",
                      "Submit without thumbnails, or ask the operator to raise the limit.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"The body is larger than this site accepts ({limit} bytes).",
                          "Submit without thumbnails, or ask the operator to raise the limit.")
        chunks.append(chunk)
    return b"".join(chunks)


def _store(request: Request, token: Token, body: bytes) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        row = accept(session, token, body, request.app.state.settings)
        return {"id": row.id, "status": row.status, "benchmark": row.benchmark, "name": row.display_name,
                "overall": row.overall_mean}


@router.post(
    "/submissions",
    status_code=201,
    summary="Submit a results.json",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA}}},
                   "security": [{"bearer": []}]},
    responses={400: {"description": "not JSON"}, 401: {"description": "missing or unknown token"},
               409: {"description": "the same run was already submitted"}, 413: {"description": "too large"},
               422: {"description": "invalid, wrong version, or aggregates that do not recompute"},
               429: {"description": "rate limit; see Retry-After"}},
)
async def submit(request: Request) -> JSONResponse:
    """Validate, recompute and store a submission as *pending* (a moderator publishes or rejects it)."""
    token = await run_in_threadpool(_authenticate, request)
    if token is None:
        return JSONResponse({"error": "Missing or unknown API token.",
                             "fix": "Send 'Authorization: Bearer <token>' with a token from the site operator."},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    wait = request.app.state.limiter.check(token.id)
    if wait is not None:
        return JSONResponse({"error": "Too many submissions with this token.",
                             "fix": f"Wait {math.ceil(wait)} s and submit again."},
                            status_code=429, headers={"Retry-After": str(math.ceil(wait))})
    try:
        body = await _read_capped(request, request.app.state.settings.max_body_bytes)
        out = await run_in_threadpool(_store, request, token, body)
    except Refusal as ref:
        return refusal_response(ref)
    return JSONResponse(clean(out), status_code=201)


@router.get("/submissions/{submission_id}", summary="Status of one of your submissions")
def submission_status(submission_id: int, request: Request, session: Session = Depends(get_session)) -> Any:
    token = authenticate(session, _bearer(request))
    row = session.get(Submission, submission_id)
    if token is None or row is None or row.token_id != token.id:
        raise HTTPException(404, "No such submission for this token.")
    return {"id": row.id, "status": row.status, "reason": row.reason, "benchmark": row.benchmark,
            "name": row.display_name}


@router.get("/tasks", summary="Tasks with published submissions")
def tasks(session: Session = Depends(get_session)) -> Any:
    stmt = (select(Submission.benchmark, func.count(Submission.id))
            .where(Submission.status == "published").group_by(Submission.benchmark))
    return [{"task": t, "published": n} for t, n in session.execute(stmt)]


@router.get("/tasks/{task}/leaderboard", summary="The ranked table (same query parameters as the page)")
def leaderboard(task: str, request: Request, session: Session = Depends(get_session)) -> Any:
    table = build_table(session, View.from_params(task, request.query_params))
    return clean({"task": task, "view": table.view.query(), "metrics": table.metrics, "columns": table.shown,
                  "rank_rule": "rank = 1 + number of models whose 95% CI lies entirely above this model's",
                  "rows": table_records(table)})


@router.get("/models/{submission_id}", summary="One published submission's full results.json")
def model(submission_id: int, session: Session = Depends(get_session)) -> Any:
    row = session.get(Submission, submission_id)
    if row is None or row.status != "published":
        raise HTTPException(404, "No published submission with this id.")
    return clean({"id": row.id, "name": row.display_name, "params_b": row.params_b, "type": row.model_type,
                  "results": json.loads(row.results_json)})
