"""The web application: ``create_app(settings)`` wires the database, the pages and the JSON API.

Why a factory: tests, the benchmark and the CLI each build an app against their own database with
their own limits; nothing is created at import time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from leaderboard.db.models import Submission
from leaderboard.db.session import make_engine, migrate, session_factory
from leaderboard.ratelimit import RateLimiter
from leaderboard.settings import Settings

HERE = Path(__file__).resolve().parent

# No inline script or style anywhere: a submitted string that slipped through escaping still could
# not run. Images only from this site (thumbnails, SVG plots).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell ("–" for missing)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def templates() -> Environment:
    """Jinja2 with autoescape on for every template (HTML and SVG) and errors on undefined names."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined)
    env.filters["fmt"] = fmt
    return env


class PageCache:
    """Rendered pages keyed by URL and the database's data version (count + last change).

    Why: the ranking page of 1,000 models is the same bytes until a submission changes; serving it
    from memory keeps it as fast as a static file. Any insert or moderation changes the version,
    including one made by the CLI in another process.
    """

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple, value: tuple[bytes, str]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def data_version(session: Session) -> tuple:
    count, last = session.execute(select(func.count(Submission.id), func.max(Submission.updated_at))).one()
    return (count, str(last))


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    from leaderboard import api, pages

    settings = settings or Settings()
    engine = make_engine(settings.db_url)
    if run_migrations:
        migrate(engine)
    app = FastAPI(
        title="Unified-Bench leaderboard",
        description="Submissions are validated against the results schema and every aggregate is "
        "recomputed from the per-sample records before a submission is stored.",
        version="1.0",
        docs_url=None,  # the Swagger/ReDoc pages load scripts from a CDN; the spec stays available
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.limiter = RateLimiter(settings.rate_limit, settings.rate_window_s)
    app.state.cache = PageCache()
    app.state.env = templates()

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202 - starlette signature
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        """API errors as ``{"error", "fix"}`` JSON, page errors as an escaped HTML page."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc.detail), "fix": "Check the URL and parameters."},
                                status_code=exc.status_code, headers=exc.headers)
        title = "Not found" if exc.status_code == 404 else "Cannot show this page"
        html = app.state.env.get_template("error.html").render(
            title=title, message=str(exc.detail), banner=settings.banner)
        return HTMLResponse(html, status_code=exc.status_code)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session per request, closed afterwards."""
    with request.app.state.sessions() as session:
        yield session
