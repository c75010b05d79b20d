"""``DaskExecutor``: the runner's batches on Dask workers (a local cluster or an existing scheduler).

Why an executor and not a second runner: the lifecycle (keys, seeds, fixed batches, resume,
per-item failures, writing the run directory, scoring) stays in ``runner/evaluate.py``; only the
adapter call moves. A ``BatchCall`` is plain picklable data, so it travels with the model spec and
the resolved runtime; each worker process loads the model once and keeps it (one model per
process, so one per GPU with ``--resources GPU=1`` workers); outputs (text, PNG bytes) come back to
the client, which stays the single writer of the run directory.

Failure model: a worker that dies loses only the batches it held. The scheduler re-runs them on
another worker (``distributed.scheduler.allowed-failures`` times); nothing was written for them,
because only the client writes, and in order. A batch that raises comes back as an exception and
the runner's usual fallback retries its items one at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from unified_bench.core.dask_workers import LOCAL_WORKER_CONFIG
from unified_bench.core.hashing import canonical_json
from unified_bench.errors import SpecError, UnifiedBenchError
from unified_bench.models.base import Capability
from unified_bench.runner.executor import BatchCall, call_adapter
from unified_bench.specs import ClusterSpec, ModelSpec, RunSpec, RuntimeOptions

if TYPE_CHECKING:
    from distributed import Client

    from unified_bench.models.base import ModelAdapter
    from unified_bench.runner.executor import Executor

log = logging.getLogger(__name__)

#: The worker resource a GPU worker advertises (``dask worker --resources GPU=1``).
GPU_RESOURCE = "GPU"

# ------------------------------------------------------------------------------ worker side
#: The model this worker process holds: {model key: adapter}; at most one entry (one per GPU).
_WORKER_MODELS: dict[str, ModelAdapter] = {}
_WORKER_LOCK = threading.Lock()


def model_key(model: ModelSpec, runtime: RuntimeOptions) -> str:
    """What makes two loaded models interchangeable: the spec and how it is loaded (not batch size)."""
    return canonical_json({"model": model.to_dict(), "device": runtime.device, "dtype": runtime.dtype,
                           "deterministic": runtime.deterministic})


def worker_adapter(model: ModelSpec, runtime: RuntimeOptions) -> ModelAdapter:
    """The worker's loaded model for ``model``: loaded on first use, then kept for every batch.

    A different model replaces the current one (closed first): a worker is sized for one model
    (one GPU), and the matrix sends its pairs one after another.
    """
    key = model_key(model, runtime)
    with _WORKER_LOCK:
        adapter = _WORKER_MODELS.get(key)
        if adapter is None:
            _release_locked()
            from unified_bench.models.loader import load_model
            from unified_bench.runner.determinism import enable_deterministic, seed_everything

            if runtime.deterministic:
                enable_deterministic()
            seed_everything(runtime.seed)
            adapter = load_model(model, runtime)
            _WORKER_MODELS[key] = adapter
        return adapter


def run_batch_on_worker(
    model: ModelSpec, runtime: RuntimeOptions, call: BatchCall, release_first: frozenset[Capability] = frozenset()
) -> list[dict[str, Any]]:
    """The Dask task: one batch on this worker's model; plain outputs back to the client.

    ``release_first``: capabilities whose stages are over (``DaskExecutor.release``); their weights
    leave this worker before the batch runs, so a composite's captioner is gone before its generator
    loads. ``ModelAdapter.release`` is idempotent, so every later batch may carry the same set.
    """
    adapter = worker_adapter(model, runtime)
    if release_first:
        adapter.release(release_first)
    return call_adapter(adapter, call)


def _release_locked() -> int:
    n = 0
    while _WORKER_MODELS:
        _, adapter = _WORKER_MODELS.popitem()
        adapter.close()
        n += 1
    return n


def worker_provenance_flags() -> dict[str, str]:
    """The provenance flags of this worker's model (e.g. a parameter its server refused)."""
    with _WORKER_LOCK:
        flags: dict[str, str] = {}
        for adapter in _WORKER_MODELS.values():
            flags |= adapter.provenance_flags()
        return flags


