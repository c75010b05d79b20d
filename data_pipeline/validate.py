"""``unified-data validate DIR``: the check to run on a copy of a build before anyone trains on it.

Why each check: a data set is copied, synced and re-read for months, and a consumer meets it through
``webdataset`` or ``datasets``, not through our writer. So besides sha256s and counts against the
manifest, every sample must have exactly ``KEY.<img>``, ``KEY.txt`` and ``KEY.json``, every
``KEY.json`` must have the one fixed schema (``writers/sample_schema.py``; ``datasets`` infers its
features from the first samples and fails on any later sample that differs), no key may repeat
across tars, no tar may be empty, and no leftover of an interrupted build may remain. Finally the
shards are actually loaded with the dataset card's ``webdataset`` snippet and with
``datasets.load_dataset("webdataset")`` (streaming and not). Returns a list of problems (empty =
valid) so callers decide how to report.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from data_pipeline.atomic import TMP_MARK
from data_pipeline.errors import OutputDirError

_SHARD_FILE = re.compile(r"^(\d{5})(\.tar|\.parquet|_stats\.json)$")


def _tar_samples(path: Path, fmt: str) -> tuple[dict[str, set[str]], list[str]]:
    """Group members by key; check members of one sample are adjacent, keys dot-free, JSON of the schema."""
    from data_pipeline.writers.sample_schema import shape_problem

    groups: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    order: list[str] = []
    n_schema = 0
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
            elif ext == "json":
                try:
                    why = shape_problem(json.loads(data))
                except ValueError as exc:
                    why = f"not JSON ({exc})"
                if why and n_schema < 5:  # one bad writer makes thousands: report the first few
                    problems.append(f"{path.name}: {info.name} does not have the sample schema: {why}")
                n_schema += bool(why)
    for key, exts in groups.items():
        if exts != {fmt, "txt", "json"}:
            problems.append(f"{path.name}: sample '{key}' has members {sorted(exts)}, expected "
                            f"{sorted({fmt, 'txt', 'json'})}")
    if not groups:
        problems.append(f"{path.name}: empty tar (webdataset and datasets fail on it)")
    return groups, problems


def _leftovers(out: Path, manifest: dict[str, Any]) -> list[str]:
    """Files an interrupted or concurrent build leaves behind, and shard files the manifest does not list."""
    from data_pipeline.locking import LOCK_FILE
    from data_pipeline.stages.ingest import STAGE_DIR

    listed = {name for e in manifest["shards"] for name in (e["tar"], e["parquet"], f"{e['index']:05d}_stats.json")
              if name}
    problems = [f"leftover temp file {p.name} (an interrupted write)" for p in out.glob(f"*{TMP_MARK}*")]
    problems += [f"{p.name} is not listed in manifest.json" for p in out.iterdir()
                 if _SHARD_FILE.match(p.name) and p.name not in listed]
    stage = out / STAGE_DIR
    committed = {f"{e['index']:05d}" for e in manifest["shards"]}
    if stage.is_dir():  # staged files of uncommitted shards are resume state (target mode), not leftovers
        problems += [f"leftover staged file {STAGE_DIR}/{p.name} of committed shard {p.name[:5]}"
                     for p in sorted(stage.iterdir()) if p.is_file() and p.name[:5] in committed]
    if (out / LOCK_FILE).exists():
        problems.append(f"{LOCK_FILE} exists: a build is running in this folder (or was killed; then delete it)")
    return problems


def load_with_consumers(tars: list[Path], fmt: str, expected: int) -> list[str]:
    """Read every sample back the way users do: the card's webdataset snippet, then ``datasets``
    (non-streaming into a throw-away cache, and streaming). Returns problems."""
    import tempfile

    import datasets
    import webdataset as wds

    problems: list[str] = []
    files = [str(t) for t in tars]
    if not files:
        return [] if expected == 0 else [f"no tars, but {expected} accepted samples"]
    try:
        n = sum(1 for _ in wds.WebDataset(files, shardshuffle=False).decode("pil").to_tuple(fmt, "txt", "json"))
        if n != expected:
            problems.append(f"webdataset read {n} samples, expected {expected}")
    except Exception as exc:  # noqa: BLE001 - any failure of the consumer is the finding
        problems.append(f"webdataset cannot read the shards: {type(exc).__name__}: {str(exc)[:300]}")
    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="unified-data-validate-") as cache:
            try:
                ds = datasets.load_dataset("webdataset", data_files={"train": files}, split="train", cache_dir=cache)
                if len(ds) != expected or not {fmt, "txt", "json"} <= set(ds.column_names):
                    problems.append(f"datasets loaded {len(ds)} rows with columns {ds.column_names}, expected "
                                    f"{expected} rows with {fmt}, txt, json")
                del ds
            except Exception as exc:  # noqa: BLE001
                problems.append(f"datasets.load_dataset('webdataset') fails: {type(exc).__name__}: {str(exc)[:300]}")
        try:
            stream = datasets.load_dataset("webdataset", data_files={"train": files}, split="train", streaming=True)
            n = 0
            for row in stream:
                if any(row.get(k) is None for k in (fmt, "txt", "json")):
                    problems.append(f"datasets streaming row {n} lacks one of {fmt}, txt, json: {sorted(row)}")
                    break
                n += 1
            else:
                if n != expected:
                    problems.append(f"datasets streaming read {n} rows, expected {expected}")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"datasets streaming fails: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    return problems


def validate_dir(out_dir: str | Path, load: bool = True) -> list[str]:
    """All problems of a finished build folder; ``load=False`` skips reading it with webdataset/datasets."""
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
    first_tar: dict[str, str] = {}
    tars: list[Path] = []
    for entry in manifest["shards"]:
        pqp = out / entry["parquet"]
        stats_p = out / f"{entry['index']:05d}_stats.json"
        tar = out / entry["tar"] if entry["tar"] else None
        for p in (tar, pqp, stats_p):
            if p is not None and not p.exists():
                problems.append(f"missing {p.name}")
        if tar is None and (out / f"{entry['index']:05d}.tar").exists():
            problems.append(f"{entry['index']:05d}.tar exists but the manifest says the shard has no tar")
        groups: dict[str, set[str]] = {}
        if tar is not None and tar.exists():
            if sha256_file(tar) != entry["tar_sha256"]:
                problems.append(f"{tar.name}: sha256 differs from manifest")
            try:
                groups, tar_problems = _tar_samples(tar, fmt)
            except (tarfile.TarError, OSError) as exc:
                problems.append(f"{tar.name}: not a valid tar ({exc})")
                continue
            problems += tar_problems
            tars.append(tar)
            for key in groups:
                if key in first_tar:
                    problems.append(f"duplicate key '{key}' in {first_tar[key]} and {tar.name}")
                else:
                    first_tar[key] = tar.name
        elif tar is None and entry["n_accepted"]:
            problems.append(f"shard {entry['index']} has {entry['n_accepted']} accepted samples but no tar")
        if pqp.exists() and sha256_file(pqp) != entry["parquet_sha256"]:
            problems.append(f"{pqp.name}: sha256 differs from manifest")
        rows: dict[str, list] = {"key": [], "status": []}
        if pqp.exists():
            try:
                rows = pq.read_table(pqp, columns=["key", "status"]).to_pydict()
            except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
                problems.append(f"{pqp.name}: unreadable parquet ({str(exc)[:120]})")
                continue
        accepted = {k for k, s in zip(rows["key"], rows["status"], strict=True) if s == "accepted"}
        if accepted != set(groups):
            problems.append(f"shard {entry['index']:05d}: tar keys ({len(groups)}) != accepted parquet rows "
                            f"({len(accepted)})")
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
        problems.append(f"manifest totals ({manifest['n_accepted']}/{manifest['n_inputs']}) != shards "
                        f"({total_acc}/{total_in})")
    problems += _leftovers(out, manifest)
    if load and not problems:  # loading a set already known to be broken only repeats the finding
        problems += load_with_consumers(tars, fmt, total_acc)
    return problems
