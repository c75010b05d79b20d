import pytest

from unified_bench.errors import SpecError
from unified_bench.specs import CaptionSettings, RuntimeOptions, parse_model_spec


def test_hf_spec_with_revision():
    spec = parse_model_spec("hf:deepseek-community/Janus-Pro-1B@abc123")
    assert (spec.scheme, spec.target, spec.revision) == ("hf", "deepseek-community/Janus-Pro-1B", "abc123")


def test_hf_spec_without_revision():
    assert parse_model_spec("hf:org/name").revision is None


def test_local_directory(tmp_path):
    spec = parse_model_spec(str(tmp_path))
    assert spec.scheme == "local" and spec.target == str(tmp_path.resolve())


def test_composite_has_two_parts(tmp_path):
    spec = parse_model_spec(f"hf:org/vlm+{tmp_path}")
    assert spec.scheme == "composite"
    assert [p.scheme for p in spec.parts] == ["hf", "local"]


def test_py_spec():
    spec = parse_model_spec("py:tests.helpers.echo_adapter:make_lossless")
    assert spec.scheme == "py" and spec.target == "tests.helpers.echo_adapter:make_lossless"


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "Empty"),
        ("org/name", "Did you mean hf:org/name"),
        ("hf:not a repo", "not a Hugging Face repo id"),
        ("./does/not/exist", "does not exist"),
        ("a+b+c", "exactly two halves"),
        ("py:module_without_factory", "py:package.module:factory"),
        ("bogus", "Unknown model spec"),
    ],
)
def test_bad_specs_name_the_problem_and_fix(raw, fragment):
    with pytest.raises(SpecError) as info:
        parse_model_spec(raw)
    assert fragment in str(info.value)
    assert info.value.fix


def test_runtime_resolves_cpu_fp32_without_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the default resolves to cuda")
    rt = RuntimeOptions().resolved()
    assert (rt.device, rt.dtype) == ("cpu", "fp32")


def test_runtime_rejects_bad_batch_size():
    with pytest.raises(SpecError):
        RuntimeOptions(device="cpu", dtype="fp32", batch_size=0).resolved()


def test_caption_settings_defaults_match_reference_protocol():
    s = CaptionSettings()
    assert s.max_new_tokens == 512 and s.temperature == 0.7 and s.do_sample
    assert 'inside double quotes ""' in s.prompt


def test_cuda_requested_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SpecError) as info:
        RuntimeOptions(device="cuda").resolved()
    assert "no CUDA device" in str(info.value) and "--device cpu" in info.value.fix


def test_unknown_device():
    with pytest.raises(SpecError):
        RuntimeOptions(device="tpu", dtype="fp32").resolved()
