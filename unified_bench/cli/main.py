"""Entry point of ``unified-bench``: parse, dispatch, and turn user errors into one message.

Why: every subcommand raises ``UnifiedBenchError`` for bad input; here it becomes
``error: <problem>`` + ``fix: <how>`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from unified_bench import __version__
from unified_bench.errors import UnifiedBenchError, report


def build_parser() -> argparse.ArgumentParser:
    from unified_bench.cli import demo, evaluate, matrix, report, submit

    parser = argparse.ArgumentParser(
        prog="unified-bench",
        description="Measure how unified a multimodal model is: caption -> regenerate -> compare.",
    )
    parser.add_argument("--version", action="version", version=f"unified-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    evaluate.add_parser(sub)
    matrix.add_parser(sub)
    demo.add_parser(sub)
    report.add_parser(sub)
    submit.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # ``evaluate`` and ``matrix`` parse their own flags: which ones exist depends on --task (see cli/evaluate.py).
    args, extra = parser.parse_known_args(argv)
    if args.command == "evaluate":
        args.evaluate_argv = extra
    elif args.command == "matrix":
        args.matrix_argv = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except UnifiedBenchError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("interrupted: finished items are cached; run the same command again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
