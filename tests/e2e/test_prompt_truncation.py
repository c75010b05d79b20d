"""Prompt truncation by the generator's text encoder is counted per sample and reported (issue 8, item 9).

A captioner writing hundreds of tokens against a 77-token CLIP text encoder regenerates from a
fraction of its caption. The echo plugin's caption (a base64 PNG) is such a caption; paired with
the demo Stable Diffusion, every sample's record must say how many tokens were cut, results.json
how many samples were affected, the report must show it, and the log must warn once.
"""

from __future__ import annotations

import logging
import os

import pytest

#: Where ``echo_then_demo_sd`` finds the demo Stable Diffusion (set by the test).
T2I_ENV = "UNIFIED_BENCH_TEST_T2I_DIR"


def echo_then_demo_sd(runtime):
    """Plugin factory: the echo captioner (base64-PNG captions, hundreds of CLIP tokens) composed
    with the demo Stable Diffusion through the real loader (``py:`` specs do not split on ``+``)."""
    from tests.helpers.echo_adapter import EchoAdapter
    from unified_bench.models.composite import CompositeAdapter
    from unified_bench.models.loader import load_model
    from unified_bench.specs import parse_model_spec

    t2i = load_model(parse_model_spec(os.environ[T2I_ENV]), runtime)
    return CompositeAdapter(EchoAdapter(noise=0.0), t2i, "echo+demo-sd")


@pytest.fixture(scope="module")
def t2i_dir(tmp_path_factory):
    from unified_bench.demo.models import build_demo_t2i

    return build_demo_t2i(tmp_path_factory.mktemp("t2i") / "sd")


def test_notes_count_truncated_tokens_per_item(t2i_dir):
    """Through the executor's call (what the runner and a Dask worker run): only the long prompt
    gets a note, with exactly the tokens beyond the tokenizer's limit."""
    from unified_bench.models.base import Capability
    from unified_bench.models.loader import load_model
    from unified_bench.runner.executor import BatchCall, call_adapter
    from unified_bench.specs import GenerationSettings, RuntimeOptions, parse_model_spec
    from unified_bench.tasks.base import Request

    t2i = load_model(parse_model_spec(str(t2i_dir)), RuntimeOptions(device="cpu", dtype="fp32"))
    tokenizer = t2i.pipe.tokenizer
    long_prompt, short_prompt = "a red square on a blue field " * 40, "a cat"
    expected = len(tokenizer(long_prompt).input_ids) - tokenizer.model_max_length
    assert expected > 0
    settings = GenerationSettings(height=32, width=32, num_inference_steps=2)
    call = BatchCall("generate", Capability.GENERATE, settings,
                     (Request("a", text=long_prompt), Request("b", text=short_prompt)), (0, 1))
    long_out, short_out = call_adapter(t2i, call)
    assert long_out["notes"] == {"prompt_truncated_tokens": expected}
    assert "notes" not in short_out
    assert t2i.take_item_notes() is None  # taken once: the next call starts clean
    t2i.close()


def test_run_records_reports_and_warns_once(tmp_path, t2i_dir, caplog, monkeypatch):
    from unified_bench.demo.encoders import build_demo_encoders
    from unified_bench.demo.runs import unified_demo_run
    from unified_bench.report.html import write_report
    from unified_bench.runner.evaluate import evaluate
    from unified_bench.specs import ExecutionOptions

    encoders = build_demo_encoders(tmp_path / "encoders")
    monkeypatch.setenv(T2I_ENV, str(t2i_dir))
    run = unified_demo_run("py:tests.e2e.test_prompt_truncation:echo_then_demo_sd", encoders)
    with caplog.at_level(logging.WARNING):
        results = evaluate(run, ExecutionOptions(out=tmp_path / "run", show_progress=False, report=False)).results
    counts = [s.outputs["prompt_truncated_tokens"] for s in results.samples]
    generated = [s for s in results.samples if s.outputs.get("generated_image")]
    assert generated and all(s.outputs["prompt_truncated_tokens"] > 0 for s in generated)
    assert results.settings["n_prompts_truncated"] == sum(1 for c in counts if c)
    warnings = [r for r in caplog.records if "token limit" in r.getMessage()]
    assert len(warnings) == 1
    write_report(tmp_path / "run")
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="prompts-truncated"' in html and f"{results.settings['n_prompts_truncated']} of" in html
    first = generated[0].outputs["prompt_truncated_tokens"]
    assert f"truncated this caption: {first} tokens not used" in html  # next to the sample's scores