def release_worker_models() -> int:
    """Close the worker's model (before the client scores: judges may need that GPU memory)."""
    with _WORKER_LOCK:
        return _release_locked()


# ------------------------------------------------------------------------------ client side
class DaskExecutor:
    """Submits batch calls to Dask workers; implements ``ConcurrentExecutor``.

    ``resources`` is ``{"GPU": 1}`` when the run is on CUDA, so each batch runs on a worker that
    owns one GPU (and, with one thread per worker, one batch per GPU at a time).
    """

    def __init__(
        self,
        client: Client,
        model: ModelSpec,
        runtime: RuntimeOptions,
        in_flight_per_worker: int = 2,
        resources: dict[str, float] | None = None,
        on_close: Callable[[], None] | None = None,
        local_adapter: ModelAdapter | None = None,
    ) -> None:
        self.client = client
        self._local_adapter = local_adapter
        self.model = model
        self.runtime = runtime
        self.resources = resources
        self._on_close = on_close
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        self.max_in_flight = max(1, in_flight_per_worker * n_workers)
        #: capabilities whose stages are over: sent with every later batch (see ``release``)
        self._released: frozenset[Capability] = frozenset()

    def submit(self, call: BatchCall) -> Any:
        return self.client.submit(
            run_batch_on_worker, self.model, self.runtime, call, self._released,
            key=f"unified-bench-{call.stage}-{uuid.uuid4().hex}", pure=False, resources=self.resources,
        )

    def run(self, call: BatchCall) -> list[dict[str, Any]]:
        return self.submit(call).result()

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        """After a stage: free, here now and on each worker before its next batch, the weights no
        later stage needs (a composite's captioner before its generator loads).

        Why with the next batch and not a ``client.run`` to every worker now: that round trip (each
        worker's garbage collection included) blocked the client between stages while every worker
        idled, about 0.3 s per stage on the tiny demo models, a fixed cost that does not shrink with
        more workers. A worker that gets no later batch keeps the weights until ``close``.
        """
        if self._local_adapter is not None:
            self._local_adapter.release(capabilities_done)
        self._released = self._released | capabilities_done

    def provenance_flags(self) -> dict[str, str]:
        """The flags of the client's copy merged with every worker's: the workers did the work, so
        what happened during it (a served model that refused the seed) is known only there."""
        flags = self._local_adapter.provenance_flags() if self._local_adapter is not None else {}
        try:
            per_worker = self.client.run(worker_provenance_flags)
        except (OSError, TimeoutError) as exc:  # a worker gone: its flags went with it
            log.warning("could not ask every worker for its provenance flags: %s", exc)
            return flags
        for worker_flags in per_worker.values():
            flags |= worker_flags
        return flags

    def close(self) -> None:
        """Free the workers' models, the client's copy (loaded for the checks and identities), then
        (for a cluster this executor started) the cluster."""
        if self._local_adapter is not None:
            self._local_adapter.close()
        try:
            self.client.run(release_worker_models)
        except (OSError, TimeoutError) as exc:  # a worker gone at close: its memory went with it
            log.warning("could not release every worker's model: %s", exc)
        finally:
            if self._on_close is not None:
                self._on_close()


