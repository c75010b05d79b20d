"""How many images one Dask worker decodes at a time, whatever its fetch concurrency.

Why: fetching wants many threads (each spends most of its time waiting on the network), but
decode + resize + hash + encode is CPU work, and 16 threads doing it at once in one process fight
over the GIL. Measured over loopback HTTP with 16 fetch threads: one process on 2 cores used 17%
less CPU per image with one slot (3.2 -> 2.7 ms); in the default LocalCluster (one single-thread
worker per core) the saving is 2-3%. A worker has as many slots as task threads, which is how many
cores Dask means it to use; it no longer spreads Pillow's GIL-free C code over more cores than that.
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
