"""Scaling of `unified-data build`: 1 vs 2 Dask workers, and peak memory when the input grows 10x.

Both parts run the real CLI as a subprocess on a local image folder (no HTTP server competing for
the CPU), captioner off. Throughput is reported end to end and for the work phases alone (ingest
+ write, read from the build's "Timings" log line), since cluster start-up is a fixed cost.
Peak memory is the largest sum of RSS over the CLI process and all its children (scheduler,
nannies, workers), sampled every 50 ms with psutil.

    python benchmarks/bench_scaling.py --n 800 --mem-n 400
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import make_images  # noqa: E402

log = logging.getLogger("bench_scaling")


def run_build(src: Path, out: Path, workers: int, per_shard: int, threads: int) -> tuple[float, float, int]:
    """(wall seconds, ingest+write seconds, peak RSS bytes of the whole process tree)."""
    import psutil
    import yaml

    recipe = {"name": "scaling", "sources": [{"type": "folder", "path": str(src)}],
              "sharding": {"samples_per_shard": per_shard},
              "image": {"size": 128, "resize_mode": "center_crop", "format": "jpg", "quality": 95},
              "fetch": {"threads": threads}, "filters": {"exact_dedup": True, "near_dup_distance": 4}, "captioner": None}
    rpath = out.parent / f"{out.name}.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "data_pipeline.cli", "build", str(rpath), "--out", str(out),
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(err[-3000:])
    m = re.search(r"ingest ([\d.]+)s, dedup ([\d.]+)s, write ([\d.]+)s", err)
    work = float(m.group(1)) + float(m.group(2)) + float(m.group(3)) if m else float("nan")
    return wall, work, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=800, help="images for the 1 vs 2 worker comparison")
    ap.add_argument("--mem-n", type=int, default=400, help="small input for the memory test (large = 10x)")
    ap.add_argument("--per-shard", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1,
                    help="fetch/decode threads per worker; Pillow releases the GIL, so with >1 a single worker "
                         "already uses every core of a small machine and 1-vs-2 workers measures nothing")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="bench_scaling_"))
    try:
        log.info("making %d images ...", args.n)
        make_images(tmp / "img", args.n)
        results = {w: run_build(tmp / "img", tmp / f"out{w}", w, args.per_shard, args.threads) for w in (1, 2)}
        (w1, k1, _), (w2, k2, _) = results[1], results[2]
        print(f"1 vs 2 workers, {args.n} JPEGs 512x384 -> center_crop 128, {args.per_shard}/shard, "
              f"{args.threads} thread(s) per worker:")
        print(f"  1 worker : wall {w1:6.2f} s ({args.n / w1:6.1f} img/s), work phases {k1:6.2f} s ({args.n / k1:6.1f} img/s)")
        print(f"  2 workers: wall {w2:6.2f} s ({args.n / w2:6.1f} img/s), work phases {k2:6.2f} s ({args.n / k2:6.1f} img/s)")
        print(f"  speed-up: wall {w1 / w2:.2f}x, work phases {k1 / k2:.2f}x (goal >= 1.7x)")

        small, large = args.mem_n, 10 * args.mem_n
        log.info("making %d + %d images ...", small, large)
        make_images(tmp / "small", small, size=(256, 192), seed=1)
        make_images(tmp / "large", large, size=(256, 192), seed=2)
        _, _, p_small = run_build(tmp / "small", tmp / "msmall", 2, args.per_shard, 4)
        _, _, p_large = run_build(tmp / "large", tmp / "mlarge", 2, args.per_shard, 4)
        print(f"peak memory (CLI + scheduler + 2 workers), {args.per_shard}/shard:")
        print(f"  {small:6d} inputs: {p_small / 2**20:7.1f} MiB")
        print(f"  {large:6d} inputs: {p_large / 2**20:7.1f} MiB  (ratio {p_large / p_small:.2f}x for 10x input)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
