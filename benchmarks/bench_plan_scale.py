"""Client-side cost of a big plan: peak memory, plan size on disk and time of the client's part of a
build (stream the URL list into the plan's pieces, ``OUT/plan/NNNNN.jsonl`` + ``head.json``, shuffled
out of core; then the job-wide dedup pass over every shard's hashes, reading each shard's records from
its plan file as the executor does), measured at growing input counts and extrapolated linearly to
10M inputs.

Why: the client holds the plan head (not the records) and the carried dedup state (exact: one entry
per kept sample; near: the multi-index bands). This is the figure issue 9 asks to bring under 1 GB at
1M inputs and 2 GB at 10M. Each size runs in a fresh subprocess (peak RSS from ``getrusage``), with synthetic
hashes (distinct sha256s, random 64-bit phashes; 1% exact duplicates), so no image is fetched.
Memory is extrapolated linearly, time with the growth exponent measured between the two largest sizes.
The targets are printed beside the measurement, with the ratio.

    python benchmarks/bench_plan_scale.py --sizes 100000 300000 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(n: int, folder: str) -> None:
    """Runs in the subprocess: write a URL list, plan it, then the dedup pass; print JSON figures."""
    import hashlib
    import random
    import resource

    sys.path.insert(0, str(REPO))
    from data_pipeline.plan import prepare_plan
    from data_pipeline.recipe import recipe_from_dict
    from data_pipeline.stages.dedup_pass import IncrementalDedup
    from data_pipeline.stages.ingest import stage_paths

    root = Path(folder)
    with open(root / "urls.jsonl", "w") as fh:
        for i in range(n):
            fh.write(f'{{"url": "https://img{i % 977}.example.org/a/b/{i:09d}.jpg", "alt": "alt text {i}"}}\n')
    recipe = recipe_from_dict({"sources": [{"type": "jsonl", "path": "urls.jsonl", "caption_column": "alt"}],
                               "sharding": {"samples_per_shard": 1000, "shuffle_seed": 0},
                               "filters": {"exact_dedup": True, "near_dup_distance": 4}}, base_dir=root)
    out = root / "out"
    t0 = time.perf_counter()
    plan, _ = prepare_plan(recipe, out)
    t_plan = time.perf_counter() - t0
    rss_plan = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    plan_bytes = sum(p.stat().st_size for p in plan.folder.iterdir())
    rng = random.Random(0)
    dedup = IncrementalDedup(out, recipe.filters)
    (out / "_stage" / "dedup").mkdir(parents=True)
    t0 = time.perf_counter()
    for shard in plan.shards:  # read one shard file at a time, like the executor's ingest window
        hashes = []
        for r in shard.records:
            k = int(r.id, 16) % (n // 100 + 1) if rng.random() < 0.01 else int(r.id, 16)  # 1% exact dups
            hashes.append([r.id, hashlib.sha256(str(k).encode()).hexdigest(), f"{rng.getrandbits(64):016x}"])
        stage_paths(out, shard.index)["parquet"].touch()  # decide() checks the stage exists
        dedup.decide(shard.index, hashes)
    t_dedup = time.perf_counter() - t0
    print(json.dumps({"n": n, "t_plan": t_plan, "t_dedup": t_dedup, "rss_plan": rss_plan,
                      "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "plan_bytes": plan_bytes, "n_plan_files": sum(1 for _ in plan.folder.iterdir())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(int(args.child[0]), args.child[1])
        return
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
            got = subprocess.run([sys.executable, __file__, "--child", str(n), tmp], capture_output=True, text=True,
                                 check=True)
        rows.append(json.loads(got.stdout.strip().splitlines()[-1]))
    gb = 1024 ** 3
    print(f"{'inputs':>10} {'plan s':>8} {'dedup s':>8} {'peak RSS: plan':>15} {'+ dedup pass':>16} "
          f"{'plan on disk':>13}")
    for r in rows:
        print(f"{r['n']:>10} {r['t_plan']:>8.1f} {r['t_dedup']:>8.1f} {r['rss_plan'] / gb:>13.2f} GB "
              f"{r['rss_peak'] / gb:>13.2f} GB {r['plan_bytes'] / 1e6:>7.0f} MB in {r['n_plan_files']} files")
    if len(rows) >= 2:  # linear fit through the two largest sizes
        a, b = rows[-2], rows[-1]
        per_input = (b["rss_peak"] - a["rss_peak"]) / (b["n"] - a["n"])
        base = b["rss_peak"] - per_input * b["n"]
        # time: the growth exponent measured between the two sizes (dedup is not linear in n)
        import math

        t_a, t_b = a["t_plan"] + a["t_dedup"], b["t_plan"] + b["t_dedup"]
        k = math.log(t_b / t_a) / math.log(b["n"] / a["n"])
        print(f"time grows as n^{k:.2f} between {a['n']:,} and {b['n']:,} inputs")
        plan_per_input = (b["rss_plan"] - a["rss_plan"]) / (b["n"] - a["n"])
        plan_base = b["rss_plan"] - plan_per_input * b["n"]
        print(f"planning alone: {plan_per_input:.0f} bytes of client RSS per input, extrapolated 10M inputs: "
              f"{(plan_base + plan_per_input * 10_000_000) / gb:.2f} GB")
        for n, target in ((1_000_000, 1.0), (10_000_000, 2.0)):
            est = (base + per_input * n) / gb
            t_est = t_b * (n / b["n"]) ** k
            print(f"extrapolated {n:>10,} inputs: client peak {est:5.2f} GB (target < {target:.0f} GB: "
                  f"{est / target:.2f}x the target), plan {b['plan_bytes'] * n / b['n'] / 1e9:.2f} GB on disk, "
                  f"plan + dedup {t_est / 60:.0f} min")


if __name__ == "__main__":
    main()
