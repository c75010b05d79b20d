"""The OpenAI-compatible captioner against a scripted chat-completions server on loopback."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from data_pipeline.captioners.base import CaptionerConfig
from data_pipeline.captioners.errors import CaptionerError
from data_pipeline.captioners.factory import clear_captioner_cache, get_captioner
from data_pipeline.captioners.openai_compat import OpenAICompatCaptioner, backoff_delay, parse_retry_after

try:
    from .captioner_fixtures import ChatServer, completion, decode_data_url, make_images, mean_pixel_reply
except ImportError:  # tests/data_pipeline is not a package
    from captioner_fixtures import ChatServer, completion, decode_data_url, make_images, mean_pixel_reply

FAST_RETRY = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


def _config(endpoint: str, **kw) -> CaptionerConfig:
    base = {"backend": "openai", "model": "served-vlm", "endpoint": endpoint, "prompt": "Describe it.",
            "max_new_tokens": 64, "temperature": 0.0, "timeout_s": 5.0, "max_retries": 3, "concurrency": 2,
            "extra": dict(FAST_RETRY)}
    base.update(kw)
    return CaptionerConfig(**base)


def test_normal_response_body_and_record(monkeypatch):
    monkeypatch.setenv("CAPTION_TEST_KEY", "sk-secret-123")
    image = make_images(1)[0]
    with ChatServer(lambda i, body: (200, {}, completion("A red square.", "length"), 0)) as server:
        captioner = OpenAICompatCaptioner(_config(server.endpoint, api_key_env="CAPTION_TEST_KEY"))
        (result,) = captioner.caption_batch([image])
    assert result.text == "A red square." and result.error is None
    assert result.finish_reason == "length"  # taken from the response
    body = server.requests[0]
    assert body["model"] == "served-vlm" and body["max_tokens"] == 64 and body["temperature"] == 0.0
    image_part, text_part = body["messages"][0]["content"]
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    np.testing.assert_array_equal(np.asarray(decode_data_url(image_part["image_url"]["url"])), np.asarray(image))
    assert text_part == {"type": "text", "text": "Describe it."}
    assert server.headers[0]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in repr(result.record) and "sk-secret-123" not in repr(captioner.record())
    assert result.record["served_model"] == "served-vlm"
    assert result.record["prompt_sha256"] == captioner.config.prompt_sha256


def test_429_with_retry_after_is_honoured_then_succeeds():
    def behaviour(i, body):
        if i == 0:
            return 429, {"Retry-After": "1"}, {"error": "rate limited"}, 0
        return 200, {}, completion("ok."), 0

    with ChatServer(behaviour) as server:
        start = time.monotonic()
        (result,) = OpenAICompatCaptioner(_config(server.endpoint)).caption_batch(make_images(1))
        elapsed = time.monotonic() - start
    assert result.text == "ok." and len(server.requests) == 2
    assert elapsed >= 1.0  # waited for Retry-After, not the 10 ms backoff


def test_500_then_success():
    with ChatServer(lambda i, b: (500, {}, None, 0) if i == 0 else (200, {}, completion("fine."), 0)) as server:
        (result,) = OpenAICompatCaptioner(_config(server.endpoint)).caption_batch(make_images(1))
    assert result.text == "fine." and result.error is None and len(server.requests) == 2


def test_slow_response_times_out_and_is_retried():
    with ChatServer(lambda i, b: (200, {}, completion("slow." if i == 0 else "quick."), 1.5 if i == 0 else 0)) as s:
        start = time.monotonic()
        (result,) = OpenAICompatCaptioner(_config(s.endpoint, timeout_s=0.3)).caption_batch(make_images(1))
        elapsed = time.monotonic() - start
    assert result.text == "quick." and len(s.requests) == 2
    assert elapsed < 1.5  # gave up on the slow answer instead of waiting for it


def test_permanent_failure_becomes_error_result():
    with ChatServer(lambda i, b: (503, {}, None, 0)) as server:
        (result,) = OpenAICompatCaptioner(_config(server.endpoint, max_retries=2)).caption_batch(make_images(1))
    assert result.text is None and len(server.requests) == 3  # 1 try + 2 retries
    assert "gave up after 3 attempts" in result.error and "HTTP 503" in result.error
    assert result.transport_error  # the server never answered: the caption stage waits, not rejects


def test_client_error_is_not_retried():
    with ChatServer(lambda i, b: (400, {}, {"error": "bad model name"}, 0)) as server:
        (result,) = OpenAICompatCaptioner(_config(server.endpoint)).caption_batch(make_images(1))
    assert len(server.requests) == 1 and "HTTP 400" in result.error and "bad model name" in result.error
    assert not result.transport_error  # the server answered and refused: the sample's own failure


def test_malformed_json_is_retried_as_a_transport_failure():
    """A 200 whose body is not a JSON object (a truncated answer from an overloaded proxy) is retried by
    the shared client; when retries run out it is a transport error (the shard waits), not a row lost."""
    with ChatServer(lambda i, b: (200, {}, "truncated" if i == 0 else completion("fine."), 0)) as server:
        (result,) = OpenAICompatCaptioner(_config(server.endpoint)).caption_batch(make_images(1))
    assert result.text == "fine." and len(server.requests) == 2
    with ChatServer(lambda i, b: (200, {}, "truncated", 0)) as server:
        (result,) = OpenAICompatCaptioner(_config(server.endpoint, max_retries=1)).caption_batch(make_images(1))
    assert result.text is None and result.transport_error and "malformed JSON" in result.error


def test_a_refused_seed_is_dropped_and_recorded():
    """A server that rejects ``seed`` (HTTP 400 naming it) still captions; the record says the seed was
    not applied, so nobody takes those captions for reproducible ones."""
    def behaviour(i, body):
        if "seed" in body:
            return 400, {}, {"error": {"message": "Unknown parameter: 'seed'."}}, 0
        return 200, {}, completion("unseeded."), 0

    with ChatServer(behaviour) as server:
        results = OpenAICompatCaptioner(_config(server.endpoint, concurrency=1)).caption_batch(make_images(2))
    assert [r.text for r in results] == ["unseeded.", "unseeded."]
    assert all(r.record["seed_applied"] is False for r in results)
    assert len(server.requests) == 3  # one refusal, then no seed sent for the rest of the session


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    captioner = OpenAICompatCaptioner(_config(f"http://127.0.0.1:{port}/v1", max_retries=1))
    (result,) = captioner.caption_batch(make_images(1))
    assert result.text is None and "gave up after 2 attempts" in result.error and "connection error" in result.error


def test_bounded_concurrency_and_input_order():
    images = make_images(12, seed=3)
    with ChatServer(lambda i, body: (200, {}, completion(mean_pixel_reply(i, body)), 0.1)) as server:
        results = OpenAICompatCaptioner(_config(server.endpoint, concurrency=3)).caption_batch(images)
    assert 2 <= server.max_in_flight <= 3
    assert [r.text for r in results] == [f"mean {np.asarray(im).mean():.4f}" for im in images]


def test_config_errors_fail_fast(monkeypatch):
    monkeypatch.delenv("CAPTION_MISSING_KEY", raising=False)
    with pytest.raises(CaptionerError, match="CAPTION_MISSING_KEY"):
        OpenAICompatCaptioner(_config("http://127.0.0.1:9/v1", api_key_env="CAPTION_MISSING_KEY"))
    with pytest.raises(CaptionerError, match="endpoint"):
        OpenAICompatCaptioner(_config("127.0.0.1:9"))
    with pytest.raises(CaptionerError, match="concurrency"):
        OpenAICompatCaptioner(_config("http://127.0.0.1:9/v1", concurrency=0))
    with pytest.raises(CaptionerError, match="image_format"):  # once, not as an error row per sample
        OpenAICompatCaptioner(_config("http://127.0.0.1:9/v1", extra={"image_format": "webp"}))


def test_factory_builds_openai_backend():
    clear_captioner_cache()
    cfg = _config("http://127.0.0.1:9/v1")
    assert isinstance(get_captioner(cfg), OpenAICompatCaptioner)
    assert get_captioner(cfg) is get_captioner(cfg)
    clear_captioner_cache()


def test_retry_after_and_backoff_helpers():
    import random

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now
    rng = random.Random(0)
    delays = [backoff_delay(a, 1.0, 8.0, rng) for a in range(6)]
    for attempt, delay in enumerate(delays):
        step = min(8.0, 2.0**attempt)
        assert step / 2 <= delay <= step
