"""``unified-bench submit RUN_DIR --server URL --token TOKEN``: upload a finished run to a leaderboard.

Why validate here first: the server applies the same schema and recompute (``unified_bench.results``),
so a file that fails locally would fail there; checking first gives the same message without a
round trip. Only the standard library talks to the server (no torch, no extra dependency).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from unified_bench.errors import RunDirError, SchemaError, SpecError

TOKEN_ENV = "UNIFIED_BENCH_TOKEN"
#: Friendlier thumbnail kinds for known output keys; any other key naming an image file keeps its name.
KIND_NAMES = {"reference_path": "reference", "generated_image": "generated"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="upload a finished run's results.json to a leaderboard server")
    p.add_argument("run_dir", type=Path, help="a run directory that finished (holds results.json)")
    p.add_argument("--server", required=True, help="leaderboard URL, e.g. https://leaderboard.example.org")
    p.add_argument("--token", default=None, help=f"API token (default: ${TOKEN_ENV})")
    p.add_argument("--name", default=None, help="display name on the leaderboard (default: the model spec)")
    p.add_argument("--params-b", type=float, default=None, help="model size in billions of parameters")
    p.add_argument("--thumbnails", action="store_true", help="also upload the run's images (shown small)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds")
    p.set_defaults(handler=run)


def build_payload(run_dir: Path, name: str | None, params_b: float | None, thumbnails: bool) -> dict[str, Any]:
    """The submission envelope; refuses a results file that fails the server's own checks."""
    from unified_bench.results.recompute import mismatches
    from unified_bench.results.schema import load_results

    path = run_dir / "results.json" if run_dir.is_dir() else run_dir
    results = load_results(path)
    bad = mismatches(results)
    if bad:
        raise SchemaError(f"{path}: stated aggregates differ from the recomputed ones ({', '.join(bad[:5])}).",
                          "Do not edit results.json; re-run `unified-bench evaluate` and submit its file.")
    payload: dict[str, Any] = {"results": json.loads(path.read_text(encoding="utf-8"))}
    if name is not None:
        payload["name"] = name
    if params_b is not None:
        payload["params_b"] = params_b
    if thumbnails:
        payload["thumbnails"] = collect_thumbnails(results.samples, path.parent)
    return payload


def _kind(key: str) -> str:
    kind = re.sub(r"[^a-z0-9_]", "_", KIND_NAMES.get(key, key).lower()).strip("_")[:40]
    return kind if kind[:1].isalpha() else f"image_{kind}"


def collect_thumbnails(samples: list, run_dir: Path) -> list[dict[str, str]]:
    """Every image file a sample's outputs name (a path, or a list of paths, e.g. GenEval's several images
    per prompt), read only from inside the run directory."""
    root = run_dir.resolve()
    out = []
    for s in samples:
        for key, value in s.outputs.items():
            paths = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            for i, rel in enumerate(paths):
                if not isinstance(rel, str) or not rel.lower().endswith(IMAGE_SUFFIXES):
                    continue
                file = (root / rel).resolve()
                if root in file.parents and file.is_file():  # never read outside the run directory
                    kind = _kind(key) if len(paths) == 1 else f"{_kind(key)}_{i}"
                    out.append({"sample_id": s.id, "kind": kind,
                                "data": base64.b64encode(file.read_bytes()).decode("ascii")})
    return out


def post(server: str, token: str, payload: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
    """POST the envelope; (HTTP status, decoded JSON body). Network failures become a ``RunDirError``."""
    url = server.rstrip("/") + "/api/submissions"
    if not url.startswith(("http://", "https://")):
        raise SpecError(f"--server {server!r} is not an http(s) URL.", "Pass e.g. --server https://host.")
    data = json.dumps(payload).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except json.JSONDecodeError:
            body = {"error": f"HTTP {exc.code}"}
        return exc.code, body
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RunDirError(f"Cannot reach {url} ({exc}).", "Check --server and your network.") from exc


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise SpecError("No API token.", f"Pass --token TOKEN or set ${TOKEN_ENV} (ask the site operator).")
    payload = build_payload(args.run_dir, args.name, args.params_b, args.thumbnails)
    status, body = post(args.server, token, payload, args.timeout)
    if status in (200, 201):
        print(f"submitted: id {body.get('id')} is {body.get('status')} (a moderator publishes it)")
        return 0
    if status == 409:
        print(f"already submitted: id {body.get('existing_id')}")
        return 0
    raise SpecError(f"The server refused the submission (HTTP {status}): {body.get('error', body)}",
                    str(body.get("fix") or "See the server's message."))
