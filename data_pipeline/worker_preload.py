"""Imported once by the fork server that starts LocalCluster workers (see executor.start_worker_server).

Importing this module *is* its job: it loads the worker-side libraries, then freezes the garbage
collector's view of them. Why freeze: every worker is forked from this warm state, and frozen
objects are skipped by the workers' full collections, including the final one at exit, so the
inherited heap (Dask, pandas, scipy, Pillow) is neither re-scanned nor copied page by page.
This is the use the ``gc.freeze`` documentation describes ("right before fork()").
"""

from __future__ import annotations

import gc
import importlib

from data_pipeline.executor import WORKER_MODULES

for _name in WORKER_MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:  # an optional extra: the worker reports it if a task really needs it
        pass
gc.freeze()
