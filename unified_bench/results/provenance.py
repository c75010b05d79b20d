"""Provenance: which code, libraries, machine and settings produced a result."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from unified_bench import __version__
from unified_bench.results.schema import Provenance
from unified_bench.specs import RuntimeOptions

TRACKED_PACKAGES = (
    "torch",
    "torchvision",
    "transformers",
    "diffusers",
    "open_clip_torch",
    "lpips",
    "scikit-image",
    "numpy",
    "pillow",
    "huggingface_hub",
    "accelerate",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit() -> str | None:
    """The commit of the unified-bench checkout, when running from one (with '+dirty' if modified)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha


def build_provenance(runtime: RuntimeOptions, wall_time_s: float) -> Provenance:
    return Provenance(
        unified_bench_version=__version__,
        git_commit=git_commit(),
        package_versions=package_versions(),
        device=runtime.device,
        dtype=runtime.dtype,
        seed=runtime.seed,
        batch_size=runtime.batch_size,
        deterministic=runtime.deterministic,
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        wall_time_s=round(wall_time_s, 3),
        python=sys.version.split()[0],
        platform=platform.platform(),
        accelerator=accelerator_details(runtime.device),
    )


def accelerator_details(device: str) -> dict[str, Any]:
    """GPU name, memory, CUDA runtime and driver versions when running on CUDA (else empty).

    Why: numbers move slightly between GPU generations and CUDA versions; a result must say which.
    """
    if not device.startswith("cuda"):
        return {}
    import torch

    index = torch.device(device).index or 0
    props = torch.cuda.get_device_properties(index)
    details: dict[str, Any] = {
        "name": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "count": torch.cuda.device_count(),
    }
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip().splitlines()
        details["driver"] = out[0] if out else None
    except (OSError, subprocess.SubprocessError):
        details["driver"] = None
    return details
