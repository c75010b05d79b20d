"""Checkpoint resolution: hub ids through the Hugging Face cache, local paths, and the errors users see."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from unified_bench.errors import EncoderError, SpecError
from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec, ImageEncoder
from unified_bench.metrics.encoders.checkpoints import hub_error
from unified_bench.metrics.encoders.loader import ENCODERS, load_encoder

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache (the layout huggingface_hub writes) that the hub code reads."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def add(repo_id: str, src_dir):
        repo_dir = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}"
        shutil.copytree(src_dir, repo_dir / "snapshots" / FAKE_COMMIT)
        (repo_dir / "refs").mkdir(parents=True)
        (repo_dir / "refs" / "main").write_text(FAKE_COMMIT)

    return add


@pytest.mark.parametrize("name", ["clip", "longclip"])
def test_hub_id_loads_from_cache_and_records_commit(name, hub_cache, tiny_encoder_paths, photos):
    hub_cache(f"tiny-org/tiny-{name}", tiny_encoder_paths[name])
    from_hub = load_encoder(EncoderSpec(name, f"tiny-org/tiny-{name}"), "cpu", "fp32", 2)
    local = load_encoder(EncoderSpec(name, str(tiny_encoder_paths[name])), "cpu", "fp32", 2)
    assert from_hub.fingerprint()["revision"] == FAKE_COMMIT
    assert from_hub.fingerprint()["checkpoint"] == f"tiny-org/tiny-{name}"
    np.testing.assert_array_equal(from_hub.embed(photos), local.embed(photos))


@pytest.mark.parametrize("name", sorted(STANDARD_ENCODERS))
def test_standard_checkpoint_offline_and_uncached_gives_fix(name, hub_cache):
    with pytest.raises(EncoderError) as err:
        load_encoder(EncoderSpec(name), "cpu", "fp32", 1)
    assert STANDARD_ENCODERS[name] in err.value.problem
    assert "HF_HUB_OFFLINE" in err.value.fix or "network" in err.value.fix


def test_missing_local_dir_is_an_encoder_error(tmp_path):
    with pytest.raises(EncoderError) as err:
        load_encoder(EncoderSpec("dinov2", str(tmp_path / "nope")), "cpu", "fp32", 1)
    assert "nope" in err.value.problem and err.value.fix


def test_local_dir_without_weights_is_an_encoder_error(tmp_path):
    with pytest.raises(EncoderError, match="config.json"):
        load_encoder(EncoderSpec("clip", str(tmp_path)), "cpu", "fp32", 1)
    with pytest.raises(EncoderError, match="longclip-L.pt"):
        load_encoder(EncoderSpec("longclip", str(tmp_path)), "cpu", "fp32", 1)


def test_wrong_architecture_is_an_encoder_error(tiny_encoder_paths):
    with pytest.raises(EncoderError, match="not a dinov3 model"):
        load_encoder(EncoderSpec("dinov3", str(tiny_encoder_paths["clip"])), "cpu", "fp32", 1)
    with pytest.raises(EncoderError, match="'dinov3_vit' model, not a dinov2 model"):
        load_encoder(EncoderSpec("dinov2", str(tiny_encoder_paths["dinov3"])), "cpu", "fp32", 1)


def test_bad_dtype_is_an_encoder_error(tiny_encoder_paths):
    with pytest.raises(EncoderError, match="dtype"):
        load_encoder(EncoderSpec("clip", str(tiny_encoder_paths["clip"])), "cpu", "fp64", 1)


def _response(status: int, url: str):
    import httpx2

    return httpx2.Response(status, request=httpx2.Request("GET", url))


def test_gated_repo_maps_to_request_access_and_login():
    from huggingface_hub.errors import GatedRepoError

    repo = STANDARD_ENCODERS["dinov3"]
    exc = GatedRepoError(
        f"Access to model {repo} is restricted. You must have access to it and be authenticated.",
        response=_response(403, f"https://huggingface.co/{repo}/resolve/main/config.json"),
    )
    mapped = hub_error(exc, repo, "dinov3")
    assert isinstance(mapped, EncoderError)
    assert "gated" in mapped.problem
    assert f"https://huggingface.co/{repo}" in mapped.fix and "huggingface-cli login" in mapped.fix
    assert "HF_TOKEN" in mapped.fix
    # transformers re-raises gated failures as OSError with this wording
    wrapped = OSError(f"You are trying to access a gated repo.\nMake sure to have access to it at {repo}. 401")
    assert "huggingface-cli login" in hub_error(wrapped, repo, "dinov3").fix


def test_missing_repo_maps_to_spelling_fix():
    from huggingface_hub.errors import RepositoryNotFoundError

    exc = RepositoryNotFoundError("Repository Not Found", response=_response(404, "https://huggingface.co/a/b"))
    mapped = hub_error(exc, "a/b", "clip")
    assert isinstance(mapped, EncoderError) and "does not exist" in mapped.problem and "spelling" in mapped.fix


def test_unrelated_exception_is_not_disguised():
    exc = ZeroDivisionError("bug")
    assert hub_error(exc, "a/b", "clip") is exc


def test_registry_entries_resolve_and_unknown_names_suggest():
    for name in ENCODERS:
        assert issubclass(ENCODERS.get(name), ImageEncoder)
    assert set(ENCODERS.names()) == set(STANDARD_ENCODERS)
    with pytest.raises(SpecError) as err:
        load_encoder(EncoderSpec("dinov4"), "cpu", "fp32", 1)
    assert "Did you mean" in err.value.fix and "dinov3" in err.value.fix
