"""``unified-bench evaluate``: parse flags into a ``RunSpec`` and hand it to the runner.

Why so thin: the run lifecycle (validate, load, cache, resume, score, results, report) lives in
``unified_bench.runner.evaluate`` for every task; the CLI only turns flags into typed specs. Each
task adds its own flags (``Task.add_arguments``): ``unified-bench evaluate --task NAME --help``
lists them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.core.dtypes import DTYPES
from unified_bench.core.openai_client import DEFAULT_API_KEY_ENV
from unified_bench.errors import SpecError
from unified_bench.specs import (
    ClusterSpec,
    ExecutionOptions,
    RunSpec,
    RuntimeOptions,
    ServedOptions,
    parse_model_spec,
)

if TYPE_CHECKING:
    from unified_bench.results.schema import Results

DEFAULT_TASK = "unified"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on a task (unified, geneval, mmt)",
        description="Evaluate a model. Example: unified-bench evaluate --model "
        "hf:deepseek-community/Janus-Pro-1B --device cuda. Task flags: --task NAME --help.",
        add_help=False,
    )
    p.set_defaults(handler=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The flags every task shares (what to run, where, on which device)."""
    g = p.add_argument_group("what to evaluate")
    g.add_argument(
        "--model",
        default=None,
        help="hf:ORG/NAME[@REV] | LOCAL_DIR | hf:VLM+hf:T2I | py:package.module:factory | "
        "openai:NAME@http://host:port/v1 (a served model; also as a half of A+B) | PLUGIN:...",
    )
    g.add_argument("--task", default=DEFAULT_TASK, help=f"benchmark (default: {DEFAULT_TASK})")
    g.add_argument(
        "--data", "--images",
        dest="data",
        default=None,
        help="the task's data set (default: the task's standard one). unified: uae-100 | demo | FOLDER | "
        "wds:PATTERN | hfds:NAME[:SPLIT] | manifest:FILE.json",
    )
    g.add_argument("--limit", type=int, default=None, help="only the first N samples (quick runs)")
    g.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<task>-<model>-<data>)")
    g.add_argument("--force", action="store_true", help="reuse an --out that holds a different run")

    r = p.add_argument_group("runtime")
    r.add_argument("--device", default="auto", help="cuda, cuda:N or cpu (default: cuda when present)")
    r.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="default: bf16/fp16 on GPU, fp32 on CPU")
    r.add_argument("--batch-size", type=int, default=8, help="model batch size (default 8)")
    r.add_argument("--seed", type=int, default=42, help="base seed (reference: 42)")
    r.add_argument("--deterministic", action="store_true", help="deterministic kernels (identical resumed runs)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")

    s = p.add_argument_group("served models (openai:NAME@URL)")
    s.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="NAME",
        help=f"NAME of the environment variable holding the API key (default {DEFAULT_API_KEY_ENV}; "
        "unset = no key, fine for a local vLLM). Never pass the key itself.",
    )
    s.add_argument(
        "--served-capabilities",
        default=None,
        metavar="LIST",
        help="comma list of caption,answer,generate to declare instead of probing the endpoints "
        "(the declared endpoints are still probed once for key and model problems)",
    )
    s.add_argument("--served-concurrency", type=int, default=8, help="requests in flight (default 8)")
    s.add_argument("--served-timeout", type=float, default=120.0, help="seconds per request (default 120)")
    s.add_argument("--served-retries", type=int, default=5, help="retries per request (default 5)")
    add_execution_arguments(p)


def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Where the model's batches run (a Dask cluster) and a shared output cache: execution only,
    never part of the run's identity (results equal a single-process run in deterministic mode)."""
    x = p.add_argument_group("distributed execution (Dask)")
    x.add_argument("--workers", type=int, default=None,
                   help="run batches on a local Dask cluster of N worker processes (on CUDA: one per GPU)")
    x.add_argument("--scheduler", default=None, help="run batches on an existing Dask cluster: tcp://HOST:PORT")
    x.add_argument("--scheduler-file", default=None, help="the same, from `dask scheduler --scheduler-file F`")
    x.add_argument("--output-cache", type=Path, default=None,
                   help="folder of model outputs shared between run directories (reused by cache key)")


