"""Export a few real photographs shipped with scikit-image as small fixture images.

Why: the offline demo recipe and the tests need real photos (not noise) and no downloads;
``skimage.data`` ships them inside the package. ``python -m data_pipeline.demo_images DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field", "immunohistochemistry")


def export_demo_images(out_dir: str | Path, max_side: int = 160, names: tuple[str, ...] = NAMES) -> list[Path]:
    """Write ``NAME.jpg`` (quality 90, longer side ``max_side``) for each skimage image."""
    from PIL import Image
    from skimage import data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        path = out / f"{name}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    export_demo_images(sys.argv[1] if len(sys.argv) > 1 else "demo_images")
