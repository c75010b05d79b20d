"""Whole-set ``manifest.json``: shards, counts, sha256 per shard, the recipe and library versions.

Why: the manifest is what a consumer (and ``unified-data validate``) checks a copy against; it
is rebuilt from the committed per-shard stats files, so it never disagrees with them.
"""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from data_pipeline.atomic import atomic_write_json

MANIFEST = "manifest.json"
_LIBS = ("unified-bench", "pillow", "requests", "dask", "distributed", "webdataset", "pyarrow", "ImageHash",
         "pydantic", "datasets")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in _LIBS:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def build_manifest(stats: list[dict[str, Any]], recipe: dict[str, Any], plan_fingerprint: str,
                   n_planned_shards: int, n_planned_inputs: int,
                   transport: dict[str, Any] | None = None) -> dict[str, Any]:
    """``transport``: the fetch/captioner transport settings of the latest run (they may change between
    resumes, see ``Recipe.transport``); ``recipe`` is the recipe of the latest run too."""
    reasons: Counter = Counter()
    for s in stats:
        reasons.update(s["reasons"])
    return {
        "format": "webdataset", "manifest_version": 2, "sample_members": [(recipe.get("image") or {}).get("format", "jpg"), "txt", "json"],
        "n_shards": len(stats), "n_planned_shards": n_planned_shards, "n_planned_inputs": n_planned_inputs,
        "n_inputs": sum(s["n_inputs"] for s in stats), "n_accepted": sum(s["n_accepted"] for s in stats),
        "n_rejected": sum(s["n_rejected"] for s in stats), "reasons": dict(reasons.most_common()),
        # "tar": null for a shard without accepted samples (no empty tar is written)
        "shards": [{"index": s["shard"], "tar": (s["tar"] or {}).get("name"),
                    "tar_sha256": (s["tar"] or {}).get("sha256"), "tar_bytes": (s["tar"] or {}).get("bytes", 0),
                    "parquet": s["parquet"]["name"],
                    "parquet_sha256": s["parquet"]["sha256"], "n_inputs": s["n_inputs"],
                    "n_accepted": s["n_accepted"]} for s in sorted(stats, key=lambda s: s["shard"])],
        "plan_fingerprint": plan_fingerprint, "recipe": recipe, "transport": transport or {},
        "versions": versions(),
    }


def write_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> Path:
    path = Path(out_dir) / MANIFEST
    atomic_write_json(path, manifest)
    return path
