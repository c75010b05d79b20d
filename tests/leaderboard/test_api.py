"""Every submission rule, through the HTTP API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sqlalchemy import func, select

from leaderboard.db.models import Submission, Thumbnail, Token
from tests.leaderboard.conftest import auth, base_raw, make_app, new_token, publish, synthetic_raw

XSS = "<img src=x onerror=alert(1)>"


def submit(client, secret, payload, **kw):  # noqa: ANN001, ANN201
    return client.post("/api/submissions", content=json.dumps(payload), headers=auth(secret), **kw)


def count_rows(app) -> int:  # noqa: ANN001
    with app.state.sessions() as s:
        return s.scalar(select(func.count(Submission.id)))


def test_valid_submission_is_pending_until_published(app, client, token):
    r = submit(client, token, {"results": base_raw(), "name": "Janus demo", "params_b": 1.3})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["status"] == "pending"
    assert client.get("/tasks/unified").status_code == 404  # nothing published yet
    assert client.get(f"/models/{sid}").status_code == 404
    publish(app, sid)
    page = client.get("/tasks/unified")
    assert page.status_code == 200 and "Janus demo" in page.text
    rows = client.get("/api/tasks/unified/leaderboard").json()["rows"]
    assert [(row["id"], row["rank"], row["params_b"]) for row in rows] == [(sid, 1, 1.3)]
    assert rows[0]["overall"] == pytest.approx(base_raw()["overall"]["mean"])
    status = client.get(f"/api/submissions/{sid}", headers=auth(token)).json()
    assert status["status"] == "published"


def test_bare_results_json_is_accepted(client, token):
    r = submit(client, token, base_raw())
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_missing_or_unknown_token_is_401(app, client, header):
    headers = {} if header is None else {"Authorization": header}
    r = client.post("/api/submissions", content=json.dumps(base_raw()), headers=headers)
    assert r.status_code == 401
    assert r.json()["fix"] and r.headers["www-authenticate"] == "Bearer"
    assert count_rows(app) == 0


def test_revoked_token_is_401(app, client, token):
    with app.state.sessions() as s:
        s.scalar(select(Token)).revoked = True
        s.commit()
    assert submit(client, token, base_raw()).status_code == 401


def test_identity_comes_only_from_the_token(app, client, token):
    other = new_token(app, "bob")
    spoof = {"results": base_raw(), "submitter": "alice", "token_id": 1}
    r = submit(client, other, spoof)
    assert r.status_code == 422 and "submitter" in r.json()["error"]
    r = submit(client, other, {"results": base_raw()})
    with app.state.sessions() as s:
        row = s.get(Submission, r.json()["id"])
        bob = s.scalar(select(Token).where(Token.name == "bob"))
        assert row.token_id == bob.id
    # A submission is only visible to the token that made it.
    assert client.get(f"/api/submissions/{row.id}", headers=auth(token)).status_code == 404


def test_body_size_is_capped(db_url):
    from fastapi.testclient import TestClient

    app = make_app(db_url, max_body_bytes=10_000)  # the demo results.json is ~16 kB
    secret = new_token(app)
    with TestClient(app) as client:
        r = submit(client, secret, base_raw())
        assert r.status_code == 413 and "larger" in r.json()["error"]

        def chunks():  # no Content-Length: the cap is enforced while reading the stream
            body = json.dumps(base_raw()).encode()
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]

        r = client.post("/api/submissions", content=chunks(), headers=auth(secret))
        assert r.status_code == 413
        assert count_rows(app) == 0
    app.state.engine.dispose()


def test_rate_limit_is_per_token_and_wired_in(db_url):
    from fastapi.testclient import TestClient

    app = make_app(db_url, rate_limit=2, rate_window_s=3600)
    alice, bob = new_token(app, "alice"), new_token(app, "bob")
    with TestClient(app) as client:
        assert submit(client, alice, synthetic_raw(0)).status_code == 201
        assert submit(client, alice, {"nonsense": 1}).status_code == 422  # refusals count too
        r = submit(client, alice, synthetic_raw(1))
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert submit(client, bob, synthetic_raw(1)).status_code == 201
    assert count_rows(app) == 2
    app.state.engine.dispose()


@pytest.mark.parametrize(
    ("mutate", "status", "needle"),
    [
        (lambda d: d.update(schema_version="9.0"), 422, "schema version"),
        (lambda d: d.pop("samples"), 422, "samples"),
        (lambda d: d["benchmark"].update(name="chess"), 422, "Unknown benchmark"),
        (lambda d: d["benchmark"].update(version="0.1"), 422, "version"),
        (lambda d: d.update(samples=[]), 422, "no per-sample"),
        (lambda d: d["samples"].append(dict(d["samples"][0])), 422, "repeat"),
        (lambda d: d["aggregates"]["clip"].update(mean=d["aggregates"]["clip"]["mean"] + 0.5), 422, "clip"),
        (lambda d: d["aggregates"]["lpips"].update(ci_high=1.0), 422, "lpips"),
        (lambda d: d["overall"].update(mean=99.0), 422, "overall"),
        (lambda d: d["samples"][0]["scores"].update(clip=1.0), 422, "differ"),
        (lambda d: d["aggregates"]["clip"].update(mean=float("nan")), 422, "NaN"),
        (lambda d: d["model"].update(spec="a\x00b"), 422, "NUL"),
    ],
    ids=["schema-version", "missing-field", "unknown-benchmark", "wrong-version", "no-samples",
         "repeated-id", "tampered-aggregate", "tampered-ci", "tampered-overall", "tampered-sample", "nan", "nul"],
)
def test_invalid_or_tampered_results_are_refused(app, client, token, mutate, status, needle):
    raw = base_raw()
    mutate(raw)
    r = submit(client, token, {"results": raw})
    assert r.status_code == status, r.text
    body = r.json()
    assert needle.lower() in body["error"].lower() and body["fix"]
    assert count_rows(app) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"\xff\xfe not json", 400), (b"{", 400), (b"[]", 422), (b'"x"', 422), (b"{}", 422)],
)
def test_malformed_bodies(app, client, token, body, status):
    r = client.post("/api/submissions", content=body, headers=auth(token))
    assert r.status_code == status and r.json()["fix"]


@pytest.mark.parametrize("bad", [{"name": ""}, {"name": "a" * 201}, {"name": "a\x00b"}, {"params_b": -1},
                                 {"params_b": "7B"}, {"params_b": True}])
def test_envelope_fields_are_checked(client, token, bad):
    r = submit(client, token, {"results": base_raw(), **bad})
    assert r.status_code == 422 and r.json()["fix"]


def test_duplicates_are_stored_once_and_rejected_runs_can_come_back(app, client, token):
    first = submit(client, token, {"results": base_raw()})
    assert first.status_code == 201
    again = submit(client, token, {"results": base_raw(), "name": "same run, other name"})
    assert again.status_code == 409 and again.json()["existing_id"] == first.json()["id"]
    # Other settings are another run.
    other = base_raw()
    other["settings"]["encoder_batch_size"] = 4
    assert submit(client, token, {"results": other}).status_code == 201
    # The same settings on another data set are another run too.
    elsewhere = base_raw()
    elsewhere["dataset"]["content_sha256"] = "0" * 64
    assert submit(client, token, {"results": elsewhere}).status_code == 201
    # A rejected submission keeps its reason and frees the dedup key.
    from leaderboard.submissions import moderate

    with app.state.sessions() as s:
        moderate(s, first.json()["id"], "reject", "captions look truncated")
    status = client.get(f"/api/submissions/{first.json()['id']}", headers=auth(token)).json()
    assert status == {**status, "status": "rejected", "reason": "captions look truncated"}
    assert submit(client, token, {"results": base_raw()}).status_code == 201
    assert count_rows(app) == 4


def test_submitted_names_are_escaped_everywhere(app, client, token):
    r = submit(client, token, {"results": base_raw(), "name": XSS})
    publish(app, r.json()["id"])
    sid = r.json()["id"]
    other = submit(client, token, {"results": base_raw("composite"), "name": "=HYPERLINK(1)"}).json()["id"]
    publish(app, other)
    for url in ("/", "/tasks/unified", f"/models/{sid}", f"/compare?a={sid}&b={other}", "/tasks/unified/bars.svg"):
        text = client.get(url).text
        assert XSS not in text, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/tasks/unified").text
    page = client.get("/tasks/unified")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers scripts
    assert "default-src 'none'" in page.headers["content-security-policy"]
    csv_text = client.get("/tasks/unified/export.csv").text
    assert "'=HYPERLINK(1)" in csv_text  # a formula cell is defused for spreadsheets


def _png(color: str) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_thumbnails_are_reencoded_and_served_only_when_published(app, client, token):
    thumbs = [{"sample_id": "0", "kind": "reference", "data": _png("red")},
              {"sample_id": "0", "kind": "generated", "data": _png("blue")}]
    r = submit(client, token, {"results": base_raw(), "thumbnails": thumbs})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    url = f"/thumbnail?submission={sid}&sample=0&kind=reference"
    assert client.get(url).status_code == 404
    publish(app, sid)
    img = client.get(url)
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    from PIL import Image

    assert max(Image.open(io.BytesIO(img.content)).size) <= 160
    assert 'kind=generated' in client.get(f"/models/{sid}").text


@pytest.mark.parametrize("thumb", [
    {"sample_id": "0", "kind": "reference", "data": base64.b64encode(b"not an image").decode()},
    {"sample_id": "0", "kind": "reference", "data": "%%%"},
    {"sample_id": "nope", "kind": "reference", "data": ""},
    {"sample_id": "0", "kind": "<b>", "data": ""},
    {"sample_id": "0"},
])
def test_bad_thumbnails_are_refused(app, client, token, thumb):
    r = submit(client, token, {"results": base_raw(), "thumbnails": [thumb]})
    assert r.status_code == 422, r.text
    with app.state.sessions() as s:
        assert s.scalar(select(func.count(Thumbnail.id))) == 0
    assert count_rows(app) == 0


def test_stored_row_round_trips_through_the_schema(app, client, token):
    from unified_bench.results.recompute import mismatches
    from unified_bench.results.schema import parse_results

    r = submit(client, token, {"results": base_raw("composite")})
    with app.state.sessions() as s:
        row = s.get(Submission, r.json()["id"])
        results = parse_results(json.loads(row.results_json))
    assert mismatches(results) == [] and row.model_type == "composite"


def test_openapi_describes_the_api(client):
    spec = client.get("/api/openapi.json").json()
    assert "/api/submissions" in spec["paths"] and "/api/tasks/{task}/leaderboard" in spec["paths"]
    body = spec["paths"]["/api/submissions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["results"]
    assert "/tasks/{task}" not in spec["paths"]  # pages are not API


def test_model_page_shows_breakdown_provenance_samples_and_other_runs(app, client, token):
    first = submit(client, token, {"results": base_raw(), "name": "J"}).json()["id"]
    other = base_raw()
    other["settings"]["encoder_batch_size"] = 2  # another run of the same model
    second = submit(client, token, {"results": other, "name": "J again"}).json()["id"]
    publish(app, first)
    publish(app, second)
    page = client.get(f"/models/{first}").text
    for needle in ("clip", "lpips", "JanusForConditionalGeneration", "sha256:9688bd91", "seed 42", "unified-bench-demo/models/janus", "Other tasks",
                   f"/models/{second}"):
        assert needle in page, needle
    assert page.count("<tr><td>") >= 6  # one row per sample of the demo set
    assert client.get(f"/models/{first}/bars.svg").headers["content-type"].startswith("image/svg+xml")
    assert client.get(f"/models/{first}?page=zzz").status_code == 200


def test_error_pages_are_html_for_pages_and_json_for_the_api(app, client, token):
    page = client.get("/models/999")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "No published model with id 999" in page.text
    api = client.get("/api/models/999")
    assert api.status_code == 404 and api.json()["fix"]
    assert client.get(f"/compare?a=1&b={XSS}").status_code == 404
    assert XSS not in client.get(f"/tasks/{XSS}").text
