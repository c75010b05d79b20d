"""The unified task's ``unified-bench evaluate`` flags and their parsing into ``UnifiedConfig``.

Why a module of its own: the CLI knows no task's settings; each task adds its flags through
``Task.add_arguments`` / ``Task.config_from_args``. Keeping the flag plumbing here leaves
``tasks/unified.py`` to the benchmark's logic.
"""

from __future__ import annotations

import argparse

from unified_bench.core.dtypes import DTYPES
from unified_bench.errors import SpecError
from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec
from unified_bench.specs import DEFAULT_CAPTION_PROMPT, CaptionSettings, GenerationSettings


def add_arguments(p: argparse.ArgumentParser) -> None:
    c = p.add_argument_group("unified: captioning (reference: 512 tokens, T=0.7)")
    c.add_argument("--caption-prompt", default=DEFAULT_CAPTION_PROMPT, help="prompt for image -> text")
    c.add_argument("--max-new-tokens", type=int, default=512)
    c.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    c.add_argument("--top-k", type=int, default=0, help="0 = off (reference)")
    c.add_argument("--top-p", type=float, default=1.0, help="1.0 = off (reference)")
    c.add_argument("--repetition-penalty", type=float, default=1.0, help="1.0 = off (reference)")
    c.add_argument("--reference-captions", action="store_true",
                   help="no captioning: regenerate from each image's reference description (ID.txt next to a "
                   "folder image, a WebDataset txt member); measures the generator alone (non-standard)")

    t = p.add_argument_group("unified: generation (reference: 1024x1024, 40 steps, guidance 5.0)")
    t.add_argument("--height", type=int, default=None,
                   help="default 1024, or the model's native canvas (Janus 384, Emu3-Gen 720)")
    t.add_argument("--width", type=int, default=None, help="default as --height")
    t.add_argument("--steps", type=int, default=40)
    t.add_argument("--guidance", type=float, default=5.0, help="1.0 disables classifier-free guidance")
    t.add_argument("--image-temperature", type=float, default=1.0,
                   help="image-token sampling temperature (autoregressive generators)")
    t.add_argument("--image-top-k", type=int, default=None,
                   help="image-token top-k (default: the model's reference recipe, e.g. Emu3 2048)")

    s = p.add_argument_group("unified: scoring")
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


def parse_encoders(names: str, checkpoints: list[str]) -> tuple[EncoderSpec, ...]:
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


def parse_aux(value: str) -> tuple[str, ...]:
    from unified_bench.tasks.unified import AUX_METRICS

    if value.strip().lower() in ("", "none"):
        return ()
    chosen = tuple(a.strip() for a in value.split(",") if a.strip())
    for a in chosen:
        if a not in AUX_METRICS:
            raise SpecError(f"Unknown auxiliary metric '{a}'.", f"Use a subset of {','.join(AUX_METRICS)} or 'none'.")
    return chosen


def config_from_args(args: argparse.Namespace):
    from unified_bench.tasks.unified import UnifiedConfig

    for flag, value in (("--height", args.height), ("--width", args.width), ("--steps", args.steps),
                        ("--max-new-tokens", args.max_new_tokens), ("--encoder-batch-size", args.encoder_batch_size)):
        if value is not None and value < 1:
            raise SpecError(f"{flag} must be a positive integer (got {value}).", f"Pass {flag} 1 or more.")
    if args.temperature < 0:
        raise SpecError(f"--temperature must be 0 (greedy) or positive (got {args.temperature}).",
                        "Pass --temperature 0 for greedy decoding or e.g. 0.7 for sampling.")
    explicit = args.height is not None or args.width is not None
    height = args.height or args.width or 1024
    width = args.width or args.height or 1024
    return UnifiedConfig(
        caption=CaptionSettings(
            args.caption_prompt, args.max_new_tokens, args.temperature,
            top_k=args.top_k, top_p=args.top_p, repetition_penalty=args.repetition_penalty,
        ),
        generation=GenerationSettings(
            height, width, args.steps, args.guidance,
            temperature=args.image_temperature, top_k=args.image_top_k,
        ),
        size_policy="explicit" if explicit else "protocol",
        caption_source="reference" if getattr(args, "reference_captions", False) else "model",
        encoders=parse_encoders(args.encoders, args.encoder_checkpoint),
        aux=parse_aux(args.aux),
        lpips_pretrained_trunk=not args.lpips_random_trunk,
        encoder_batch_size=args.encoder_batch_size,
        encoder_dtype=args.encoder_dtype,
    )
