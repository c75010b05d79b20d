"""CPU an idle local Dask cluster burns: Dask's default periodic work vs ours (``LOCAL_WORKER_CONFIG``).

Why it matters: on a 2-core machine the pipeline's build is CPU-bound, so whatever the scheduler, the
nannies and the workers spend on timers comes straight out of image throughput. Each round starts a
2-worker LocalCluster (processes, one thread each, profiling off in both so only the timers differ),
lets it settle, and sums the CPU time of the client process and its children over ``--seconds``.
Rounds alternate the two configurations; best-of and median are printed.

    python benchmarks/bench_cluster_idle.py --seconds 10 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time


def idle_cpu(config: dict, seconds: float, workers: int) -> float:
    """CPU seconds used by an idle ``workers``-worker LocalCluster (all its processes) over ``seconds``."""
    import dask
    import psutil
    from distributed import Client, LocalCluster

    with dask.config.set(config):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster):
            time.sleep(2.0)  # start-up settled
            procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
            before = sum(sum(p.cpu_times()[:2]) for p in procs)
            time.sleep(seconds)
            return sum(sum(p.cpu_times()[:2]) for p in procs) - before


def main() -> None:
    from unified_bench.core.dask_workers import LOCAL_WORKER_CONFIG

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    configs = {"Dask defaults (profiler off)": {"distributed.worker.profile.enabled": False},
               "LOCAL_WORKER_CONFIG": LOCAL_WORKER_CONFIG}
    got: dict[str, list[float]] = {name: [] for name in configs}
    for rnd in range(args.repeat):
        for name, cfg in configs.items():
            got[name].append(idle_cpu(cfg, args.seconds, args.workers))
        print(f"round {rnd + 1}: " + ", ".join(f"{n} {v[-1]:.2f} s" for n, v in got.items()), flush=True)
    for name, vals in got.items():
        print(f"  {name:30s}: CPU over {args.seconds:.0f} s idle, best {min(vals):.2f} s / median "
              f"{statistics.median(vals):.2f} s = {statistics.median(vals) / args.seconds * 100:.1f}% of one core")
    (base, ours) = (statistics.median(v) for v in got.values())
    print(f"  ratio defaults / ours (median): {base / ours:.2f}x less idle CPU")


if __name__ == "__main__":
    main()
