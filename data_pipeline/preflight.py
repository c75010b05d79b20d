"""Checks run on every Dask worker before any ingest: the output folder, local sources, the API key.

Why: on a real cluster the workers are other machines. If ``--out`` is not on a filesystem they all
mount at the same path, each worker writes its shards into its own private copy and the build fails
much later with a misleading "missing file"; if the captioner's API key is exported only in the shell
that launched the client, every caption request fails after the whole ingest was paid for. Both are
found here in a second, with one message naming the workers and the fix.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.errors import DataPipelineError

if TYPE_CHECKING:
    from distributed import Client

    from data_pipeline.plan import ShardPlan
    from data_pipeline.recipe import Recipe

SHARED_FS_FIX = ("put --out (and local sources) on a filesystem every worker mounts at the same path (NFS, "
                 "Lustre, GPFS, a shared PVC), see data_pipeline/README.md 'Running on a cluster'")


def worker_check(out_dir: str, token: str, paths: list[str], api_key_env: str | None) -> list[str]:
    """Runs on a worker: problems it sees (empty = fine). Reads the client's token file, so a folder
    that merely exists under the same name on the worker's own disk is still caught."""
    problems = []
    tok = Path(out_dir) / token
    try:
        if tok.read_text(encoding="utf-8") != token:
            problems.append(f"output folder {out_dir} holds a different {token}")
    except OSError:
        problems.append(f"cannot see the output folder {out_dir} (the client's marker file is not there)")
    if not os.access(out_dir, os.W_OK):
        problems.append(f"cannot write to {out_dir}")
    problems += [f"cannot read local source {p}" for p in paths if not os.access(p, os.R_OK)]
    if api_key_env and not os.environ.get(api_key_env):
        problems.append(f"environment variable {api_key_env} (captioner API key) is not set")
    return problems


def require_shared_out(out_dir: str) -> None:
    """Called by every task before it writes: the client wrote the plan (``plan/head.json``) into the
    output folder first, so a worker that does not see it (one that joined after the preflight without
    the shared mount) fails with a clear message instead of writing shards onto its own disk."""
    from data_pipeline.plan import PLAN_HEAD

    if not (Path(out_dir) / PLAN_HEAD).is_file():
        import socket

        raise DataPipelineError(f"Dask worker on {socket.gethostname()} does not see the output folder {out_dir} "
                                f"(no {PLAN_HEAD} there).", SHARED_FS_FIX)


def local_paths(plan: ShardPlan) -> list[str]:
    """The first local file of each local source (path records, and tar members' tar files), as the
    planning saw them while streaming the sources (``ShardPlan.local_paths``, kept in the plan head):
    every source that has local records is covered wherever it lands in the plan, without a scan of
    the shard files. Sources with no local records (URL lists) contribute nothing."""
    return list(plan.local_paths)


def check_workers(client: Client, recipe: Recipe, out: Path, plan: ShardPlan) -> None:
    """Raise one DataPipelineError naming each worker's problems, or return when every worker is fit."""
    from data_pipeline.atomic import atomic_write_bytes

    cap = recipe.captioner
    key_env = cap.api_key_env if cap is not None and cap.backend == "openai" else None
    token = f".preflight-{uuid.uuid4().hex[:12]}"
    atomic_write_bytes(out / token, token.encode())
    try:
        found = client.run(worker_check, str(out), token, local_paths(plan), key_env)
    finally:
        (out / token).unlink(missing_ok=True)
    bad = {w: p for w, p in found.items() if p}
    if not bad:
        return
    lines = [f"  {w}: {'; '.join(p)}" for w, p in sorted(bad.items())]
    key_only = all(all("environment variable" in x for x in p) for p in bad.values())
    fix = (f"export {key_env}=... in the environment of every dask worker (and restart them)" if key_only
           else SHARED_FS_FIX)
    raise DataPipelineError(f"{len(bad)} of {len(found)} Dask worker(s) cannot run this build:\n" + "\n".join(lines),
                            fix)
