"""Test-wide hygiene: offline hub, loopback-only network, two torch threads, temp caches.

Why: the suite must prove the real loading code works without any download. The hub and
datasets libraries are forced offline before they are imported, and any socket to a
non-loopback address fails loudly instead of hanging.
"""

from __future__ import annotations

import ipaddress
import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import pytest  # noqa: E402

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise OSError(f"network access to {address!r} is blocked in tests (loopback only)")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise OSError(f"network access to {address!r} is blocked in tests (loopback only)")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(autouse=True)
def _isolated_user_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own feature/download cache so tests never share state by accident."""
    monkeypatch.setenv("UNIFIED_BENCH_CACHE", str(tmp_path_factory.mktemp("ub-cache")))
    yield


@pytest.fixture(scope="session")
def demo_encoders(tmp_path_factory):
    """Tiny random-weight CLIP / DINOv2 / DINOv3 / LongCLIP checkpoints, saved to disk once."""
    from unified_bench.demo.encoders import build_demo_encoders

    return build_demo_encoders(tmp_path_factory.mktemp("demo-encoders"))


@pytest.fixture(scope="session")
def demo_image_dir(tmp_path_factory):
    """The frozen demo photographs (scikit-image's public-domain photos + generated images)."""
    from unified_bench.demo.images import build_demo_images

    return build_demo_images(tmp_path_factory.mktemp("demo-images"))


@pytest.fixture
def encoder_args(demo_encoders):
    """CLI arguments that point every encoder at its tiny checkpoint."""
    args = []
    for name, path in demo_encoders.items():
        args += ["--encoder-checkpoint", f"{name}={path}"]
    return args
