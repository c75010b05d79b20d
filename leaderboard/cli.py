"""``unified-leaderboard``: serve the site, create tokens, moderate submissions.

    unified-leaderboard serve [--db URL] [--host H] [--port P] [--demo]
    unified-leaderboard token create NAME [--db URL]      (also: token list, token revoke NAME)
    unified-leaderboard moderate [--db URL] [--all]                 (list pending)
    unified-leaderboard moderate publish ID [--db URL]
    unified-leaderboard moderate reject ID --reason TEXT [--db URL]

Bad input becomes ``error:`` + ``fix:`` on stderr and exit code 2, as in ``unified-bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from leaderboard.settings import DEFAULT_DB_URL, Settings
from unified_bench.errors import UnifiedBenchError, report

DB_ENV = "UNIFIED_LEADERBOARD_DB"


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None,
                   help=f"database URL (default: ${DB_ENV} or {DEFAULT_DB_URL}; PostgreSQL: postgresql://user:pw@host/db)")


def _db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get(DB_ENV) or DEFAULT_DB_URL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unified-leaderboard", description="The Unified-Bench submission site.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the web server")
    _db_arg(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true",
                       help="seed the database with demo models first (default db: leaderboard-demo.db)")
    serve.add_argument("--demo-models", type=int, default=40, help="synthetic models in the demo database")
    serve.add_argument("--max-body-mb", type=float, default=32.0, help="largest submission body")
    serve.add_argument("--rate-limit", type=int, default=20, help="submissions per token per --rate-window")
    serve.add_argument("--rate-window", type=float, default=3600.0, help="seconds")
    serve.set_defaults(handler=cmd_serve)

    token = sub.add_parser("token", help="manage API tokens")
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token (the secret is printed once)")
    create.add_argument("name")
    _db_arg(create)
    create.set_defaults(handler=cmd_token_create)
    listing = tsub.add_parser("list", help="list token names (secrets are never stored)")
    _db_arg(listing)
    listing.set_defaults(handler=cmd_token_list)
    revoke = tsub.add_parser("revoke", help="revoke a token: its submissions stay, new ones are refused")
    revoke.add_argument("name")
    _db_arg(revoke)
    revoke.set_defaults(handler=cmd_token_revoke)

    mod = sub.add_parser("moderate", help="list pending submissions, publish or reject one")
    _db_arg(mod)
    mod.add_argument("action", nargs="?", choices=["list", "publish", "reject"], default="list")
    mod.add_argument("id", nargs="?", type=int)
    mod.add_argument("--reason", help="why a submission is rejected (kept and shown to the submitter)")
    mod.add_argument("--all", action="store_true", help="list every submission, not only pending ones")
    mod.set_defaults(handler=cmd_moderate)
    return parser


def _sessions(url: str):  # noqa: ANN202
    from leaderboard.db.session import make_engine, migrate, session_factory

    engine = make_engine(url)
    migrate(engine)
    return session_factory(engine)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from leaderboard.app import create_app
    from leaderboard.demo import BANNER, seed_demo

    url = args.db or os.environ.get(DB_ENV) or ("sqlite:///leaderboard-demo.db" if args.demo else DEFAULT_DB_URL)
    if args.demo:
        with _sessions(url)() as session:
            n = seed_demo(session, n_models=args.demo_models)
        print(f"demo database {url}: {n} models added")
    settings = Settings(db_url=url, max_body_bytes=int(args.max_body_mb * 1024 * 1024), rate_limit=args.rate_limit,
                        rate_window_s=args.rate_window, banner=BANNER if args.demo else None)
    app = create_app(settings)
    print(f"serving on http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from leaderboard.tokens import create_token

    with _sessions(_db(args))() as session:
        secret = create_token(session, args.name)
    print(f"token for {args.name!r} (shown once; only its hash is stored):")
    print(secret)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from leaderboard.db.models import Token

    with _sessions(_db(args))() as session:
        for tok in session.scalars(select(Token).order_by(Token.id)):
            print(f"{tok.name}  created {tok.created_at:%Y-%m-%d %H:%M}  {'REVOKED' if tok.revoked else 'active'}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from leaderboard.db.models import Token
    from unified_bench.errors import SpecError

    with _sessions(_db(args))() as session:
        tok = session.scalar(select(Token).where(Token.name == args.name))
        if tok is None:
            raise SpecError(f"No token named {args.name!r}.", "See `unified-leaderboard token list`.")
        tok.revoked = True
        session.commit()
    print(f"token {args.name!r} revoked")
    return 0


def cmd_moderate(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from leaderboard.db.models import Submission
    from leaderboard.submissions import moderate

    with _sessions(_db(args))() as session:
        if args.action == "list":
            stmt = select(Submission).order_by(Submission.id)
            if not args.all:
                stmt = stmt.where(Submission.status == "pending")
            rows = list(session.scalars(stmt))
            if not rows:
                print("no pending submissions" if not args.all else "no submissions")
            for r in rows:
                overall = "-" if r.overall_mean is None else f"{r.overall_mean:.2f}"
                reason = f"  reason: {r.reason}" if r.reason else ""
                print(f"{r.id:>6}  {r.status:<9} {r.benchmark}/{r.benchmark_version}  {r.display_name!r}  "
                      f"overall={overall}  n={r.n_samples}  standard={r.standard}{reason}")
            return 0
        if args.id is None:
            from unified_bench.errors import SpecError

            raise SpecError(f"'moderate {args.action}' needs a submission id.",
                            "List them with `unified-leaderboard moderate`, then e.g. `moderate publish 3`.")
        row = moderate(session, args.id, args.action, args.reason)
        print(f"submission {row.id}: {row.status}" + (f" ({row.reason})" if row.reason else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UnifiedBenchError as exc:
        return report(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