def cuda_device_count() -> int:
    """GPUs this machine's PyTorch sees (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise SpecError(
            "Dask is not installed, so --workers / --scheduler cannot be used.",
            "pip install 'dask[distributed]' (or unified-bench[data]), or run without --workers.",
        ) from exc
    return distributed


@contextlib.contextmanager
def dask_client(spec: ClusterSpec, device: str = "cpu") -> Iterator[Client]:
    """Connect to ``spec``'s scheduler, or start a local cluster that is closed on exit.

    Local cluster: one single-threaded worker process per ``--workers``; on CUDA each worker is
    pinned to its own GPU (``CUDA_VISIBLE_DEVICES``) and advertises ``GPU=1``.
    """
    distributed = _import_distributed()
    if spec.scheduler or spec.scheduler_file:
        try:
            client = distributed.Client(spec.scheduler, scheduler_file=spec.scheduler_file, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SpecError(
                f"Cannot connect to the Dask scheduler {spec.scheduler or spec.scheduler_file}: {exc}",
                "Check the address / scheduler file and that `dask scheduler` is running, or use --workers N.",
            ) from None
        log.info("connected to Dask scheduler %s (%d workers)", client.scheduler.address,
                 len(client.scheduler_info().get("workers", {})))
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    n = int(spec.workers or 1)
    on_gpu = device.startswith("cuda")
    n_gpus = cuda_device_count() if on_gpu else 0
    if on_gpu and n > n_gpus:
        raise SpecError(
            f"--workers {n} on CUDA needs {n} GPUs (one model per GPU), but this machine has {n_gpus}.",
            f"Pass --workers {n_gpus} or fewer.",
        )
    # The whole cluster lifetime runs inside these settings: a worker that dies is replaced by a new
    # Nanny, which reads the configuration when it starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": spec.allowed_failures, **LOCAL_WORKER_CONFIG}):
        if on_gpu:
            workers = {
                f"gpu-{i}": {"cls": distributed.Nanny, "options": {
                    "nthreads": 1, "resources": {GPU_RESOURCE: 1}, "env": {"CUDA_VISIBLE_DEVICES": str(i)},
                    "silence_logs": logging.WARNING}}
                for i in range(n)
            }
            scheduler = {"cls": distributed.Scheduler, "options": {"dashboard_address": ":0"}}
            cluster = distributed.SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING)
        else:
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.WARNING)
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(n)
                log.info("started a local Dask cluster of %d worker(s); dashboard: %s", n, client.dashboard_link)
                yield client
        finally:
            cluster.close()


def worker_resources(client: Client, device: str) -> dict[str, float] | None:
    """``{"GPU": 1}`` for a CUDA run (refused when no worker advertises a GPU), else None."""
    if not device.startswith("cuda"):
        return None
    workers = client.scheduler_info().get("workers", {})
    if not any(w.get("resources", {}).get(GPU_RESOURCE) for w in workers.values()):
        raise SpecError(
            "The run is on CUDA but no Dask worker advertises a GPU, so batches would never be scheduled.",
            "Start each worker with `dask worker --nthreads 1 --resources GPU=1 SCHEDULER` "
            "(one per GPU, CUDA_VISIBLE_DEVICES set), or pass --device cpu.",
        )
    return {GPU_RESOURCE: 1}


def client_executor_factory(client: Client, spec: ClusterSpec | None = None) -> Callable[..., Executor]:
    """An ``ExecutorFactory`` submitting to an open ``client`` (kept open: the caller owns it)."""
    per_worker = spec.in_flight_per_worker if spec is not None else 2

    def factory(adapter: ModelAdapter, run: RunSpec) -> Executor:
        if run.model is None:
            raise UnifiedBenchError("A Dask run needs a model spec to ship to the workers.", "Pass --model.")
        runtime = run.runtime.resolved()
        return DaskExecutor(client, run.model, runtime, per_worker, worker_resources(client, runtime.device),
                            local_adapter=adapter)

    return factory


def dask_executor_factory(spec: ClusterSpec) -> Callable[..., Executor]:
    """An ``ExecutorFactory`` that opens ``spec``'s cluster for one run and closes it with the executor."""

    def factory(adapter: ModelAdapter, run: RunSpec) -> Executor:
        if run.model is None:
            raise UnifiedBenchError("A Dask run needs a model spec to ship to the workers.", "Pass --model.")
        runtime = run.runtime.resolved()
        stack = contextlib.ExitStack()
        client = stack.enter_context(dask_client(spec, runtime.device))
        try:
            resources = worker_resources(client, runtime.device)
        except BaseException:
            stack.close()
            raise
        return DaskExecutor(client, run.model, runtime, spec.in_flight_per_worker, resources, on_close=stack.close,
                            local_adapter=adapter)

    return factory


def local_worker_pids(client: Client) -> dict[str, int]:
    """``{worker address: process id}`` (tests kill one to prove a lost batch is recomputed)."""
    return client.run(os.getpid)
