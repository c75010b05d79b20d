"""``unified-bench demo``: the whole loop, offline, on tiny random-weight models.

Why: a newcomer (and CI) can see every stage work on a fresh machine without downloading a
byte. The demo builds tiny models of the *real* architectures (Janus, and a LLaVA + Stable
Diffusion composite) and tiny versions of the four encoders, saves them with
``save_pretrained``, and evaluates them through exactly the code path ``hf:`` specs take.
The weights are random: the scores demonstrate the pipeline, not any model's quality.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from unified_bench.specs import ExecutionOptions

log = logging.getLogger(__name__)

NOTICE = (
    "DEMO: every model and encoder here has RANDOM weights. The scores show that the pipeline "
    "works end to end; they say nothing about any real model."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the full loop offline on tiny random-weight models")
    p.add_argument("--out", type=Path, default=Path("unified-bench-demo"), help="demo directory")
    p.add_argument(
        "--models",
        default="janus,composite",
        help="which demo models to evaluate: janus, composite, emu3 (comma-separated)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def build_demo_assets(out: Path, which: list[str]) -> tuple[dict[str, str], dict[str, Path]]:
    """Build (or rebuild, deterministically) the demo models and encoders; return specs and paths."""
    from unified_bench.demo.encoders import build_demo_encoders
    from unified_bench.demo.models import build_demo_emu3, build_demo_janus, build_demo_t2i, build_demo_vlm

    models: dict[str, str] = {}
    if "janus" in which:
        models["janus"] = str(build_demo_janus(out / "models" / "janus"))
    if "emu3" in which:
        models["emu3"] = str(build_demo_emu3(out / "models" / "emu3"))
    if "composite" in which:
        vlm = build_demo_vlm(out / "models" / "llava")
        t2i = build_demo_t2i(out / "models" / "stable-diffusion")
        models["composite"] = f"{vlm}+{t2i}"
    encoders = build_demo_encoders(out / "encoders")
    return models, encoders


def run(args: argparse.Namespace) -> int:
    from unified_bench.cli.evaluate import execute
    from unified_bench.demo.runs import unified_demo_run
    from unified_bench.errors import SpecError

    which = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(which) - {"janus", "composite", "emu3"})
    if unknown or not which:
        raise SpecError(f"Unknown demo model(s): {unknown or '(none)'}.", "Use --models janus,composite,emu3.")
    print(NOTICE)
    out: Path = args.out
    models, encoders = build_demo_assets(out, which)
    reports = []
    for name, spec in models.items():
        print(f"\n== demo model: {name} ({spec})")
        options = ExecutionOptions(out=out / "runs" / name, force=True, show_progress=not args.quiet)
        run_dir = execute(unified_demo_run(spec, encoders, NOTICE), options)
        reports.append(run_dir / "report.html")
    print("\n" + NOTICE)
    for report in reports:
        print(f"report: {report}")
    return 0
