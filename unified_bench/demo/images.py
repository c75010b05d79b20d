"""The frozen demo photographs: a tiny, offline, deterministic reference image set.

Why: the demo and the test suite need *real* photographs (captioners and encoders behave
differently on noise) without any download. scikit-image ships a few public-domain photographs
inside its wheel (``skimage.data``); we centre-crop them square, resize them with PIL's LANCZOS
filter and add two generated images (a colour gradient and a checkerboard with text-like bars)
so the set also covers flat colour and sharp edges. The same library versions give the same
pixels every time; tests/fixtures/images/ holds a frozen copy that a test compares against.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from unified_bench import paths
from unified_bench.data.base import ImageSet
from unified_bench.data.folder import load_folder
from unified_bench.data.named import DEMO_SIZE, NamedImageSet

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

#: The skimage.data photographs used, in id order (0.png, 1.png, ...). All ship inside the wheel.
PHOTOGRAPHS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket")

#: Number of images ``build_demo_images`` writes (photographs + generated).
N_DEMO_IMAGES = len(PHOTOGRAPHS) + 2


def _square_resize(img: Image, size: int) -> Image:
    """Centre-crop to a square (the shorter side) and resize with LANCZOS."""
    from PIL import Image as PILImage

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img.resize((size, size), PILImage.Resampling.LANCZOS)


def _photograph(name: str, size: int) -> Image:
    from PIL import Image as PILImage
    from skimage import data

    arr = getattr(data, name)()
    img = PILImage.fromarray(arr)
    return _square_resize(img.convert("RGB"), size)


def _gradient(size: int) -> Image:
    """Red rises left to right, green top to bottom, blue along the anti-diagonal."""
    import numpy as np
    from PIL import Image as PILImage

    ramp = np.linspace(0, 255, size, dtype=np.float64)
    red = np.tile(ramp, (size, 1))
    green = red.T
    blue = 255.0 - (red + green) / 2.0
    arr = np.stack([red, green, blue], axis=-1).round().astype(np.uint8)
    return PILImage.fromarray(arr, mode="RGB")


def _checkerboard_with_text(size: int) -> Image:
    """An 8x8 checkerboard with a white label box holding dark bars shaped like a line of text.

    Drawn with rectangles only: font rendering depends on the FreeType build, shapes do not.
    """
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw

    cell = max(1, size // 8)
    yy, xx = np.indices((size, size))
    board = ((yy // cell + xx // cell) % 2).astype(bool)
    arr = np.zeros((size, size, 3), dtype=np.uint8)
    arr[board] = (30, 90, 200)
    arr[~board] = (235, 200, 40)
    img = PILImage.fromarray(arr, mode="RGB")
    draw = ImageDraw.Draw(img)
    top, bottom = round(size * 0.35), round(size * 0.65)
    draw.rectangle((round(size * 0.08), top, round(size * 0.92), bottom), fill=(250, 250, 250))
    # "Words": bars of varying width, with ascender-like ticks, separated by gaps.
    x = round(size * 0.12)
    y0, y1 = round(size * 0.44), round(size * 0.56)
    widths = (3, 2, 4, 0, 2, 3, 2, 0, 4, 2)  # 0 = word gap
    unit = max(1, size // 40)
    for i, w in enumerate(widths):
        if w == 0:
            x += 2 * unit
            continue
        draw.rectangle((x, y0, x + w * unit - 1, y1), fill=(20, 20, 20))
        if i % 3 == 0:
            draw.rectangle((x, y0 - 2 * unit, x + unit - 1, y0), fill=(20, 20, 20))
        x += (w + 1) * unit
    return img


def demo_image_builders(size: int) -> list[tuple[str, Callable[[], Image]]]:
    """(description, builder) for each demo image in id order; ids are the list positions."""
    builders: list[tuple[str, Callable[[], Image]]] = [
        (f"skimage.data.{name}", lambda name=name: _photograph(name, size)) for name in PHOTOGRAPHS
    ]
    builders.append(("generated colour gradient", lambda: _gradient(size)))
    builders.append(("generated checkerboard with text-like bars", lambda: _checkerboard_with_text(size)))
    return builders


def build_demo_images(out_dir: Path, size: int = 64) -> Path:
    """Write 0.png .. 5.png into ``out_dir`` (created if needed) and return ``out_dir``.

    Deterministic: no randomness, no metadata in the PNGs, fixed filters. Existing files with
    the same names are overwritten.
    """
    from unified_bench.core.atomic import atomic_write_bytes

    if size < 8:
        raise ValueError(f"demo image size must be at least 8 px, got {size}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for idx, (desc, build) in enumerate(demo_image_builders(size)):
        img = build()
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False)
        atomic_write_bytes(out_dir / f"{idx}.png", buf.getvalue())
        log.debug("demo image %d.png: %s (%dx%d)", idx, desc, size, size)
    return out_dir


def demo_dir(size: int = DEMO_SIZE) -> Path:
    """Cache folder of the demo images (keyed by size and the builder's library versions)."""
    import PIL
    import skimage

    return paths.downloads_dir() / "demo" / f"{size}px-skimage{skimage.__version__}-pillow{PIL.__version__}"


def load_demo_image_set(size: int = DEMO_SIZE) -> ImageSet:
    """Build the demo images once (offline, deterministic) and load them."""
    out = demo_dir(size)
    if not out.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.")
        try:
            build_demo_images(Path(tmp), size=size)
            os.replace(tmp, out)
        except OSError:
            if not out.is_dir():  # a concurrent build that won the rename is fine
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_folder(out, name="demo", cls=NamedImageSet, source="named:demo", extra={"size": size})
