"""LongCLIP image encoder (standard checkpoint: BeichenZhang/LongCLIP-L, file ``longclip-L.pt``).

LongCLIP has no pip package. Its checkpoint is a plain torch state dict in OpenAI-CLIP key format
(text positional embedding stretched to 248 tokens, plus ``positional_embedding_res``, which only the
text tower uses). open_clip's ``build_model_from_openai_state_dict`` infers the architecture from the
tensor shapes and builds the same module layout LongCLIP's own ``build_model`` does - including its
fp16 rounding of the linear/conv/attention weights before loading, so scores match LongCLIP's loader.
Only the image tower (``encode_image``) is used. Preprocessing is LongCLIP's own: Resize(n, bicubic)
on the shortest side, CenterCrop(n), ToTensor, Normalize(OpenAI CLIP mean/std), where n is the
image resolution inferred from the checkpoint (224 for LongCLIP-L).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.core.hashing import content_hash
from unified_bench.core.hub import commit_from_cached_path
from unified_bench.errors import EncoderError
from unified_bench.metrics.encoders.checkpoints import (
    ResolvedCheckpoint,
    hub_file,
    local_load_error,
)
from unified_bench.metrics.encoders.torch_encoder import TorchImageEncoder

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

#: The weight file's name in the hub repo and in a local checkpoint directory.
LONGCLIP_FILENAME = "longclip-L.pt"

#: Keys of a LongCLIP state dict that open_clip's OpenAI-format CLIP does not have (text tower only).
_LONGCLIP_ONLY_KEYS = ("positional_embedding_res", "mask1", "mask2")


def load_longclip_state_dict(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Read ``longclip-L.pt`` safely (tensors only) and drop the LongCLIP-only text keys.

    ``mmap``: map the file instead of reading it (shapes only are needed); a legacy-format file
    that cannot be mapped is read in full."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError:
        if not mmap:
            raise
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "visual.conv1.weight" not in state:
        raise EncoderError(
            f"'{path}' is not a LongCLIP/OpenAI-CLIP state dict (no 'visual.conv1.weight').",
            f"Pass the {LONGCLIP_FILENAME} file from BeichenZhang/LongCLIP-L (or a directory holding it).",
        )
    return {k: v for k, v in state.items() if k not in _LONGCLIP_ONLY_KEYS}


class LongClipEncoder(TorchImageEncoder):
    name = "longclip"
    embedding_description = "encode_image of the LongCLIP (OpenAI-format CLIP) image tower, projected"
    # fp16/bf16: autocast over the fp32 module (open_clip keeps LayerNorm in fp32 and fails on a
    # blanket half cast). The published scores are the fp32 path.
    half_via_autocast = True
    libraries = ("torch", "torchvision", "open_clip_torch", "pillow", "numpy")

    def _weights_path(self, checkpoint: ResolvedCheckpoint) -> Path:
        if checkpoint.is_hub:
            path = hub_file(checkpoint.location, LONGCLIP_FILENAME, self.name)
            self.revision = commit_from_cached_path(path) or "unknown"
            return path
        path = Path(checkpoint.location)
        if path.is_dir():
            path = path / LONGCLIP_FILENAME
            if not path.is_file():
                raise EncoderError(
                    f"Directory '{checkpoint.location}' has no {LONGCLIP_FILENAME}.",
                    f"Put {LONGCLIP_FILENAME} in it, pass the .pt file itself, or use BeichenZhang/LongCLIP-L.",
                )
        self.revision = content_hash(path)
        return path

    def _load(self, checkpoint: ResolvedCheckpoint) -> None:
        self._describe(checkpoint)
        self._load_weights()

    def _describe(self, checkpoint: ResolvedCheckpoint) -> None:
        """Weight file, revision, and the image resolution read from the tensor shapes (memory-mapped,
        so no weight is read): the preprocessing is known and a wrong file fails before any work."""
        from open_clip.transform import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD, image_transform

        path = self._weights_path(checkpoint)
        try:
            state = load_longclip_state_dict(path, mmap=True)
            patch = int(state["visual.conv1.weight"].shape[-1])
            grid = round((int(state["visual.positional_embedding"].shape[0]) - 1) ** 0.5)
        except EncoderError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, EOFError) as exc:
            raise local_load_error(exc, str(path), self.name) from exc
        del state
        self._weights_file = path
        self.image_size = patch * grid
        self.transform = image_transform(
            self.image_size,
            is_train=False,
            mean=OPENAI_DATASET_MEAN,
            std=OPENAI_DATASET_STD,
            resize_mode="shortest",
            interpolation="bicubic",
        )

    def _load_weights(self) -> None:
        import torch
        from open_clip.model import build_model_from_openai_state_dict

        path = self._weights_file
        try:
            state = load_longclip_state_dict(path)
            model = build_model_from_openai_state_dict(state, quick_gelu=True)
        except EncoderError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, EOFError) as exc:
            raise local_load_error(exc, str(path), self.name) from exc
        size = model.visual.image_size
        if int(size[0] if isinstance(size, (tuple, list)) else size) != self.image_size:
            raise EncoderError(
                f"'{path}' changed since it was checked (image size {size}, not {self.image_size}).",
                "Run the same command again.",
            )
        self.model = model.to(self.device, torch.float32).eval()

    def preprocess(self, images: Sequence[Image]) -> torch.Tensor:
        import torch

        return torch.stack([self.transform(im) for im in images])

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixel_values)

    def preprocessing_description(self) -> dict[str, Any]:
        from open_clip.transform import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

        return {
            "transform": "open_clip image_transform (torchvision)",
            "resize_shortest_edge": self.image_size,
            "interpolation": "bicubic",
            "antialias": True,
            "center_crop": self.image_size,
            "image_mean": list(OPENAI_DATASET_MEAN),
            "image_std": list(OPENAI_DATASET_STD),
        }
