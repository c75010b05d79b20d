"""Which files a hub download fetches: safetensors preferred per component folder."""

from __future__ import annotations

from types import SimpleNamespace

from unified_bench.models.hub import _ignore_patterns


def _downloaded(names: list[str]) -> set[str]:
    """The files ``snapshot_download`` would fetch for a repo listing ``names`` (its own filter)."""
    from huggingface_hub.utils import filter_repo_objects

    info = SimpleNamespace(siblings=[SimpleNamespace(rfilename=n) for n in names])
    return set(filter_repo_objects(names, ignore_patterns=_ignore_patterns(info)))


def test_mixed_diffusers_repo_keeps_a_bin_only_component():
    listing = [
        "model_index.json",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin",
        "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.bin",
        "text_encoder/config.json", "text_encoder/pytorch_model.bin",
        "safety_checker/config.json", "safety_checker/pytorch_model.bin",
        "tokenizer/vocab.json", "flax_model.msgpack",
    ]
    got = _downloaded(listing)
    assert "text_encoder/pytorch_model.bin" in got and "safety_checker/pytorch_model.bin" in got
    assert "unet/diffusion_pytorch_model.bin" not in got and "vae/diffusion_pytorch_model.bin" not in got
    assert "unet/diffusion_pytorch_model.safetensors" in got and "tokenizer/vocab.json" in got
    assert "flax_model.msgpack" not in got


def test_sharded_transformers_repo_drops_pickles_and_their_index():
    listing = [
        "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
        "pytorch_model.bin.index.json", "tokenizer.json",
    ]
    assert _downloaded(listing) == {
        "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "tokenizer.json",
    }


def test_bin_only_repo_is_downloaded_whole():
    listing = ["config.json", "pytorch_model.bin", "longclip-L.pt"]
    assert _downloaded(listing) == set(listing)
