"""Benchmark: batched (batch 8) vs one-at-a-time captioning with the transformers captioner.

Why: the caption stage dominates the data pipeline's cost, and batching is its main lever.
This builds a small random-weight LLaVA offline (Llama text model, hidden 128 by default), loads
it through ``from_pretrained`` exactly as a hub model would be, captions the same images with
``batch_size=8`` and ``batch_size=1`` (greedy, fixed ``max_new_tokens``; random weights never emit
EOS so both runs generate the same number of tokens), checks the captions agree, and prints both
wall times and the speed-up.

    python benchmarks/bench_captioning.py [--images 32] [--hidden 128] [--layers 4] [--tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time

#: A prompt whose length in tiny-tokenizer tokens is close to what the real long prompt costs a real tokenizer.
SHORT_PROMPT = "Describe this image in great detail."


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64, help="max_new_tokens")
    parser.add_argument(
        "--long-prompt", action="store_true",
        help="use DEFAULT_LONG_CAPTION_PROMPT (the tiny tokenizer splits it into ~440 tokens, ~3.5x a real "
             "tokenizer, so prefill dominates); default is a short prompt",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from data_pipeline.captioners.base import CaptionerConfig
    from data_pipeline.captioners.transformers_vlm import TransformersCaptioner
    from unified_bench.demo.models import build_demo_vlm

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(args.images)]

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_demo_vlm(tmp, hidden_size=args.hidden, num_layers=args.layers)
        prompt = None if args.long_prompt else SHORT_PROMPT
        params = {"model": str(model_dir), "max_new_tokens": args.tokens, "temperature": 0.0, "prompt": prompt}
        batched = TransformersCaptioner(CaptionerConfig(batch_size=args.batch, **params))
        single = TransformersCaptioner(CaptionerConfig(batch_size=1, **params))
        n_params = sum(p.numel() for p in batched.model.parameters())
        batched.caption_batch(images[:2])  # warm-up (first-call allocations)
        single.caption_batch(images[:1])

        start = time.perf_counter()
        batched_results = batched.caption_batch(images)
        t_batched = time.perf_counter() - start
        start = time.perf_counter()
        single_results = single.caption_batch(images)
        t_single = time.perf_counter() - start

    same = sum(a.text == b.text for a, b in zip(batched_results, single_results, strict=True))
    lengths = {r.finish_reason for r in batched_results + single_results}
    print(f"model: tiny LLaVA, text hidden {args.hidden}, {args.layers} layers, {n_params / 1e6:.2f} M params; "
          f"{args.images} images, max_new_tokens {args.tokens}, greedy, {args.threads} torch threads, "
          f"{'long' if args.long_prompt else 'short'} prompt")
    print(f"batch {args.batch}:  {t_batched:7.2f} s  ({args.images / t_batched:6.1f} images/s)")
    print(f"batch 1:  {t_single:7.2f} s  ({args.images / t_single:6.1f} images/s)")
    print(f"speed-up: {t_single / t_batched:.2f}x   identical captions: {same}/{args.images}   "
          f"finish reasons: {sorted(lengths)}")
    if same != args.images:
        raise SystemExit("batched and one-at-a-time captions differ: the speed-up compares different work")
    return {"batched_s": t_batched, "single_s": t_single, "ratio": t_single / t_batched}


if __name__ == "__main__":
    main()
