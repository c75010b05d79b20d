"""Write one output shard: ``NNNNN.tar`` (if any sample was accepted) + ``NNNNN.parquet``, then
``NNNNN_stats.json`` LAST.

Why this order: the stats file is the commit marker. Tar and parquet are written to unique temp
names and moved into place with ``os.replace``; only then is the stats file (itself atomic)
written, recording sizes and sha256s. A shard without a valid stats file is redone from scratch,
so a kill at any point leaves either a complete shard or one that will be rewritten.
Tars are written with ``tarfile`` (importing webdataset would pull in torch on every
worker) and are deterministic (fixed mtime/owner), so redoing a shard reproduces the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from data_pipeline.atomic import atomic_write_json, commit, tmp_path_for
from data_pipeline.sample import ACCEPTED, Sample
from data_pipeline.writers.rows import write_rows
from data_pipeline.writers.sample_schema import sample_json, text_for
from unified_bench.core.hashing import sha256_file

TAR_MTIME = 1_700_000_000.0


def shard_paths(out_dir: str | Path, index: int) -> dict[str, Path]:
    out = Path(out_dir)
    return {"tar": out / f"{index:05d}.tar", "parquet": out / f"{index:05d}.parquet",
            "stats": out / f"{index:05d}_stats.json"}


class _HashingWriter:
    """The tar's file, hashed as it is written: the stats record its sha256 without reading 80 MB back."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh, self.sha256 = fh, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._fh.write(data)

    def tell(self) -> int:
        return self._fh.tell()


def _add_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    """Deterministic member: fixed mtime/owner/mode, so a redone shard has identical bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(TAR_MTIME), 0o444
    info.uname = info.gname = "data"
    tf.addfile(info, io.BytesIO(data))


def write_shard(out_dir: str | Path, index: int, samples: list[Sample], image_ext: str,
                extra_stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write tar, parquet and (last) stats for one shard; returns the stats dict.

    Every accepted sample gets ``KEY.<ext>``, ``KEY.txt`` ("" without a caption) and ``KEY.json`` of the
    fixed schema (``sample_schema``). A shard without accepted samples has no tar at all (an empty tar
    breaks webdataset and ``datasets``): its stats say ``"tar": null``."""
    paths = shard_paths(out_dir, index)
    paths["stats"].unlink(missing_ok=True)  # an old marker must not outlive the files it described
    accepted = [s for s in samples if s.status == ACCEPTED]
    tar_stats = None
    if accepted:
        tar_tmp = tmp_path_for(paths["tar"])
        with open(tar_tmp, "wb") as fh:
            out = _HashingWriter(fh)
            with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
                for s in accepted:
                    members = [(image_ext, s.image_bytes), ("txt", text_for(s).encode("utf-8")),
                               ("json", json.dumps(sample_json(s, image_ext), sort_keys=True).encode())]
                    for ext, data in members:  # one sample's members adjacent, key without dots
                        _add_member(tf, f"{s.id}.{ext}", data)
        commit(tar_tmp, paths["tar"])
        tar_stats = {"name": paths["tar"].name, "bytes": paths["tar"].stat().st_size,
                     "sha256": out.sha256.hexdigest()}
    else:
        paths["tar"].unlink(missing_ok=True)  # a redone shard that used to have samples
    pq_tmp = tmp_path_for(paths["parquet"])
    write_rows(pq_tmp, samples)
    commit(pq_tmp, paths["parquet"])
    reasons = Counter(s.reason for s in samples if s.status != ACCEPTED)
    stats = {"shard": index, "n_inputs": len(samples), "n_accepted": len(accepted),
             "n_rejected": len(samples) - len(accepted), "reasons": dict(sorted(reasons.items())),
             "caption_words": [len(t.split()) for s in accepted if (t := text_for(s))],
             "tar": tar_stats,
             "parquet": {"name": paths["parquet"].name, "bytes": paths["parquet"].stat().st_size,
                         "sha256": sha256_file(paths["parquet"])},
             **(extra_stats or {})}
    atomic_write_json(paths["stats"], stats)
    return stats


def read_committed_stats(out_dir: str | Path, index: int) -> dict[str, Any] | None:
    """Stats of a committed shard, or None if the shard is absent or half-written."""
    paths = shard_paths(out_dir, index)
    try:
        stats = json.loads(paths["stats"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for kind in ("tar", "parquet"):
        if kind == "tar" and stats.get("tar", {}) is None and stats.get("n_accepted") == 0:
            continue  # no accepted sample: no tar by design
        if not paths[kind].exists() or paths[kind].stat().st_size != (stats.get(kind) or {}).get("bytes"):
            return None
    return stats
