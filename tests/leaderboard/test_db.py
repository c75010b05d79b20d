"""Migrations match the models on both databases; engine URLs; the rate limiter's window."""

from __future__ import annotations

import pytest

from leaderboard.db.models import Base
from leaderboard.db.session import make_engine, migrate
from leaderboard.ratelimit import RateLimiter
from unified_bench.errors import SpecError


def test_migrations_create_exactly_the_model_schema_and_downgrade(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    engine = make_engine(db_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    migrate(engine)  # idempotent at head
    from alembic import command
    from alembic.config import Config

    from leaderboard.db.session import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_plain_postgresql_urls_use_psycopg_and_bad_urls_say_how_to_fix():
    engine = make_engine("postgresql://u:p@127.0.0.1:1/db")
    assert engine.url.drivername == "postgresql+psycopg" and engine.url.password == "p"
    with pytest.raises(SpecError) as err:
        make_engine("not a url")
    assert "sqlite:///" in err.value.fix


def test_rate_limiter_window_slides():
    now = [0.0]
    limiter = RateLimiter(limit=2, window_s=10, clock=lambda: now[0])
    assert limiter.check("a") is None and limiter.check("a") is None
    assert limiter.check("a") == pytest.approx(10.0)
    assert limiter.check("b") is None  # per key
    now[0] = 9.0
    assert limiter.check("a") == pytest.approx(1.0)
    now[0] = 10.5  # the first two events have left the window
    assert limiter.check("a") is None
