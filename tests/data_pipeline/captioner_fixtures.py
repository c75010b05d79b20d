"""Helpers for the captioner and QC tests: test images, a tiny CLIP, a scripted chat-completions server.

Why a loopback server instead of mocking ``requests``: the retry, timeout and concurrency logic
is only proven against a real socket, with real slow responses and real status codes.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def make_images(count: int, seed: int = 0, size: tuple[int, int] = (40, 48)) -> list[Image.Image]:
    """Distinct random RGB images (not square, so resize/crop runs)."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for _ in range(count)]


def build_tiny_clip(out_dir: Path, max_positions: int = 16) -> Path:
    """Tiny random CLIPModel + CLIPProcessor (in-code character vocabulary) saved with save_pretrained."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTokenizer,
        CLIPVisionConfig,
    )

    torch.manual_seed(0)
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_positions)
    config = CLIPConfig(
        text_config=CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=max_positions,
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=1,
        ).to_dict(),
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=32, patch_size=8,
        ).to_dict(),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def decode_data_url(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64", header
    return Image.open(io.BytesIO(base64.b64decode(data)))


class ChatServer:
    """A chat-completions server on 127.0.0.1 whose behaviour per request is a scripted function.

    ``behaviour(index, body)`` returns ``(status, headers, payload_or_None, delay_s)``. The server
    records every request (body, headers) and the maximum number of requests in flight at once.
    """

    def __init__(self, behaviour: Callable[[int, dict[str, Any]], tuple[int, dict[str, str], Any, float]]):
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    index = len(server.requests)
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                counted = True
                try:
                    status, headers, payload, delay = server.behaviour(index, body)
                    if delay:
                        time.sleep(delay)
                    data = json.dumps(payload if payload is not None else {"error": "scripted"}).encode()
                    # The request is answered from here on: stop counting it before the reply goes out,
                    # or the client's next request can arrive before this thread gets to the count.
                    with server._lock:
                        server.in_flight -= 1
                    counted = False
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
                    pass
                finally:
                    if counted:
                        with server._lock:
                            server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, finish_reason: str = "stop", model: str = "served-vlm") -> dict[str, Any]:
    """A minimal chat-completions response body."""
    return {
        "id": "cmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
    }


def mean_pixel_reply(index: int, body: dict[str, Any]) -> str:
    """A reply that identifies the image sent, so result order can be checked."""
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    return f"mean {np.asarray(decode_data_url(url)).mean():.4f}"
