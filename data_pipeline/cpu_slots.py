"""How many images one Dask worker decodes at a time, whatever its fetch concurrency.

Why: fetching wants many threads (each spends most of its time waiting on the network), but
decode + resize + hash + encode is CPU work, and 16 threads doing it at once in one process fight
over the GIL. Measured over loopback HTTP with 16 fetch threads: one process on 2 cores used 17%
less CPU per image with one slot (3.2 -> 2.7 ms); in the default LocalCluster (one single-thread
worker per core) the saving is 2-3%.

How many: as many as the cores this process may run on (``os.sched_getaffinity``), at least the
worker's task threads. Not one per task thread: a build has few, large tasks (a shard each, then
pieces of 250 inputs: ``stages.ingest``), so at the end of a build one worker can still be ingesting
while the others have nothing left to do; with one slot it decoded on one core while the rest of the
machine idled (img2dataset's 16 threads per process use them). While every worker is busy, the extra
slots only oversubscribe the cores, which the kernel shares out (one slot per worker measured the
same on photos, pieces included: 18.4-19.0 s either way); the GIL contention that cost 17% above
came from 16 CPU threads per process, not 2. (benchmarks/bench_ingest.py --corpus photos, 3 shards on 2 workers: 35.2 -> 29.8 s best of 2 noisy
rounds; thumbnails, 8 shards: unchanged.)
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


def _cores() -> int:
    """The CPUs this process may run on (a container's or ``taskset``'s limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_slots() -> threading.BoundedSemaphore:
    """The calling Dask worker's CPU slots (one set per worker, also when several share a process).

    Call it from the task's own thread: the worker is found through the task's context, which
    threads started by the task do not inherit. Outside Dask: one slot per CPU of the machine."""
    try:
        from distributed import get_worker

        worker = get_worker()
        key, n = worker.id, max(worker.state.nthreads, _cores())
    except (ImportError, ValueError):  # not running inside a Dask task
        key, n = "", _cores()
    with _lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(max(1, n))
        return _slots[key]
