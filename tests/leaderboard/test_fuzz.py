"""Property-based fuzzing of the submission endpoint: never a 5xx, never an invalid stored row.

Two generators: arbitrary JSON bodies, and a valid results.json with one random path replaced by a
random JSON value (the dangerous case: almost valid). Every stored row must re-parse with the schema
and recompute to its stated aggregates.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.leaderboard.conftest import auth, base_raw, make_app, new_token, postgres_url, reset_postgres

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += paths(v, (*prefix, i))
    return out


BASE = base_raw()
PATHS = [p for p in paths(BASE) if p]


def replace_at(doc: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    doc[head] = replace_at(doc[head], rest, new)
    return doc


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_client(request, tmp_path_factory):  # noqa: ANN201
    from fastapi.testclient import TestClient

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'lb.db'}"
    else:
        url = postgres_url()
        reset_postgres(url)
    app = make_app(url, max_body_bytes=200_000)
    secret = new_token(app)
    with TestClient(app) as client:
        yield app, client, secret
    check_stored_rows(app)
    app.state.engine.dispose()


def check_stored_rows(app) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from leaderboard.db.models import Submission
    from unified_bench.results.recompute import mismatches
    from unified_bench.results.schema import parse_results

    checked = getattr(app.state, "fuzz_checked", 0)  # rows are never updated here: check new ones only
    with app.state.sessions() as s:
        for row in s.scalars(select(Submission).where(Submission.id > checked).order_by(Submission.id)):
            app.state.fuzz_checked = row.id
            results = parse_results(json.loads(row.results_json))
            assert mismatches(results) == [], row.id
            assert row.n_samples == len(results.samples) and row.status == "pending"


def post(client, secret, body: bytes) -> int:  # noqa: ANN001
    r = client.post("/api/submissions", content=body, headers=auth(secret))
    assert r.status_code < 500, r.text
    assert r.status_code in (201, 400, 409, 413, 422), r.status_code
    if r.status_code != 201:
        assert r.json()["error"] and "fix" in r.json()
    return r.status_code


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(body=JSON)
def test_arbitrary_json_bodies(fuzz_client, body):
    app, client, secret = fuzz_client
    post(client, secret, json.dumps(body).encode())
    post(client, secret, json.dumps({"results": body}).encode())


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_one_field_of_a_valid_file_replaced(fuzz_client, path, value):
    app, client, secret = fuzz_client
    doc = replace_at(base_raw(), path, value)
    post(client, secret, json.dumps({"results": doc}).encode())
    check_stored_rows(app)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(fuzz_client, data):
    _, client, secret = fuzz_client
    post(client, secret, data)
