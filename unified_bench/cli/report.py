"""``unified-bench report RUN_DIR``: render the self-contained HTML report of a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML report of a run directory")
    p.add_argument("run_dir", type=Path, help="a run directory containing results.json")
    p.add_argument("--out", type=Path, default=None, help="output file (default RUN_DIR/report.html)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from unified_bench.report.html import write_report

    path = write_report(args.run_dir, args.out)
    print(f"report: {path}")
    return 0
