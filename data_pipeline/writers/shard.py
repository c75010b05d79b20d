"""Write one output shard: ``NNNNN.tar`` + ``NNNNN.parquet``, then ``NNNNN_stats.json`` LAST.

Why this order: the stats file is the commit marker. Tar and parquet are written to unique temp
names and moved into place with ``os.replace``; only then is the stats file (itself atomic)
written, recording sizes and sha256s. A shard without a valid stats file is redone from scratch,
so a kill at any point leaves either a complete shard or one that will be rewritten.
Tars are written with ``tarfile`` (importing webdataset would pull in torch on every
worker) and are deterministic (fixed mtime/owner), so redoing a shard reproduces the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

from data_pipeline.atomic import atomic_write_json, commit, tmp_path_for
from data_pipeline.sample import ACCEPTED, Sample
from data_pipeline.writers.rows import write_rows
from unified_bench.core.hashing import sha256_file

TAR_MTIME = 1_700_000_000.0


def shard_paths(out_dir: str | Path, index: int) -> dict[str, Path]:
    out = Path(out_dir)
    return {"tar": out / f"{index:05d}.tar", "parquet": out / f"{index:05d}.parquet",
            "stats": out / f"{index:05d}_stats.json"}


def sample_json(s: Sample, image_ext: str) -> dict[str, Any]:
    r = s.record
    return {"key": r.id, "source": r.source, "locator": r.locator, "original_caption": r.original_caption,
            "extra": r.extra or None, "image": {"format": image_ext, "width": s.width, "height": s.height},
            "original": {"width": s.orig_width, "height": s.orig_height, "mode": s.orig_mode,
                         "format": s.orig_format, "bytes": s.fetched_bytes},
            "sha256": s.sha256, "phash": s.phash, "captioner": s.captioner or None,
            "caption_finish_reason": s.caption_finish_reason, "qc": s.qc or None}


def _add_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    """Deterministic member: fixed mtime/owner/mode, so a redone shard has identical bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(TAR_MTIME), 0o444
    info.uname = info.gname = "data"
    tf.addfile(info, io.BytesIO(data))


def text_for(s: Sample) -> str | None:
    """The long caption; with captioning disabled, the source's own caption if it has one."""
    return s.caption if s.caption is not None else s.record.original_caption


def write_shard(out_dir: str | Path, index: int, samples: list[Sample], image_ext: str,
                extra_stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write tar, parquet and (last) stats for one shard; returns the stats dict."""
    paths = shard_paths(out_dir, index)
    paths["stats"].unlink(missing_ok=True)  # an old marker must not outlive the files it described
    tar_tmp = tmp_path_for(paths["tar"])
    n_tar = 0
    with tarfile.open(tar_tmp, "w", format=tarfile.USTAR_FORMAT) as tf:
        for s in samples:
            if s.status != ACCEPTED:
                continue
            members = [(image_ext, s.image_bytes),
                       ("json", json.dumps(sample_json(s, image_ext), sort_keys=True).encode())]
            txt = text_for(s)
            if txt is not None:
                members.insert(1, ("txt", txt.encode("utf-8")))
            for ext, data in members:  # one sample's members adjacent, key without dots
                _add_member(tf, f"{s.id}.{ext}", data)
            n_tar += 1
    commit(tar_tmp, paths["tar"])
    pq_tmp = tmp_path_for(paths["parquet"])
    write_rows(pq_tmp, samples)
    commit(pq_tmp, paths["parquet"])
    reasons = Counter(s.reason for s in samples if s.status != ACCEPTED)
    stats = {"shard": index, "n_inputs": len(samples), "n_accepted": n_tar,
             "n_rejected": len(samples) - n_tar, "reasons": dict(sorted(reasons.items())),
             "caption_words": [len(t.split()) for s in samples if s.status == ACCEPTED and (t := text_for(s))],
             "tar": {"name": paths["tar"].name, "bytes": paths["tar"].stat().st_size,
                     "sha256": sha256_file(paths["tar"])},
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
        if not paths[kind].exists() or paths[kind].stat().st_size != stats.get(kind, {}).get("bytes"):
            return None
    return stats