def cluster_from_args(args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster to run on, or None (this process)."""
    if args.workers is None and args.scheduler is None and args.scheduler_file is None:
        return None
    return ClusterSpec(workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file)

def build_evaluate_parser(task_name: str | None, prog: str = "unified-bench evaluate") -> argparse.ArgumentParser:
    """The full parser for ``task_name`` (common flags + the task's own)."""
    from unified_bench.tasks import TASKS

    parser = argparse.ArgumentParser(prog=prog)
    add_common_arguments(parser)
    if task_name is not None:
        TASKS.get(task_name).add_arguments(parser)
    return parser


def default_out(task: str, model: str | None, data: str) -> Path:
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]

    return Path("runs") / f"{slug(task)}-{slug(model or 'no-model')}-{slug(data)}"


def specs_from_args(args: argparse.Namespace) -> tuple[RunSpec, ExecutionOptions]:
    """Checked, typed specs from parsed flags (every user-fixable problem raises SpecError)."""
    from unified_bench.tasks import TASKS

    task_cls = TASKS.get(args.task)
    if args.limit is not None and args.limit < 1:
        raise SpecError("--limit must be at least 1.", "Pass --limit N with N >= 1, or omit it.")
    model = parse_model_spec(args.model) if args.model else None
    if model is not None:
        model = model.with_served(served_options_from_args(args))
    run = RunSpec(
        task=args.task,
        model=model,
        task_config=task_cls.config_from_args(args),
        data=args.data,
        limit=args.limit,
        runtime=RuntimeOptions(args.device, args.dtype, args.batch_size, args.seed, args.deterministic).resolved(),
    )
    out = args.out or default_out(args.task, args.model, args.data or task_cls.default_data)
    return run, ExecutionOptions(out=out, force=args.force, show_progress=not args.quiet, report=not args.no_report,
                                 cluster=cluster_from_args(args), output_cache=args.output_cache)


def served_options_from_args(args: argparse.Namespace) -> ServedOptions:
    """Transport options of served models (``openai:`` specs); they change no output."""
    declared = getattr(args, "served_capabilities", None)
    capabilities = tuple(c.strip() for c in declared.split(",") if c.strip()) if declared else None
    return ServedOptions(
        api_key_env=getattr(args, "api_key_env", DEFAULT_API_KEY_ENV),
        capabilities=capabilities,
        concurrency=getattr(args, "served_concurrency", 8),
        timeout_s=getattr(args, "served_timeout", 120.0),
        max_retries=getattr(args, "served_retries", 5),
    )


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Two passes: the first finds ``--task`` (unknown names fail with did-you-mean), the second
    parses with that task's flags."""
    from unified_bench.tasks import TASKS

    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--task", default=DEFAULT_TASK)
    first.add_argument("-h", "--help", action="store_true")
    known, _ = first.parse_known_args(argv)
    TASKS.target(known.task)  # unknown task -> did-you-mean error
    return build_evaluate_parser(known.task).parse_args(argv)


def print_summary(results: Results, run_dir: Path) -> None:
    model = results.model.spec if results.model is not None else "(no model: existing outputs)"
    lines = [f"{results.benchmark.name} v{results.benchmark.version}  model: {model}"]
    for name, agg in results.aggregates.items():
        lines.append(f"  {name:<9} {agg.mean:8.3f}  (95% CI {agg.ci_low:.3f} .. {agg.ci_high:.3f}, n={agg.n})")
    if results.overall is not None:
        o = results.overall
        lines.append(f"  {'overall':<9} {o.mean:8.3f}  (95% CI {o.ci_low:.3f} .. {o.ci_high:.3f})")
    else:
        lines.append("  overall   n/a (non-standard metric set)")
    cov = results.coverage
    lines.append(f"  coverage  {cov.n_scored}/{cov.n_samples} scored")
    if not results.standard:
        lines.append("  NON-STANDARD: " + "; ".join(results.non_standard_reasons))
    for label, rel in results.files.items():
        lines.append(f"  {label:<9} {run_dir / rel}")
    lines.append(f"  run dir   {run_dir}")
    print("\n".join(lines))


def execute(run: RunSpec, options: ExecutionOptions, **kwargs: Any) -> Path:
    """Run and print the summary; return the run directory."""
    from unified_bench.runner.evaluate import evaluate

    evaluation = evaluate(run, options, **kwargs)
    print_summary(evaluation.results, evaluation.run_dir)
    return evaluation.run_dir


def run(args: argparse.Namespace) -> int:
    ns = parse(args.evaluate_argv)
    execute(*specs_from_args(ns))
    return 0
