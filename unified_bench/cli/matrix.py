"""``unified-bench matrix``: the unified task for every (captioner, generator) pairing.

Why a subcommand and not a script: it takes the same flags as ``evaluate`` (data, limit, runtime,
task settings, --workers / --scheduler) and runs each pair through the same runner, so a pair's
run directory is exactly what ``evaluate --model A+X`` would write; the matrix adds the grid, the
derived figures and a shared output cache (each caption computed once per captioner).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from unified_bench.errors import SpecError

DEFAULT_TASK = "unified"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "matrix",
        help="captioner x generator matrix (each caption once per captioner, a heat-map)",
        description="Run the unified task for every captioner x generator pairing. Example: unified-bench "
        "matrix --captioners hf:ORG/Janus-Pro-1B,hf:ORG/Qwen2.5-VL --generators hf:ORG/Janus-Pro-1B,hf:ORG/SDXL. "
        "Task flags: unified-bench evaluate --task unified --help.",
        add_help=False,
    )
    p.set_defaults(handler=run)


def build_matrix_parser(task_name: str) -> argparse.ArgumentParser:
    from unified_bench.cli.evaluate import build_evaluate_parser

    parser = build_evaluate_parser(task_name, prog="unified-bench matrix")
    m = parser.add_argument_group("matrix")
    m.add_argument("--captioners", required=True, help="comma-separated model specs (or LABEL=SPEC)")
    m.add_argument("--generators", required=True,
                   help="comma-separated model specs (or LABEL=SPEC); a unified model listed in both is its own loop")
    m.add_argument("--reference-row", action="store_true",
                   help="add a 'reference' captioner row: regenerate from each image's reference description")
    m.add_argument("--metric", default="overall", help="the grid's score: overall (default) or a metric name")
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    from unified_bench.tasks import TASKS

    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--task", default=DEFAULT_TASK)
    known, _ = first.parse_known_args(argv)
    TASKS.target(known.task)
    return build_matrix_parser(known.task).parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from unified_bench.cli.evaluate import specs_from_args
    from unified_bench.matrix.run import MatrixSpec, parse_entries, run_matrix

    ns = parse(args.matrix_argv)
    if ns.model:
        raise SpecError("unified-bench matrix takes --captioners and --generators, not --model.",
                        "Drop --model; list the models with --captioners A,B --generators X,Y.")
    if getattr(ns, "reference_captions", False):
        raise SpecError("--reference-captions applies to one evaluation.", "In the matrix use --reference-row.")
    base, options = specs_from_args(ns)
    spec = MatrixSpec(
        captioners=parse_entries(ns.captioners, "--captioners"),
        generators=parse_entries(ns.generators, "--generators"),
        base=dataclasses.replace(base, model=None),
        reference=ns.reference_row,
        metric=ns.metric,
    )
    data = re.sub(r"[^A-Za-z0-9._-]+", "_", ns.data or "default").strip("_")[:80]
    out = ns.out or Path("runs") / f"matrix-{ns.task}-{data}"
    results = run_matrix(spec, out, output_cache=options.output_cache, cluster=options.cluster, force=ns.force,
                         show_progress=options.show_progress, report=options.report)
    print_matrix(results, out)
    return 0


def print_matrix(results, out: Path) -> None:
    width = max(len(c) for c in results.captioners) + 2
    col = max(10, *(len(g) + 2 for g in results.generators))
    lines = [f"{results.task} matrix ({results.metric}); rows: captioner, columns: generator"]
    lines.append(" " * width + "".join(f"{g:>{col}}" for g in results.generators))
    for c in results.captioners:
        cells = []
        for g in results.generators:
            cell = results.cell(c, g)
            cells.append(f"{'failed' if cell is None or cell.score is None else f'{cell.score:.3f}':>{col}}")
        lines.append(f"{c:<{width}}" + "".join(cells))
    for d in results.derived:
        u = "n/a" if d.understanding_serves_generation is None else f"{d.understanding_serves_generation:+.3f}"
        g = "n/a" if d.generation_serves_understanding is None else f"{d.generation_serves_understanding:+.3f}"
        lines.append(f"  {d.model}: own loop minus best other captioner {u}, minus best other generator {g}")
    for name, s in results.stages.items():
        lines.append(f"  {name:<9} computed {s.computed}, from the shared cache {s.shared}, already in the pair {s.cached}")
    lines.append(f"  matrix    {out / 'matrix.json'}")
    lines.append(f"  report    {out / 'matrix.html'}")
    print("\n".join(lines))
