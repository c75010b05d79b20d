"""Benchmark: batched GenEval scoring (detection + colour) vs one image at a time (the official loop).

Why: the official scorer runs Mask2Former on one image, then CLIP on one clause's crops, then the next
image. ``GenevalScorer.score_batch`` detects a whole batch of same-size images at once and classifies
every crop of the batch in batched CLIP calls. This builds both models at their REAL size with random
weights (Mask2Former from its default, Swin-S-sized config with the 80 COCO labels, saved and loaded
through ``from_pretrained``; open_clip ``ViT-L-14-quickgelu`` built by open_clip without weights), scores
the same images and prompts both ways, checks the verdicts agree, and prints both wall times and the
ratio. Judge thresholds are 0 (``demo_judge_options``): random weights score far below 0.3, and this way
every coloured clause really reaches CLIP.

    python benchmarks/bench_geneval_detection.py [--images 8] [--batch 4] [--size 512] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def _prompt_for(tag: str, names: list[str]) -> dict:
    """A GenEval-schema prompt of ``tag`` about the (most confidently) detected classes ``names``."""
    a, b = names[0], names[1] if len(names) > 1 else names[0]
    include = {
        "single_object": [{"class": a, "count": 1}],
        "two_object": [{"class": a, "count": 1}, {"class": b, "count": 1}],
        "counting": [{"class": a, "count": 2}],
        "colors": [{"class": a, "count": 1, "color": "red"}],
        "position": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": ["left of", 0]}],
        "color_attr": [{"class": a, "count": 1, "color": "blue"}, {"class": b, "count": 1, "color": "green"}],
    }[tag]
    record = {"tag": tag, "include": include, "prompt": f"a {tag} prompt about {a} and {b}"}
    if tag == "counting":
        record["exclude"] = [{"class": a, "count": 3}]
    return record


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images scored (one prompt each)")
    parser.add_argument("--batch", type=int, default=4, help="detector batch size of the batched run")
    parser.add_argument("--colour-batch", type=int, default=32, help="CLIP batch size of the batched run")
    parser.add_argument("--size", type=int, default=512, help="image side (GenEval images are often 512)")
    parser.add_argument("--input-size", type=int, default=384, help="Mask2Former processor shortest edge")
    parser.add_argument("--max-per-image", type=int, default=100,
                        help="Mask2Former (query, class) pairs whose masks are post-processed (mmdet: 100). Random "
                             "weights pass all 100 through the 0 thresholds; a real checkpoint keeps only the few "
                             "above 0.3, so a smaller value approximates its post-processing cost")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from unified_bench.demo.geneval import build_mask2former, demo_judge_options
    from unified_bench.metrics.detectors.mask2former import Mask2FormerDetector
    from unified_bench.tasks.geneval.colours import ColourClassifier
    from unified_bench.tasks.geneval.prompts import TAGS
    from unified_bench.tasks.geneval.scoring import GenevalScorer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8))
              for _ in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = build_mask2former(f"{tmp}/m2f", tiny=False, image_size=args.input_size)
        kw = {"device": args.device, "score_floor": -1.0, "max_per_image": args.max_per_image}
        batched_det = Mask2FormerDetector(str(path), batch_size=args.batch, **kw)
        single_det = Mask2FormerDetector(str(path), batch_size=1, **kw)
    # ViT-L-14-quickgelu at real size, random weights (no download)
    colours_b = ColourClassifier("ViT-L-14-quickgelu", pretrained=None, device=args.device,
                                 batch_size=args.colour_batch)
    colours_s = ColourClassifier.__new__(ColourClassifier)
    colours_s.__dict__.update(colours_b.__dict__)  # same weights, its own text-embedding cache
    colours_s._text = {}
    build_s = time.perf_counter() - t0
    n_det = sum(p.numel() for p in batched_det.model.parameters()) / 1e6
    n_clip = sum(p.numel() for p in colours_b.model.parameters()) / 1e6
    batched = GenevalScorer(batched_det, colours_b, demo_judge_options())
    single = GenevalScorer(single_det, colours_s, demo_judge_options())

    # Untimed pre-pass (also the warm-up): a random detector reports only a few of the 80 classes per image
    # (its top 100 query x class pairs), so each image gets a prompt about classes it did detect, cycling
    # through the six tags; every coloured clause then really goes to CLIP.
    detected = [sorted(d, key=lambda c: -max(x.score for x in d[c])) for d in batched_det.detect(images)]
    prompts = [_prompt_for(TAGS[i % 6], names) for i, names in enumerate(detected)]
    items = list(zip(prompts, images, strict=True))
    single.score_one_by_one(items[:1])
    colours_b._text.clear()
    colours_s._text.clear()

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    out_b = batched.score_batch(items)
    sync()
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    out_s = single.score_one_by_one(items)
    sync()
    t_single = time.perf_counter() - start

    crops = sum(len(c.get("colours", [])) for r in out_b for c in r["clauses"])
    agree = sum((b["correct"], b["reason"]) == (s["correct"], s["reason"]) for b, s in zip(out_b, out_s, strict=True))
    print(f"models: Mask2Former {n_det:.1f}M params (input {args.input_size}px), open_clip ViT-L-14-quickgelu "
          f"{n_clip:.1f}M params; random weights; max_per_image {args.max_per_image}; built+loaded in {build_s:.1f}s; device {args.device}")
    print(f"{args.images} images of {args.size}x{args.size}, {crops} colour crops, verdicts agree: "
          f"{agree}/{len(items)}")
    print(f"one image at a time (official loop): {t_single:.2f} s ({t_single / args.images:.2f} s/image)")
    print(f"batched (detector batch {args.batch}, CLIP batch {args.colour_batch}): {t_batched:.2f} s "
          f"({t_batched / args.images:.2f} s/image)")
    print(f"speed-up: {t_single / t_batched:.2f}x")
    return {"single_s": t_single, "batched_s": t_batched, "ratio": t_single / t_batched}


if __name__ == "__main__":
    main()
