"""Served models (``openai:NAME@URL``): spec, shared client, probe and adapter against a loopback server."""

from __future__ import annotations

import base64
import io
import socket
import time

import numpy as np
import pytest
from PIL import Image

from tests.models.served_server import CHAT, IMAGES, MODELS, ServedTestServer, expected_reply, prompt_colour
from unified_bench.core.openai_client import (
    CircuitBreaker,
    ClientConfig,
    OpenAIClient,
    RequestFailed,
    image_data_url,
)
from unified_bench.errors import SpecError
from unified_bench.models.base import Capability
from unified_bench.models.loader import load_model
from unified_bench.models.served import ServedAdapter, ServedRequestError
from unified_bench.specs import (
    AnswerSettings,
    CaptionSettings,
    GenerationSettings,
    RuntimeOptions,
    ServedOptions,
    parse_model_spec,
)

CPU = RuntimeOptions(device="cpu", dtype="fp32")
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _png(image: Image.Image) -> bytes:
    return base64.b64decode(image_data_url(image).split(",", 1)[1])


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (12, 10 + i, 3), dtype=np.uint8)) for i in range(n)]


def _adapter(server: ServedTestServer, role: str | None = None, **served) -> ServedAdapter:
    spec = parse_model_spec(f"openai:{server.models[0]}@{server.url}").with_served(ServedOptions(**served))
    adapter = load_model(spec, CPU) if role is None else ServedAdapter(spec, CPU, role)
    assert isinstance(adapter, ServedAdapter)
    return adapter


def _client(server: ServedTestServer, **kw) -> OpenAIClient:
    return OpenAIClient(ClientConfig(base_url=server.url, model=server.models[0], **(FAST | kw)))


# -- spec -----------------------------------------------------------------------------------------
def test_spec_forms_and_what_is_recorded():
    spec = parse_model_spec("openai:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1/")
    assert (spec.scheme, spec.target, spec.endpoint) == ("openai", "Qwen/Qwen2.5-VL-7B-Instruct",
                                                          "http://localhost:8000/v1")
    # Transport options (key variable name, concurrency) are in no identity.
    with_options = spec.with_served(ServedOptions(api_key_env="MY_KEY", concurrency=3))
    assert with_options == spec and with_options.to_dict() == spec.to_dict()
    assert "MY_KEY" not in repr(with_options.to_dict())
    left = parse_model_spec("openai:captioner@http://h:1/v1+hf:ORG/T2I")
    assert [p.scheme for p in left.parts] == ["openai", "hf"] and left.parts[0].endpoint == "http://h:1/v1"
    right = parse_model_spec("hf:ORG/VLM+openai:gen@https://api.example.com/v1").with_served(
        ServedOptions(api_key_env="K"))
    assert right.parts[1].target == "gen" and right.parts[1].served.api_key_env == "K"


@pytest.mark.parametrize("raw", ["openai:name", "openai:@http://h/v1", "openai:name@ftp://h/v1"])
def test_bad_served_spec_says_how_to_write_it(raw):
    with pytest.raises(SpecError, match="openai:MODEL@http://host:port/v1"):
        parse_model_spec(raw)


def test_api_key_env_must_be_a_name_and_a_key_is_not_echoed():
    with pytest.raises(SpecError, match="NAME of the variable") as err:
        ServedOptions(api_key_env="sk-proj-abcdef123")
    assert "sk-proj" not in str(err.value)
    with pytest.raises(SpecError, match="caption, answer, generate"):
        ServedOptions(capabilities=("draw",))


# -- client: retries, backoff, deadline -------------------------------------------------------------
def test_429_retry_after_is_honoured_then_succeeds():
    with ServedTestServer() as server:
        server.fault(CHAT, ("429", 1))
        client = _client(server)
        start = time.monotonic()
        reply = client.chat([{"role": "user", "content": "hi"}], seed=3)
        assert time.monotonic() - start >= 0.9  # waited for Retry-After, not the 10 ms backoff
    assert reply.text == expected_reply("hi", [], 3) and server.counts[CHAT] == 2


def test_500_slow_and_malformed_responses_are_retried():
    with ServedTestServer() as server:
        server.fault(CHAT, ("500",), ("slow", 1.5), ("malformed",))
        client = _client(server, timeout_s=0.5)
        reply = client.chat([{"role": "user", "content": "hi"}], seed=0)
    assert reply.text == expected_reply("hi", [], 0)
    assert server.counts[CHAT] == 4


