"""Fixtures for the leaderboard tests: one fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL comes from ``UNIFIED_BENCH_TEST_POSTGRES_URL`` (``.ci/run`` starts a Debian cluster on
loopback and sets it). Without a reachable server the PostgreSQL cases skip, unless ``CI`` is set:
in CI a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

PG_ENV = "UNIFIED_BENCH_TEST_POSTGRES_URL"
DEFAULT_PG = "postgresql+psycopg://leaderboard:leaderboard@127.0.0.1:5432/leaderboard_test"


def postgres_url() -> str:
    """The test PostgreSQL URL, or skip (fail in CI) when no server answers."""
    url = os.environ.get(PG_ENV, DEFAULT_PG)
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver/connection error means "no server here"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL at {url} is unreachable ({exc}); .ci/run must start it.")
        pytest.skip(f"no PostgreSQL server reachable at {url} (set {PG_ENV})")
    return url


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS thumbnails, submissions, tokens, alembic_version CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leaderboard.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'leaderboard.db'}"


def make_app(url: str, **settings: Any):  # noqa: ANN201
    from leaderboard.app import create_app
    from leaderboard.settings import Settings

    settings.setdefault("rate_limit", 10_000)
    return create_app(Settings(db_url=url, **settings))


def new_token(app, name: str = "alice") -> str:  # noqa: ANN001
    from leaderboard.tokens import create_token

    with app.state.sessions() as session:
        return create_token(session, name)


def publish(app, submission_id: int) -> None:  # noqa: ANN001
    from leaderboard.submissions import moderate

    with app.state.sessions() as session:
        moderate(session, submission_id, "publish")


@pytest.fixture
def app(db_url):  # noqa: ANN201
    app = make_app(db_url)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app):  # noqa: ANN201
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def token(app) -> str:
    return new_token(app)


_BASES: dict[str, dict] = {}


def base_raw(which: str = "janus") -> dict[str, Any]:
    """A fresh deep copy of a real demo results.json (as decoded JSON)."""
    if which not in _BASES:
        from leaderboard.demo import DEMO_DATA

        _BASES[which] = json.loads((DEMO_DATA / f"{which}.results.json").read_text())
    return copy.deepcopy(_BASES[which])


_SYNTH: dict[int, dict] = {}


def synthetic_raw(i: int) -> dict[str, Any]:
    """Distinct valid results (different model, recomputed aggregates), cached per index."""
    if i not in _SYNTH:
        from leaderboard.demo import base_results, synthetic

        _SYNTH[i] = json.loads(synthetic(base_results("janus" if i % 2 == 0 else "composite"), i).model_dump_json())
    return copy.deepcopy(_SYNTH[i])


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port in a thread (real HTTP for browser/concurrency)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(app) -> Iterator[LiveServer]:  # noqa: ANN001
    with LiveServer(app) as server:
        yield server
