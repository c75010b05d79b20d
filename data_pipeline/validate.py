"""``unified-data validate DIR``: every tar readable, counts agree, sha256s match the manifest.

Why: a data set is copied, synced and re-read for months; this is the check to run on a copy.
Returns a list of problems (empty = valid) so callers decide how to report.
"""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict
from pathlib import Path

from data_pipeline.errors import OutputDirError


def _tar_samples(path: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Group members by key; also check members of one sample are adjacent and keys dot-free."""
    groups: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    order: list[str] = []
    with tarfile.open(path) as tf:
        for info in tf:
            if not info.isfile():
                continue
            key, _, ext = info.name.partition(".")
            if key in groups and order and order[-1] != key:
                problems.append(f"{path.name}: members of '{key}' are not adjacent")
            if not order or order[-1] != key:
                order.append(key)
            groups[key].add(ext)
            data = tf.extractfile(info).read()
            if len(data) != info.size:
                problems.append(f"{path.name}: member {info.name} truncated")
    return groups, problems


def validate_dir(out_dir: str | Path) -> list[str]:
    import pyarrow.parquet as pq

    from unified_bench.core.hashing import sha256_file

    out = Path(out_dir)
    mpath = out / "manifest.json"
    if not mpath.exists():
        raise OutputDirError(f"'{out}' has no manifest.json (build not finished, or not a build folder).",
                             "run `unified-data build RECIPE --out DIR` to completion first")
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    fmt = (manifest.get("recipe", {}).get("image", {}) or {}).get("format", "jpg")
    problems: list[str] = []
    total_acc = total_in = 0
    for entry in manifest["shards"]:
        tar, pqp = out / entry["tar"], out / entry["parquet"]
        stats_p = out / f"{entry['index']:05d}_stats.json"
        for p in (tar, pqp, stats_p):
            if not p.exists():
                problems.append(f"missing {p.name}")
        if problems and not tar.exists():
            continue
        if sha256_file(tar) != entry["tar_sha256"]:
            problems.append(f"{tar.name}: sha256 differs from manifest")
        if pqp.exists() and sha256_file(pqp) != entry["parquet_sha256"]:
            problems.append(f"{pqp.name}: sha256 differs from manifest")
        try:
            groups, tar_problems = _tar_samples(tar)
        except (tarfile.TarError, OSError) as exc:
            problems.append(f"{tar.name}: not a valid tar ({exc})")
            continue
        problems += tar_problems
        for key, exts in groups.items():
            if fmt not in exts or "json" not in exts:
                problems.append(f"{tar.name}: sample '{key}' lacks .{fmt} or .json (has {sorted(exts)})")
        rows = {"key": [], "status": []}
        if pqp.exists():
            try:
                rows = pq.read_table(pqp, columns=["key", "status"]).to_pydict()
            except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
                problems.append(f"{pqp.name}: unreadable parquet ({str(exc)[:120]})")
                continue
        accepted = {k for k, s in zip(rows["key"], rows["status"], strict=True) if s == "accepted"}
        if accepted != set(groups):
            problems.append(f"{tar.name}: tar keys ({len(groups)}) != accepted parquet rows ({len(accepted)})")
        if len(set(rows["key"])) != len(rows["key"]):
            problems.append(f"{pqp.name}: duplicate keys")
        stats = json.loads(stats_p.read_text(encoding="utf-8")) if stats_p.exists() else {}
        if stats.get("n_accepted") != len(groups) or stats.get("n_inputs") != len(rows["key"]):
            problems.append(f"{stats_p.name}: counts disagree with tar/parquet")
        if entry["n_accepted"] != len(groups):
            problems.append(f"manifest count for shard {entry['index']} disagrees with the tar")
        total_acc += len(groups)
        total_in += len(rows["key"])
    if total_acc != manifest["n_accepted"] or total_in != manifest["n_inputs"]:
        problems.append(f"manifest totals ({manifest['n_accepted']}/{manifest['n_inputs']}) != shards ({total_acc}/{total_in})")
    return problems
