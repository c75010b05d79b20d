"""The dataset card ``README.md``: totals, rejection reasons, caption-length histogram (PNG + text).

Why: whoever picks the data set up later needs to see at a glance how much was kept, why the
rest was dropped and whether captions are actually long, without running any code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_pipeline.atomic import atomic_write_bytes

HIST_PNG = "caption_lengths.png"


def histogram_bins(words: list[int], n_bins: int = 10) -> list[tuple[int, int, int]]:
    """(low, high, count) bins over caption word counts, via numpy."""
    import numpy as np

    if not words:
        return []
    arr = np.asarray(words)
    span = int(arr.max() - arr.min()) + 1
    counts, edges = np.histogram(arr, bins=min(n_bins, span), range=(int(arr.min()), int(arr.min()) + span))
    return [(int(edges[i]), int(edges[i + 1]), int(c)) for i, c in enumerate(counts)]


def text_histogram(words: list[int], width: int = 40) -> str:
    bins = histogram_bins(words)
    if not bins:
        return "(no captions)"
    top = max(c for _, _, c in bins) or 1
    return "\n".join(f"{lo:>6}-{hi:<6} {c:>8} {'#' * round(width * c / top)}" for lo, hi, c in bins)


def preload_plotting() -> None:
    """Import matplotlib ahead of time (~0.35 s). Why: the card is the last thing a build writes, so
    its import sits on the critical path at the end; the executor calls this in a background thread
    while the client is idle waiting for its cluster to start."""
    from matplotlib import figure  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def plot_histogram(words: list[int], path: str | Path) -> None:
    """Why the Figure API and not pyplot: it needs no global backend state, so the card can be
    written from the helper thread that runs while the cluster shuts down."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(words or [0], bins=30, color="#4472c4")
    ax.set_xlabel("caption length (words)")
    ax.set_ylabel("samples")
    ax.set_title(f"Caption lengths (n={len(words)})")
    fig.tight_layout()
    fig.savefig(path)


def write_card(out_dir: str | Path, manifest: dict[str, Any], caption_words: Sequence[int]) -> Path:
    out = Path(out_dir)
    plot_histogram(caption_words, out / HIST_PNG)
    recipe = manifest["recipe"]
    fmt = (recipe.get("image") or {}).get("format", "jpg")
    cap = recipe.get("captioner")
    n_in = manifest["n_inputs"] or 1
    lines = [f"# {recipe.get('name', 'dataset')}", "", recipe.get("description") or "", "",
             "WebDataset shards built by `unified-data build` (data_pipeline).", "",
             "## Totals", "", "| | count |", "|---|---|",
             f"| inputs processed | {manifest['n_inputs']} |", f"| accepted | {manifest['n_accepted']} |",
             f"| rejected | {manifest['n_rejected']} |", f"| shards | {manifest['n_shards']} |", "",
             "## Rejection reasons", "", "| reason | count | share of inputs |", "|---|---|---|"]
    lines += [f"| {r} | {c} | {100 * c / n_in:.1f}% |" for r, c in manifest["reasons"].items()] or ["| (none) | 0 | |"]
    mean = sum(caption_words) / len(caption_words) if caption_words else 0
    lines += ["", "## Captions", "",
              f"Captioner: `{cap['backend']}:{cap['model']}`" if cap else "Captioning disabled (captioner: null); "
              "`.txt` holds the source caption when there is one.",
              "", f"{len(caption_words)} captions, mean {mean:.1f} words.", "", f"![caption lengths]({HIST_PNG})", "",
              "```", text_histogram(caption_words), "```", "",
              "## Layout", "", f"Per shard: `NNNNN.tar` (every sample has `KEY.{fmt}`, `KEY.txt` and `KEY.json`; "
              "`KEY.txt` is empty when there is no caption, and `KEY.json` has the same fields and types in every "
              "sample), `NNNNN.parquet` (one row per input with status and reason), `NNNNN_stats.json`. A shard "
              "whose inputs were all rejected has no tar. `manifest.json` lists every shard with its sha256, the "
              "recipe, the transport settings of the last run and library versions.", "",
              "```python", "import glob", "import webdataset as wds",
              f"ds = wds.WebDataset(sorted(glob.glob('DIR/*.tar'))).decode('pil').to_tuple('{fmt}', 'txt')", "",
              "import datasets",
              "ds = datasets.load_dataset('webdataset', data_files={'train': sorted(glob.glob('DIR/*.tar'))}, "
              "split='train')", "```", ""]
    path = out / "README.md"
    atomic_write_bytes(path, "\n".join(lines).encode("utf-8"))
    return path
