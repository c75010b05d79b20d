"""Benchmark: the ranking page with 1,000 models under 50 concurrent clients vs. a static file.

A SQLite database is seeded with 1,000 published models (the two demo runs + 998 synthetic ones,
each recomputed so the server would accept it). One uvicorn process serves the app and, mounted on
the same app, a static file with exactly the bytes of the ranking page. 50 client threads with
keep-alive connections then fetch each URL in turn; the script prints p50 and p99 latency of both
and the ratio. Goal: ranking-page p99 within 3x of the static file's p99. The page is rendered once per data change
(the first, uncached render time is printed too) and then served from the in-memory page cache.

    python benchmarks/bench_leaderboard.py [--models 1000] [--clients 50] [--requests 20]

``--requests`` is per client and per URL. Absolute times depend on the machine; the ratio is the result.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVER = """
import sys, uvicorn
from fastapi.staticfiles import StaticFiles
from leaderboard.app import create_app
from leaderboard.settings import Settings
app = create_app(Settings(db_url=sys.argv[1]))
app.mount("/bench-static", StaticFiles(directory=sys.argv[2]), name="bench-static")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning", backlog=2048)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {resp.status}")
    return body


def load(port: int, path: str, clients: int, per_client: int) -> list[float]:
    """Latencies (s) of ``clients`` x ``per_client`` GETs, all clients started together."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)
    errors: list[BaseException] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        try:
            fetch(conn, path)  # open the connection outside the timed loop
            start.wait()
            for _ in range(per_client):
                t0 = time.perf_counter()
                fetch(conn, path)
                mine.append(time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - reported after the join
            errors.append(exc)
        finally:
            conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    return latencies


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client and per URL")
    args = parser.parse_args(argv)

    from leaderboard.db.session import make_engine, migrate, session_factory
    from leaderboard.demo import seed_demo

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        engine = make_engine(db)
        migrate(engine)
        with session_factory(engine)() as session:
            n = seed_demo(session, n_models=max(0, args.models - 2))
        engine.dispose()
        print(f"seeded {n} models in {time.perf_counter() - t0:.1f} s")
        static = Path(tmp) / "static"
        static.mkdir()
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER, db, str(static), str(port)], cwd=root)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    t_cold = time.perf_counter()
                    page = fetch(conn, "/tasks/unified")
                    t_cold = time.perf_counter() - t_cold
                    conn.close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.2)
            (static / "page.html").write_bytes(page)
            print(f"ranking page: {len(page):,} bytes, {page.count(b'<tr data-id')} rows; static copy same size; "
                  f"first (uncached) render {t_cold * 1000:.0f} ms, then served from the page cache until the data "
                  "changes")
            results = {}
            for label, path in (("static", "/bench-static/page.html"), ("ranking", "/tasks/unified"),
                                ("static", "/bench-static/page.html"), ("ranking", "/tasks/unified")):
                lat = load(port, path, args.clients, args.requests)
                results.setdefault(label, []).extend(lat)  # two rounds each, interleaved
            out = {}
            for label, lat in results.items():
                out[f"{label}_p50_ms"] = pct(lat, 0.50) * 1000
                out[f"{label}_p99_ms"] = pct(lat, 0.99) * 1000
                print(f"{label:>8}: n={len(lat)}  p50 {out[f'{label}_p50_ms']:.1f} ms  "
                      f"p99 {out[f'{label}_p99_ms']:.1f} ms")
            out["p50_ratio"] = out["ranking_p50_ms"] / out["static_p50_ms"]
            out["p99_ratio"] = out["ranking_p99_ms"] / out["static_p99_ms"]
            verdict = "within" if out["p99_ratio"] <= 3 else "NOT within"
            print(f"ratio ranking/static: p50 {out['p50_ratio']:.2f}x  p99 {out['p99_ratio']:.2f}x "
                  f"({verdict} the 3x goal, {args.clients} concurrent clients)")
            return out
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
