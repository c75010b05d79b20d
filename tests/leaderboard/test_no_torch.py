"""The server installs and runs without torch: import, migrate, accept (with recompute), render."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith(("torch.", "torchvision")):
                raise ImportError("torch is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    from fastapi.testclient import TestClient
    from leaderboard.app import create_app
    from leaderboard.demo import DEMO_DATA
    from leaderboard.settings import Settings
    from leaderboard.submissions import moderate
    from leaderboard.tokens import create_token

    app = create_app(Settings(db_url="sqlite:///" + sys.argv[1]))
    with app.state.sessions() as s:
        secret = create_token(s, "t")
    client = TestClient(app)
    body = (DEMO_DATA / "janus.results.json").read_text()
    r = client.post("/api/submissions", content=body, headers={"Authorization": "Bearer " + secret})
    assert r.status_code == 201, r.text
    raw = json.loads(body); raw["aggregates"]["clip"]["mean"] += 1
    assert client.post("/api/submissions", content=json.dumps(raw),
                       headers={"Authorization": "Bearer " + secret}).status_code == 422
    with app.state.sessions() as s:
        moderate(s, r.json()["id"], "publish")
    assert client.get("/tasks/unified").status_code == 200
    assert client.get("/models/" + str(r.json()["id"])).status_code == 200
    assert "torch" not in sys.modules
    print("OK")
""")


def test_server_runs_with_torch_import_blocked(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "lb.db")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK")
