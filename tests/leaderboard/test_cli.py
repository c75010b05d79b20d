"""``unified-leaderboard`` (tokens, moderation) and ``unified-bench submit`` against a live server."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from leaderboard.cli import main as lb_main
from leaderboard.db.models import Submission, Token
from leaderboard.demo import DEMO_DATA
from tests.leaderboard.conftest import LiveServer, make_app


def test_token_create_shows_the_secret_once_and_stores_its_hash(sqlite_url, capsys):
    assert lb_main(["token", "create", "alice", "--db", sqlite_url]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("ubl_") and len(secret) > 40
    app = make_app(sqlite_url)
    with app.state.sessions() as s:
        tok = s.scalar(select(Token))
        assert tok.name == "alice" and secret not in tok.token_hash
    assert lb_main(["token", "create", "alice", "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "fix:" in err


def test_moderate_needs_an_id_and_a_reason(sqlite_url, capsys):
    assert lb_main(["moderate", "publish", "--db", sqlite_url]) == 2
    assert "needs a submission id" in capsys.readouterr().err
    assert lb_main(["moderate", "publish", "99", "--db", sqlite_url]) == 2
    assert "No submission with id 99" in capsys.readouterr().err


def test_submit_a_run_then_moderate_then_it_is_on_the_site(sqlite_url, tmp_path, capsys):
    """The issue's 'done when': `unified-bench submit` of a demo run appears after moderation."""
    from unified_bench.cli.main import main as ub_main

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(DEMO_DATA / "janus.results.json", run_dir / "results.json")
    assert lb_main(["token", "create", "lab", "--db", sqlite_url]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    app = make_app(sqlite_url)
    with LiveServer(app) as server:
        argv = ["submit", str(run_dir), "--server", server.url, "--token", secret, "--name", "Lab Janus",
                "--params-b", "1.3"]
        assert ub_main(argv) == 0
        assert "is pending" in capsys.readouterr().out
        assert ub_main(argv) == 0  # a second upload is a duplicate, reported, not an error
        assert "already submitted" in capsys.readouterr().out
        assert lb_main(["moderate", "--db", sqlite_url]) == 0
        listing = capsys.readouterr().out
        assert "pending" in listing and "Lab Janus" in listing
        sid = int(listing.split()[0])
        assert lb_main(["moderate", "publish", str(sid), "--db", sqlite_url]) == 0
        capsys.readouterr()
        import urllib.request

        with urllib.request.urlopen(f"{server.url}/tasks/unified") as resp:
            assert "Lab Janus" in resp.read().decode()
        # A wrong token: one clear message, exit 2.
        assert ub_main(["submit", str(run_dir), "--server", server.url, "--token", "bad"]) == 2
        err = capsys.readouterr().err
        assert "HTTP 401" in err and "fix:" in err
    app.state.engine.dispose()


def test_submit_refuses_a_tampered_file_before_uploading(tmp_path, capsys):
    from unified_bench.cli.main import main as ub_main

    raw = json.loads((DEMO_DATA / "janus.results.json").read_text())
    raw["aggregates"]["clip"]["mean"] += 1
    (tmp_path / "results.json").write_text(json.dumps(raw))
    # The server URL is never contacted: the local recompute fails first.
    assert ub_main(["submit", str(tmp_path), "--server", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert "differ from the recomputed" in capsys.readouterr().err


def test_submit_uploads_thumbnails_from_inside_the_run_dir_only(tmp_path):
    from PIL import Image

    from unified_bench.cli.submit import build_payload

    raw = json.loads((DEMO_DATA / "janus.results.json").read_text())
    raw["samples"][1]["outputs"]["generated_image"] = "../../etc/passwd"
    (tmp_path / "results.json").write_text(json.dumps(raw))
    (tmp_path / "references").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "references" / "0.png")
    payload = build_payload(tmp_path, None, None, thumbnails=True)
    assert [(t["sample_id"], t["kind"]) for t in payload["thumbnails"]] == [("0", "reference")]


def test_moderate_reject_keeps_the_reason(sqlite_url, capsys):
    from leaderboard.demo import base_results
    from leaderboard.submissions import insert

    app = make_app(sqlite_url)
    with app.state.sessions() as s:
        s.add(Token(name="t", token_hash="0" * 64))
        s.commit()
        row = insert(s, s.scalar(select(Token)), base_results(), "x")
    assert lb_main(["moderate", "reject", str(row.id), "--db", sqlite_url]) == 2
    assert "needs a reason" in capsys.readouterr().err
    assert lb_main(["moderate", "reject", str(row.id), "--reason", "wrong data set", "--db", sqlite_url]) == 0
    assert lb_main(["moderate", "list", "--all", "--db", sqlite_url]) == 0
    assert "rejected" in capsys.readouterr().out
    with app.state.sessions() as s:
        assert s.get(Submission, row.id).reason == "wrong data set"
    with pytest.raises(SystemExit):
        lb_main(["moderate", "ban", "1"])


def test_thumbnails_are_found_under_any_output_key_including_lists(tmp_path):
    from PIL import Image

    from unified_bench.cli.submit import collect_thumbnails
    from unified_bench.results.schema import SampleRecord

    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png", "c.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / name)
    samples = [SampleRecord(id="p1", status="ok", outputs={"images": ["images/a.png", "images/b.png"],
                                                           "prompt": "a red cube", "Generated Image": "images/c.jpg",
                                                           "outside": "/etc/hostname.png"})]
    kinds = [t["kind"] for t in collect_thumbnails(samples, tmp_path)]
    assert kinds == ["images_0", "images_1", "generated_image"]


def test_token_list_and_revoke(sqlite_url, capsys):
    from fastapi.testclient import TestClient

    assert lb_main(["token", "create", "lab", "--db", sqlite_url]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert lb_main(["token", "revoke", "lab", "--db", sqlite_url]) == 0
    assert lb_main(["token", "list", "--db", sqlite_url]) == 0
    listing = capsys.readouterr().out
    assert "lab" in listing and "REVOKED" in listing and secret not in listing
    assert lb_main(["token", "revoke", "nobody", "--db", sqlite_url]) == 2
    app = make_app(sqlite_url)
    with TestClient(app) as client:
        r = client.post("/api/submissions", content=(DEMO_DATA / "janus.results.json").read_bytes(),
                        headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 401
    app.state.engine.dispose()
