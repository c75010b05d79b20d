"""Seeding and deterministic mode.

Why: ``--deterministic`` promises that a resumed run gives byte-identical results to an
uninterrupted one. On CPU that holds with seeding alone; on CUDA it also needs deterministic
kernels (and the cuBLAS workspace setting), at some speed cost.
"""

from __future__ import annotations

import os
import random


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def enable_deterministic() -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
