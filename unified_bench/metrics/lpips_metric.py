"""LPIPS perceptual distance between references and reconstructions (auxiliary metric).

Why: a learned perceptual distance complements encoder cosine (semantics) and PSNR/SSIM (pixels).
Both images are resized to 256x256 (bicubic) and mapped to [-1, 1], the input range the lpips
package expects. On a real machine ``LPIPS(net="alex")`` downloads the ImageNet AlexNet trunk
through torchvision the first time; ``pretrained_trunk=False`` builds a random trunk (tests only).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.errors import EncoderError, require

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

logger = logging.getLogger(__name__)

LPIPS_RESIZE = 256


class LpipsScorer:
    """Batched LPIPS (lower is more similar)."""

    higher_is_better = False

    def __init__(
        self,
        net: str = "alex",
        pretrained_trunk: bool = True,
        device: str = "cpu",
        batch_size: int = 8,
        *,
        defer_device: bool = False,
    ):
        lpips = require("lpips", "pip install lpips")
        self.net = net
        self.pretrained_trunk = pretrained_trunk
        self.device = device
        self.batch_size = batch_size
        try:
            with warnings.catch_warnings():
                # lpips 0.1.4 calls torchvision with the deprecated `pretrained=` argument.
                warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
                self.model = lpips.LPIPS(net=net, pnet_rand=not pretrained_trunk, verbose=False)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
            raise EncoderError(
                f"Cannot build LPIPS ({net}): the ImageNet {net} trunk could not be downloaded through "
                f"torchvision ({type(exc).__name__}: {exc}).",
                "Check the network connection (or copy the torchvision weights into $TORCH_HOME/hub/checkpoints), "
                "or pass --aux ssim,psnr to skip LPIPS.",
            ) from exc
        # ``defer_device``: built (and its trunk downloaded) now, so a failure is early, but kept on
        # the CPU until ``to_device`` (scoring), off the accelerator while the model under test runs.
        self.model = self.model.eval()
        self.on_device = False
        if not defer_device:
            self.to_device()

    def to_device(self) -> None:
        """Move the network to ``self.device`` (idempotent)."""
        if not self.on_device:
            self.model = self.model.to(self.device)
            self.on_device = True

    def _to_tensor(self, images: Sequence[Image]):
        import numpy as np
        import torch
        from PIL import Image as PILImage

        arrays = [
            np.asarray(im.convert("RGB").resize((LPIPS_RESIZE, LPIPS_RESIZE), PILImage.Resampling.BICUBIC))
            for im in images
        ]
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
        return (x / 127.5 - 1.0).to(self.device)

    def score(self, refs: Sequence[Image], recons: Sequence[Image]) -> np.ndarray:
        """LPIPS distance of each (reference, reconstruction) pair -> (N,) float array."""
        import numpy as np
        import torch

        refs, recons = list(refs), list(recons)
        if len(refs) != len(recons):
            raise ValueError(f"LPIPS needs as many references as reconstructions ({len(refs)} != {len(recons)})")
        self.to_device()
        out = []
        with torch.inference_mode():
            for start in range(0, len(refs), self.batch_size):
                a = self._to_tensor(refs[start : start + self.batch_size])
                b = self._to_tensor(recons[start : start + self.batch_size])
                out.append(self.model(a, b).reshape(-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def details(self) -> dict[str, Any]:
        """Recorded in results.json: what produced the LPIPS numbers."""
        import lpips

        return {
            "package": f"lpips {getattr(lpips, '__version__', '?')}",
            "net": self.net,
            "trunk": "pretrained (ImageNet, torchvision)" if self.pretrained_trunk else "random (pnet_rand=True)",
            "resize": f"both images to {LPIPS_RESIZE}x{LPIPS_RESIZE}, PIL bicubic",
            "input_range": "[-1, 1]",
            "higher_is_better": self.higher_is_better,
        }