def test_retries_run_out_into_one_request_failure():
    with ServedTestServer() as server:
        server.fault(CHAT, *[("500",)] * 3)
        with pytest.raises(RequestFailed, match="gave up after 3 attempts"):
            _client(server, max_retries=2).chat([{"role": "user", "content": "hi"}])
        assert server.counts[CHAT] == 3


def test_deadline_bounds_a_request_with_its_retries():
    with ServedTestServer() as server:
        server.fault(CHAT, ("429", 30))
        start = time.monotonic()
        with pytest.raises(RequestFailed, match="deadline"):
            _client(server, deadline_s=2.0).chat([{"role": "user", "content": "hi"}])
        assert time.monotonic() - start < 20  # did not sleep the 30 s Retry-After
        assert server.counts[CHAT] == 1


def test_client_error_is_not_retried():
    with ServedTestServer() as server:
        server.fault(CHAT, ("400", "context too long"))
        with pytest.raises(RequestFailed, match="context too long") as err:
            _client(server).chat([{"role": "user", "content": "hi"}])
    assert err.value.status == 400 and server.counts[CHAT] == 1


def test_failures_say_whether_the_server_ever_answered():
    """``transient`` separates an outage (retries or deadline spent) from a refusal: the data pipeline
    waits out the first and records the second as the item's failure."""
    hi = [{"role": "user", "content": "hi"}]
    with ServedTestServer() as server:
        server.fault(CHAT, ("500",), ("500",), ("400", "context too long"), ("429", 30))
        client = _client(server, max_retries=1)
        with pytest.raises(RequestFailed, match="gave up after 2 attempts") as spent:
            client.chat(hi)
        with pytest.raises(RequestFailed, match="context too long") as refused:
            client.chat(hi)
        with pytest.raises(RequestFailed, match="deadline") as late:
            _client(server, deadline_s=1.0).chat(hi)
    assert spent.value.transient and spent.value.status == 500
    assert not refused.value.transient and refused.value.status == 400
    assert late.value.transient and late.value.status == 429


def test_circuit_breaker_stops_sending_to_a_failing_endpoint_until_its_pause_is_over():
    hi = [{"role": "user", "content": "hi"}]
    breaker = CircuitBreaker(threshold=2, base_s=1.0, max_s=1.0)
    with ServedTestServer() as server:
        server.fault(CHAT, ("500",), ("500",))
        client = OpenAIClient(ClientConfig(base_url=server.url, model=server.models[0], max_retries=5, **FAST),
                              breaker=breaker)
        start = time.monotonic()
        with pytest.raises(RequestFailed, match="circuit open.*HTTP 500") as err:
            client.chat(hi)
        assert err.value.transient and server.counts[CHAT] == 2  # 2 failures opened it: retry 3 was not sent
        with pytest.raises(RequestFailed, match="circuit open"):
            client.chat(hi)  # another request fails at once, unsent
        assert server.counts[CHAT] == 2 and time.monotonic() - start < 1.0
        time.sleep(1.0)
        assert client.chat(hi, seed=1).text == expected_reply("hi", [], 1)  # half-open: one went through
        assert breaker.allow() and server.counts[CHAT] == 3


def test_an_answer_from_the_server_closes_the_circuit_even_a_refusal():
    """A 4xx means the server is up (the request was bad): it resets the count of failures in a row."""
    hi = [{"role": "user", "content": "hi"}]
    breaker = CircuitBreaker(threshold=2, base_s=30.0, max_s=30.0)
    with ServedTestServer() as server:
        server.fault(CHAT, ("500",), ("400", "bad request"), ("500",))
        client = OpenAIClient(ClientConfig(base_url=server.url, model=server.models[0], max_retries=0, **FAST),
                              breaker=breaker)
        for _ in range(3):
            with pytest.raises(RequestFailed):
                client.chat(hi)
        assert breaker.allow()  # 500, 400, 500: never two transport failures in a row
        assert client.chat(hi, seed=2).text == expected_reply("hi", [], 2)
    assert server.counts[CHAT] == 4


def test_concurrency_is_bounded_and_results_keep_their_order():
    with ServedTestServer() as server:
        server.delay_s = 0.2
        client = _client(server, concurrency=2)
        out = client.map(lambda i: client.chat([{"role": "user", "content": str(i)}], seed=i).text, list(range(6)))
        client.close()
    assert out == [expected_reply(str(i), [], i) for i in range(6)]
    assert server.max_in_flight == 2


