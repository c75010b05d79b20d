"""``unified-bench evaluate``: run one model through one benchmark into a run directory.

Order matters for "nothing half-written": every input is parsed and checked (model spec,
task, image set decoded, encoder names) and the model and scorers are loaded *before* the run
directory is created, so a bad input fails with one message and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.errors import SpecError
from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec
from unified_bench.specs import (
    DEFAULT_CAPTION_PROMPT,
    DTYPES,
    CaptionSettings,
    GenerationSettings,
    RuntimeOptions,
    parse_model_spec,
)

if TYPE_CHECKING:
    from unified_bench.specs import ModelSpec
    from unified_bench.tasks.unified import UnifiedConfig

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model (caption -> regenerate -> compare)",
        description="Evaluate a model. Example: unified-bench evaluate --model "
        "hf:deepseek-community/Janus-Pro-1B --device cuda",
    )
    add_evaluate_arguments(p)
    p.set_defaults(handler=run)


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to evaluate")
    g.add_argument(
        "--model",
        required=True,
        help="hf:ORG/NAME[@REV] | LOCAL_DIR | hf:VLM+hf:T2I | py:package.module:factory | PLUGIN:...",
    )
    g.add_argument("--task", default="unified", help="benchmark (default: unified)")
    g.add_argument(
        "--images",
        default="uae-100",
        help="image set: uae-100 (published 100 images, downloaded once) | demo | FOLDER | wds:PATTERN | "
        "hfds:NAME[:SPLIT] | manifest:FILE.json (default: uae-100)",
    )
    g.add_argument("--limit", type=int, default=None, help="only the first N images (quick runs)")
    g.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<task>-<model>-<images>)")
    g.add_argument("--force", action="store_true", help="reuse an --out that holds a different run")

    r = p.add_argument_group("runtime")
    r.add_argument("--device", default="auto", help="cuda, cuda:N or cpu (default: cuda when present)")
    r.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="default: bf16/fp16 on GPU, fp32 on CPU")
    r.add_argument("--batch-size", type=int, default=8, help="model batch size (default 8)")
    r.add_argument("--seed", type=int, default=42, help="base seed (reference: 42)")
    r.add_argument("--deterministic", action="store_true", help="deterministic kernels (identical resumed runs)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    c = p.add_argument_group("captioning (reference: 512 tokens, T=0.7)")
    c.add_argument("--caption-prompt", default=DEFAULT_CAPTION_PROMPT, help="prompt for image -> text")
    c.add_argument("--max-new-tokens", type=int, default=512)
    c.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")

    t = p.add_argument_group("generation (reference: 1024x1024, 40 steps, guidance 5.0)")
    t.add_argument("--height", type=int, default=1024)
    t.add_argument("--width", type=int, default=1024)
    t.add_argument("--steps", type=int, default=40)
    t.add_argument("--guidance", type=float, default=5.0)

    s = p.add_argument_group("scoring")
    s.add_argument(
        "--encoders",
        default=",".join(STANDARD_ENCODERS),
        help="comma-separated subset of clip,dinov2,dinov3,longclip (a subset is non-standard: no overall)",
    )
    s.add_argument(
        "--encoder-checkpoint",
        action="append",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="use another checkpoint (hub id or local path) for an encoder; repeatable",
    )
    s.add_argument("--encoder-batch-size", type=int, default=16)
    s.add_argument("--encoder-dtype", default="fp32", choices=DTYPES,
                   help="dtype of the scoring encoders (default fp32, whatever the model's dtype)")
    s.add_argument("--aux", default="lpips,ssim,psnr", help="auxiliary metrics (not in the overall), or 'none'")
    s.add_argument(
        "--lpips-random-trunk",
        action="store_true",
        help="build LPIPS's AlexNet trunk with random weights (offline testing only; numbers meaningless)",
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything parsed from the command line, checked, ready to run."""

    model: ModelSpec
    task_name: str
    images: str
    limit: int | None
    out: Path
    force: bool
    runtime: RuntimeOptions
    task_config: UnifiedConfig
    report: bool
    show_progress: bool


def _parse_encoders(names: str, checkpoints: list[str]) -> tuple[EncoderSpec, ...]:
    from unified_bench.metrics.encoders.loader import ENCODERS

    chosen = [n.strip() for n in names.split(",") if n.strip()]
    if not chosen:
        raise SpecError("--encoders is empty.", f"Pass a comma-separated subset of {','.join(STANDARD_ENCODERS)}.")
    for name in chosen:
        if name not in ENCODERS:
            raise ENCODERS.unknown(name)
    if len(set(chosen)) != len(chosen):
        raise SpecError(f"--encoders lists an encoder twice: {names}.", "List each encoder once.")
    overrides: dict[str, str] = {}
    for item in checkpoints:
        name, sep, ckpt = item.partition("=")
        if not sep or not ckpt:
            raise SpecError(f"--encoder-checkpoint '{item}' is not NAME=CHECKPOINT.", "e.g. clip=/path/to/clip-dir")
        if name not in chosen:
            raise SpecError(
                f"--encoder-checkpoint names '{name}', which is not in --encoders ({','.join(chosen)}).",
                "Add it to --encoders or fix the name.",
            )
        overrides[name] = ckpt
    return tuple(EncoderSpec(name, overrides.get(name)) for name in chosen)


