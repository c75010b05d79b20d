"""Dask settings for the local worker processes both packages start (evaluation and the data pipeline).

Why: the Nanny's default pre-spawn environment sets ``MALLOC_TRIM_THRESHOLD_=65536``, which also
fixes glibc's mmap threshold, so every buffer over 128 KB (an activation tensor, a decoded photo) is
mmapped and page-faulted afresh. Measured on this project's own work: the tiny demo Stable Diffusion
ran the same 8 batches in 1.55-1.61 s in a plain process and 2.04-2.19 s with that variable set; the
pipeline's decode + resize + phash + encode of ~1 MP photos took 15.1-15.4 ms per image without it and
19.9-20.5 ms with it. The statistical profiler (the dashboard's, a ``sys._current_frames()`` sample
every 10 ms) costs the task threads time too, and a garbage collection inside one of its samples once
deadlocked an in-process worker. Neither buys anything for these workers.

The event-loop health tick (every 20 ms in each scheduler, nanny and worker: 250 wake-ups a second on a
2-worker cluster) and the system monitor (dashboard CPU/memory/disk series, every 0.5 s) kept an idle
2-worker cluster at ~7% of one core; every 200 ms and 2 s: ~2-3% (``benchmarks/bench_cluster_idle.py``).
Both only feed the "event loop was unresponsive" warning (still given, at a 3 s limit) and dashboard
plots. The worker memory monitor (pause / terminate thresholds) keeps its 100 ms.
"""

from __future__ import annotations

from typing import Any

#: Passed to ``dask.config.set`` around the whole life of a local cluster (a worker that dies is
#: replaced by a new Nanny, which reads the config when it starts). ``None`` unsets a pre-spawn variable.
LOCAL_WORKER_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
}

def without_unset(environ: dict[str, Any]) -> dict[str, Any]:
    """A pre-spawn environment with the variables ``LOCAL_WORKER_CONFIG`` unsets removed."""
    prefix = "distributed.nanny.pre-spawn-environ."
    unset = {k[len(prefix):] for k, v in LOCAL_WORKER_CONFIG.items() if k.startswith(prefix) and v is None}
    return {k: v for k, v in environ.items() if k not in unset}
