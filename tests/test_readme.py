"""The README's commands and flags must match the code (the reference project's README did not)."""

from __future__ import annotations

import re
from pathlib import Path

from unified_bench.cli.main import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _subparser(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[name]


def _flags(parser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def _dask_cli_flags() -> set[str]:
    """The options of Dask's own ``dask scheduler`` and ``dask worker`` commands (click)."""
    from distributed.cli.dask_scheduler import main as scheduler_main
    from distributed.cli.dask_worker import main as worker_main

    return {opt for cmd in (scheduler_main, worker_main) for p in cmd.params for opt in p.opts if opt.startswith("--")}


def test_every_flag_in_the_readme_exists():
    text = README.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text))
    from unified_bench.cli.evaluate import build_evaluate_parser
    from unified_bench.tasks import TASKS

    known = set()
    for name in ("demo", "report", "submit"):
        known |= _flags(_subparser(name))
    for task in TASKS.names():  # evaluate's flags depend on --task
        known |= _flags(build_evaluate_parser(task))
    from unified_bench.cli.matrix import build_matrix_parser

    known |= _flags(build_matrix_parser("unified"))
    known |= _dask_cli_flags()  # `dask scheduler` / `dask worker` in the cluster section
    known |= {"--help", "--version", "--scheduler", "--out", "--workers"}  # unified-data flags too
    # Flags of `vllm serve` (another program) in the served-models section.
    known |= {"--port", "--max-model-len", "--limit-mm-per-prompt", "--api-key", "--trust-remote-code",
              "--served-model-name"}
    # Flags of the benchmark scripts the README quotes figures from.
    for script in (README.parent / "benchmarks").glob("*.py"):
        known |= set(re.findall(r'add_argument\(\s*"(--[a-z][a-z0-9-]+)"', script.read_text(encoding="utf-8")))
    from data_pipeline.cli import _parser as data_parser
    from leaderboard.cli import build_parser as leaderboard_parser

    for action in leaderboard_parser()._actions:
        for sub in getattr(action, "choices", None) or {}:
            if hasattr(action.choices[sub], "_actions"):
                known |= _flags(action.choices[sub])

    parser = data_parser()
    for action in parser._actions:
        known |= set(action.option_strings)
        for sub in getattr(action, "choices", None) or {}:
            if hasattr(action.choices[sub], "_actions"):
                known |= _flags(action.choices[sub])
    assert mentioned - known == set(), f"README mentions flags the CLI does not have: {mentioned - known}"


def test_readme_example_commands_parse():
    text = README.read_text(encoding="utf-8")
    from unified_bench.cli.evaluate import parse

    commands = re.findall(r"^unified-bench evaluate ([^\n#]+)", text, flags=re.M)
    assert commands, "README shows no evaluate example"
    for line in commands:
        args = parse(line.split())
        assert args.model is None or args.model.startswith(("hf:", "openai:", "/"))