# -- probe: configuration problems before any work -----------------------------------------------
def test_wrong_or_missing_key_fails_before_any_work_and_the_key_is_never_shown(monkeypatch):
    with ServedTestServer(key="sk-right") as server:
        with pytest.raises(SpecError, match="export SERVED_KEY") as missing:
            _adapter(server, api_key_env="SERVED_KEY")
        monkeypatch.setenv("SERVED_KEY", "sk-wrong-secret")
        with pytest.raises(SpecError, match=r"(?s)refused the API key.*\$SERVED_KEY") as wrong:
            _adapter(server, api_key_env="SERVED_KEY")
        monkeypatch.setenv("SERVED_KEY", "sk-right")
        adapter = _adapter(server, api_key_env="SERVED_KEY")
    assert "sk-wrong-secret" not in str(wrong.value) and "401" in str(missing.value)
    assert "sk-right" not in repr(adapter.identity().to_dict())
    assert server.chat_posts() == [] and server.generation_posts() == []


def test_unknown_model_lists_what_is_served():
    with ServedTestServer(models=("a", "b")) as server:
        spec = parse_model_spec(f"openai:c@{server.url}")
        with pytest.raises(SpecError, match="it serves: a, b"):
            load_model(spec, CPU)


def test_unknown_model_without_a_models_route_is_caught_by_the_chat_probe():
    with ServedTestServer(list_models=False) as server:
        with pytest.raises(SpecError, match="does not serve a model named 'nope'"):
            load_model(parse_model_spec(f"openai:nope@{server.url}"), CPU)


def test_unreachable_server_says_start_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SpecError, match="(?s)Cannot reach the server.*vllm serve"):
        load_model(parse_model_spec(f"openai:m@http://127.0.0.1:{port}/v1").with_served(
            ServedOptions(max_retries=0)), CPU)


def test_capabilities_come_from_the_probe():
    with ServedTestServer(images=False) as server:  # like vLLM: chat only
        assert _adapter(server).capabilities == {Capability.CAPTION, Capability.ANSWER}
        with pytest.raises(SpecError, match="images/generations"):
            _adapter(server, capabilities=("caption", "generate"))  # declared but missing
        with pytest.raises(SpecError, match="images/generations"):
            _adapter(server, role="generation")  # a composite's generator half must draw
    with ServedTestServer(chat=False) as server:
        assert _adapter(server).capabilities == {Capability.GENERATE}
    with ServedTestServer(chat=False, images=False) as server:
        with pytest.raises(SpecError, match="neither chat completions nor image generation"):
            _adapter(server)


def test_declared_capabilities_limit_what_is_offered():
    with ServedTestServer() as server:
        adapter = _adapter(server, capabilities=("caption",))
    assert adapter.capabilities == {Capability.CAPTION}
    assert server.counts[IMAGES] == 0 and server.counts[MODELS] == 1


# -- adapter ---------------------------------------------------------------------------------------
def test_caption_request_is_text_first_with_explicit_decoding_and_per_item_seeds():
    images = _images(3)
    settings = CaptionSettings(prompt="Describe.", temperature=0.7, top_p=0.9, max_new_tokens=33)
    with ServedTestServer() as server:
        adapter = _adapter(server)
        out = adapter.caption(images, settings, [5, 6, 7])
        single = adapter.caption(images[1:2], settings, [6])
    assert out == [expected_reply("Describe.", [_png(im)], s) for im, s in zip(images, [5, 6, 7], strict=True)]
    assert single == out[1:2]  # an item's output does not depend on its batch
    body = next(b for b in server.chat_posts() if b["seed"] == 5)  # the first item (requests race)
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": "Describe."} and image["type"] == "image_url"
    decoded = Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"].split(",", 1)[1])))
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(images[0]))
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "n")} == {
        "max_tokens": 33, "temperature": 0.7, "top_p": 0.9, "n": 1}
    assert "top_k" not in body and "repetition_penalty" not in body  # neutral: not sent (OpenAI refuses them)
    assert sorted(b["seed"] for b in server.chat_posts()) == [5, 6, 6, 7]


