"""One build at a time per output folder: an exclusive ``flock`` on ``OUT/.unified-data.lock``.

Why: two builds writing one folder (a second terminal, a re-submitted cluster job) would both commit
shards, both rewrite the manifest and both delete each other's temp files. ``flock`` is released by
the kernel when the holder dies, so a killed build never leaves a stale lock behind, and Linux maps
it onto NFS byte-range locks, so it also holds across machines sharing the folder over NFS. The file
records who holds it, for the refusal message.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from data_pipeline.errors import OutputDirError

LOCK_FILE = ".unified-data.lock"


@contextlib.contextmanager
def build_lock(out_dir: str | Path) -> Iterator[Path]:
    """Hold the folder's build lock for the duration of the ``with`` block, or raise OutputDirError."""
    import fcntl

    path = Path(out_dir) / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            raise OutputDirError(f"Another build is writing to '{out_dir}' ({holder}).",
                                 "wait for it to finish (re-running then resumes), or use another --out") from None
        # The holder deletes the file before unlocking: a lock won on a file that is no longer the one
        # at ``path`` guards nothing (a third build would lock the new file). Try again on the new one.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                           time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # before unlocking: a waiting build then creates a fresh file
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
