"""The one table of dtype names (``fp32`` / ``fp16`` / ``bf16``) and the device default.

Why: the CLI, the model adapters, the scoring encoders and the data pipeline's captioner all accept
dtype names; one table means one spelling and one error message.
"""

from __future__ import annotations

from typing import Any

from unified_bench.core.errors import SpecError

DTYPES = ("fp32", "fp16", "bf16")
#: Long spellings accepted where users write torch names (recipes).
ALIASES = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}


def normalize_dtype(name: str, what: str = "dtype") -> str:
    """'bfloat16' -> 'bf16' etc.; unknown names raise SpecError naming ``what``."""
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in DTYPES:
        raise SpecError(f"Unknown {what} '{name}'.", f"Use one of: {', '.join(DTYPES)}.")
    return key


def torch_dtype_of(name: str) -> Any:
    """'fp32' / 'fp16' / 'bf16' (or a long alias) -> the torch dtype."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[normalize_dtype(name)]


def default_device() -> str:
    """'cuda' when torch sees a GPU, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> str:
    """bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    if not device.startswith("cuda"):
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
