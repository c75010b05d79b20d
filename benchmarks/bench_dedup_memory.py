"""Client memory and time of the job-wide dedup pass: the previous in-memory state vs ``DedupIndex``.

Why: issue 9 asks for a 10M-input plan to run with a client under 2 GB (1M inputs under 1 GB), and
the dedup state used to be dicts on the client (~0.4 KB per kept input). Each (implementation, size)
runs in a fresh subprocess: synthetic hashes (distinct sha256s, random 64-bit phashes, 1% exact
duplicates of an earlier input), exact + near dedup at d=4, 1000 inputs per shard, decided shard by
shard through ``IncrementalDedup.decide`` (each shard's hashes are generated just before its
``decide``, so the inputs themselves are not held). Printed: peak RSS (``getrusage``), RSS growth
during the pass, its time, and the time of a resume (a fresh object loading every shard's persisted
decisions, as the executor does for committed shards, in the same process: the pass's state is
released first, so "peak with it" is an upper bound); then the linear extrapolation to 10M of the
pass's peak RSS and time.

"old" is the previous ``IncrementalDedup`` (dict/array filters of ``filters/dedup.py``, state rebuilt
on resume by replaying every persisted hash), kept below as ``OldIncrementalDedup`` for this
comparison only.

    python benchmarks/bench_dedup_memory.py --sizes 100000 1000000
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


class OldIncrementalDedup:
    """REFERENCE ONLY: the in-memory dedup state before stages/dedup_index.py (same decisions)."""

    def __init__(self, out_dir, cfg) -> None:
        from data_pipeline.filters import dedup_filters

        self.out, self.filters, self.next_index = Path(out_dir), dedup_filters(cfg), 0

    def _run(self, hashes):
        from data_pipeline.stages.dedup_pass import _entry

        entries = [_entry(*h) for h in hashes]
        for f in self.filters:
            f.apply(entries)
        return {e.id: {"reason": e.reason, "detail": e.detail, "duplicate_of": e.duplicate_of}
                for e in entries if not e.pending}

    def load(self, index):
        from data_pipeline.stages.dedup_pass import decision_path

        try:
            data = json.loads(decision_path(self.out, index).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        self._run(data["hashes"])
        self.next_index += 1
        return data["rejected"]

    def decide(self, index, hashes):
        from data_pipeline.atomic import atomic_write_json
        from data_pipeline.stages.dedup_pass import decision_path

        got = self.load(index)
        if got is not None:
            return got
        rejected = self._run(hashes)
        path = decision_path(self.out, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"shard": index, "filters": [f.name for f in self.filters], "hashes": hashes,
                                 "rejected": rejected}, indent=None)
        self.next_index += 1
        return rejected


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        import os

        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(impl: str, n: int, folder: str) -> None:
    import hashlib
    import random
    import resource
    from types import SimpleNamespace

    sys.path.insert(0, str(REPO))
    from data_pipeline.stages.dedup_pass import IncrementalDedup
    from data_pipeline.stages.ingest import stage_paths

    cls = IncrementalDedup if impl == "new" else OldIncrementalDedup
    cfg = SimpleNamespace(exact_dedup=True, near_dup_distance=4)
    out = Path(folder)
    (out / "_stage" / "dedup").mkdir(parents=True)
    per_shard = 1000
    rng = random.Random(0)
    dedup = cls(out, cfg)
    rss0 = _rss()
    t0 = time.perf_counter()
    n_dups = 0
    for index in range((n + per_shard - 1) // per_shard):
        hashes = []
        for i in range(index * per_shard, min(n, (index + 1) * per_shard)):
            k = rng.randrange(i) if i and rng.random() < 0.01 else i  # 1% exact copies of an earlier input
            hashes.append([hashlib.sha1(str(i).encode()).hexdigest()[:20], hashlib.sha256(str(k).encode()).hexdigest(),
                           f"{rng.getrandbits(64):016x}"])
        stage_paths(out, index)["parquet"].touch()  # decide() checks the stage exists
        n_dups += len(dedup.decide(index, hashes))
    t_pass = time.perf_counter() - t0
    rss_end, peak_pass = _rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del dedup
    t0 = time.perf_counter()
    again = cls(out, cfg)
    for index in range((n + per_shard - 1) // per_shard):
        again.load(index)
    t_resume = time.perf_counter() - t0
    disk = sum(p.stat().st_size for p in (out / "_stage" / "dedup").iterdir() if not p.name.endswith(".json"))
    print(json.dumps({"impl": impl, "n": n, "n_dups": n_dups, "t_pass": t_pass, "t_resume": t_resume, "rss0": rss0,
                      "rss_end": rss_end, "rss_peak": peak_pass,
                      "rss_peak_resume": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "index_disk": disk}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--impls", nargs="+", default=["old", "new"], choices=["old", "new"])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return
    rows = {}
    for n in args.sizes:
        for impl in args.impls:
            with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
                got = subprocess.run([sys.executable, __file__, "--child", impl, str(n), tmp], capture_output=True,
                                     text=True, check=True)
            rows[impl, n] = r = json.loads(got.stdout.strip().splitlines()[-1])
            print(f"{impl:>4} {n:>9} inputs: pass: peak RSS {r['rss_peak'] / 2**20:5.0f} MB (start "
                  f"{r['rss0'] / 2**20:3.0f} MB, end {r['rss_end'] / 2**20:5.0f} MB), {r['t_pass']:5.1f} s; resume "
                  f"{r['t_resume']:5.1f} s (peak with it {r['rss_peak_resume'] / 2**20:5.0f} MB); index on disk "
                  f"{r['index_disk'] / 2**20:4.0f} MB; {r['n_dups']} dups", flush=True)
    if len(args.sizes) >= 2:
        a, b = sorted(args.sizes)[-2:]
        print(f"\nLinear extrapolation to 10M inputs (from {a} and {b}):")
        for impl in args.impls:
            ra, rb = rows[impl, a], rows[impl, b]
            slope = (rb["rss_peak"] - ra["rss_peak"]) / (b - a)
            mem = rb["rss_peak"] + slope * (10_000_000 - b)
            t_slope = (rb["t_pass"] - ra["t_pass"]) / (b - a)
            t = rb["t_pass"] + t_slope * (10_000_000 - b)
            print(f"{impl:>4}: peak RSS ~{mem / 2**30:5.2f} GB ({slope:4.0f} B per input), pass ~{t / 60:5.1f} min"
                  f" (target: < 2 GB; 1M measured {rb['rss_peak'] / 2**30:.2f} GB, target < 1 GB)")


if __name__ == "__main__":
    main()