def _parse_aux(value: str) -> tuple[str, ...]:
    from unified_bench.tasks.unified import AUX_METRICS

    if value.strip().lower() in ("", "none"):
        return ()
    chosen = tuple(a.strip() for a in value.split(",") if a.strip())
    for a in chosen:
        if a not in AUX_METRICS:
            raise SpecError(f"Unknown auxiliary metric '{a}'.", f"Use a subset of {','.join(AUX_METRICS)} or 'none'.")
    return chosen


def _default_out(task: str, model: str, images: str) -> Path:
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]

    return Path("runs") / f"{slug(task)}-{slug(model)}-{slug(images)}"


def plan_from_args(args: argparse.Namespace, notice: str | None = None) -> EvaluationPlan:
    from unified_bench.tasks import TASKS
    from unified_bench.tasks.unified import UnifiedConfig

    model = parse_model_spec(args.model)
    TASKS.target(args.task)  # unknown task -> did-you-mean error
    if args.limit is not None and args.limit < 1:
        raise SpecError("--limit must be at least 1.", "Pass --limit N with N >= 1, or omit it.")
    for flag, value in (("--height", args.height), ("--width", args.width), ("--steps", args.steps),
                        ("--max-new-tokens", args.max_new_tokens), ("--encoder-batch-size", args.encoder_batch_size)):
        if value < 1:
            raise SpecError(f"{flag} must be a positive integer (got {value}).", f"Pass {flag} 1 or more.")
    config = UnifiedConfig(
        caption=CaptionSettings(args.caption_prompt, args.max_new_tokens, args.temperature),
        generation=GenerationSettings(args.height, args.width, args.steps, args.guidance),
        encoders=_parse_encoders(args.encoders, args.encoder_checkpoint),
        aux=_parse_aux(args.aux),
        lpips_pretrained_trunk=not args.lpips_random_trunk,
        encoder_batch_size=args.encoder_batch_size,
        encoder_dtype=args.encoder_dtype,
        notice=notice,
    )
    runtime = RuntimeOptions(args.device, args.dtype, args.batch_size, args.seed, args.deterministic).resolved()
    return EvaluationPlan(
        model=model,
        task_name=args.task,
        images=args.images,
        limit=args.limit,
        out=args.out or _default_out(args.task, args.model, args.images),
        force=args.force,
        runtime=runtime,
        task_config=config,
        report=not args.no_report,
        show_progress=not args.quiet,
    )


def execute(plan: EvaluationPlan) -> Path:
    """Run a checked plan; return the run directory."""
    from unified_bench.data.loader import load_image_set
    from unified_bench.models.base import check_capabilities
    from unified_bench.models.loader import load_model
    from unified_bench.results.schema import write_results
    from unified_bench.runner.determinism import enable_deterministic, seed_everything
    from unified_bench.runner.run_dir import RunDir
    from unified_bench.tasks import TASKS
    from unified_bench.tasks.unified import finalize_results

    started = time.perf_counter()
    image_set = load_image_set(plan.images).limit(plan.limit)
    image_set.validate()
    if plan.runtime.deterministic:
        enable_deterministic()
    seed_everything(plan.runtime.seed)

    task = TASKS.get(plan.task_name)(plan.task_config)
    log.info("loading model %s on %s (%s)", plan.model.raw, plan.runtime.device, plan.runtime.dtype)
    adapter = load_model(plan.model, plan.runtime)
    check_capabilities(adapter, task.needs, task.name)
    scorers = task.load_scorers(plan.runtime)

    run_dir = RunDir(plan.out)
    run_dir.prepare(
        {
            "task": f"{task.name}@{task.version}",
            "model": plan.model.to_dict(),
            "image_set": image_set.fingerprint(),
            "settings": plan.task_config.to_dict(),
            "runtime": plan.runtime.__dict__,
            "limit": plan.limit,
        },
        force=plan.force,
    )
    results, summaries = task.run(
        adapter, image_set, plan.runtime, run_dir, limit=plan.limit,
        show_progress=plan.show_progress, scorers=scorers,
    )
    for name, s in summaries.items():
        log.info("%s: %d items, %d cached, %d computed, %d failed", name, s["total"], s["cached"],
                 s["computed"], s["failed"])
    results = finalize_results(results, time.perf_counter() - started)
    write_results(results, run_dir.results_json)
    if plan.report:
        from unified_bench.report.html import write_report

        write_report(run_dir.path)
    run_dir.mark_complete()
    print_summary(results, run_dir.path)
    return run_dir.path


def print_summary(results: Any, run_dir: Path) -> None:
    lines = [f"{results.benchmark.name} v{results.benchmark.version}  model: {results.model.spec}"]
    for name, agg in results.aggregates.items():
        lines.append(f"  {name:<9} {agg.mean:8.3f}  (95% CI {agg.ci_low:.3f} .. {agg.ci_high:.3f}, n={agg.n})")
    if results.overall is not None:
        o = results.overall
        lines.append(f"  {'overall':<9} {o.mean:8.3f}  (95% CI {o.ci_low:.3f} .. {o.ci_high:.3f})")
    else:
        lines.append("  overall   n/a (not all four encoders: non-standard)")
    cov = results.coverage
    lines.append(f"  coverage  {cov.n_scored}/{cov.n_references} scored")
    if not results.standard:
        lines.append("  NON-STANDARD: " + "; ".join(results.non_standard_reasons))
    lines.append(f"  run dir   {run_dir}")
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    execute(plan_from_args(args))
    return 0
