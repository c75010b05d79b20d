"""How many images one Dask worker decodes at a time, whatever its fetch concurrency.

Why: fetching wants many threads (each spends most of its time waiting on the network), but
decode + resize + hash + encode is CPU work, and 16 threads doing it at once in one process fight
over the GIL. Measured on 2 cores over loopback HTTP, 16 fetch threads per process: letting one
image at a time into the CPU part cut the CPU per image by 17% (3.2 -> 2.7 ms). So fetch threads
queue for a CPU slot, and a worker has as many slots as it has task threads (its share of the
machine's cores; LocalCluster gives each worker one).
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


def cpu_slots() -> threading.BoundedSemaphore:
    """The calling Dask worker's CPU slots (one set per worker, also when several share a process).

    Call it from the task's own thread: the worker is found through the task's context, which
    threads started by the task do not inherit. Outside Dask: one slot per CPU of the machine."""
    try:
        from distributed import get_worker

        worker = get_worker()
        key, n = worker.id, worker.state.nthreads
    except (ImportError, ValueError):  # not running inside a Dask task
        key, n = "", os.cpu_count() or 1
    with _lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(max(1, n))
        return _slots[key]