@pytest.mark.parametrize(("images_first", "order"), [
    (True, ["image_url", "image_url", "text"]),  # the multiple-choice reference prompt (default)
    (False, ["text", "image_url", "image_url"]),
])
def test_answer_sends_images_and_question_in_the_settings_order(images_first, order):
    images = _images(3)
    settings = AnswerSettings(images_first=images_first)
    with ServedTestServer() as server:
        adapter = _adapter(server)
        out = adapter.answer([images[:2], images[2:]], ["Which?", "Why?"], settings, [1, 2])
    assert out == [expected_reply("Which?", [_png(images[0]), _png(images[1])], 1),
                   expected_reply("Why?", [_png(images[2])], 2)]
    first = next(b for b in server.chat_posts() if b["seed"] == 1)
    assert [p["type"] for p in first["messages"][0]["content"]] == order
    assert first["temperature"] == 0.0  # greedy answers


def test_generate_through_the_images_endpoint():
    settings = GenerationSettings(height=24, width=40)
    with ServedTestServer() as server:
        adapter = _adapter(server)
        out = adapter.generate(["a cat", "a dog"], settings, [1, 2])
    assert [im.size for im in out] == [(40, 24), (40, 24)]
    assert out[0].getpixel((0, 0)) == prompt_colour("a cat")
    body = next(b for b in server.generation_posts() if b["prompt"] == "a cat")
    assert body | {"prompt": "x"} == {"model": "tiny-vlm", "prompt": "x", "n": 1, "size": "40x24",
                                      "response_format": "b64_json", "seed": body["seed"]}
    notes = adapter.generation_notes(settings)
    assert {"size", "num_inference_steps", "guidance_scale"} <= set(notes)


def test_size_not_honoured_is_kept_as_drawn_and_a_refused_seed_is_dropped_and_flagged():
    with ServedTestServer(honour_size=False, accepts_image_seed=False) as server:
        adapter = _adapter(server)
        out = adapter.generate(["a", "b"], GenerationSettings(height=64, width=64), [1, 2])
    assert [im.size for im in out] == [(48, 32), (48, 32)]
    # Each prompt was drawn once without the refused seed (the two may race to find out it is refused).
    assert sorted(b["prompt"] for b in server.generation_posts() if "seed" not in b) == ["a", "b"]
    assert "seed" in adapter.provenance_flags()["parameters refused by the server"]


def test_identity_names_host_model_and_server_version_and_says_unpinned():
    with ServedTestServer() as server:
        adapter = _adapter(server)
    (component,) = adapter.identity().components
    assert component.source == f"openai:tiny-vlm@{server.url}"
    assert component.revision.startswith("unpinned served model")
    assert "owned_by=loopback" in component.revision and "system_fingerprint=fp_loopback" in component.revision
    # The cache identity leaves out request-time fields (vLLM's `created` is the time of the request).
    (cache_component,) = adapter.identity_for(Capability.CAPTION).components
    assert "created=" in component.revision and "created=" not in cache_component.revision
    assert "unpinned served model" in adapter.provenance_flags()


def test_a_failed_item_does_not_make_its_finished_neighbours_ask_again():
    images = _images(3)
    with ServedTestServer() as server:
        adapter = _adapter(server, concurrency=1, max_retries=0)
        before = server.counts[CHAT]
        server.fault(CHAT, ("500",))  # the first item's only attempt fails
        with pytest.raises(ServedRequestError, match="HTTP 500"):
            adapter.caption(images, CaptionSettings(), [1, 2, 3])
        assert server.counts[CHAT] - before == 3
        # The runner retries a failed batch item by item: only the failed item is asked again.
        singles = [adapter.caption([im], CaptionSettings(), [s]) for im, s in zip(images, [1, 2, 3], strict=True)]
    assert server.counts[CHAT] - before == 4
    assert [s[0] for s in singles] == [expected_reply(CaptionSettings().prompt, [_png(im)], s)
                                       for im, s in zip(images, [1, 2, 3], strict=True)]


def test_a_key_revoked_mid_run_stops_the_run(monkeypatch):
    monkeypatch.setenv("SERVED_KEY", "sk-right")
    with ServedTestServer(key="sk-right") as server:
        adapter = _adapter(server, api_key_env="SERVED_KEY")
        monkeypatch.setenv("SERVED_KEY", "sk-revoked")
        with pytest.raises(SpecError, match="refused the API key"):
            adapter.caption(_images(2), CaptionSettings(), [1, 2])


def test_no_repeat_ngram_size_is_refused_before_work():
    with ServedTestServer() as server:
        adapter = _adapter(server)
    with pytest.raises(SpecError, match="no_repeat_ngram_size"):
        adapter.validate_settings("caption", CaptionSettings(no_repeat_ngram_size=3))
