"""A deterministic OpenAI-compatible server on loopback (stdlib ``http.server`` in a thread).

Serves ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/images/generations``:
- a chat reply is a function of the request only: ``"<kind> <sha256(text + image bytes + seed)[:12]>"``
  (``expected_reply`` computes it independently), so a test can check what the server saw;
- an image is a solid colour derived from the prompt (``prompt_colour``), at the requested size
  unless ``honour_size=False`` (then 48x32);
- ``faults`` scripts misbehaviour for the next requests to a path: ``("429", retry_after)``,
  ``("500",)``, ``("slow", seconds)``, ``("malformed",)``, ``("400", body)``;
- ``counts`` counts requests per path, ``bodies`` keeps every POST body, so tests prove what was
  (not) asked again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

CHAT = "/v1/chat/completions"
IMAGES = "/v1/images/generations"
MODELS = "/v1/models"


def reply_digest(text: str, images: list[bytes], seed: Any) -> str:
    h = hashlib.sha256(text.encode())
    for data in images:
        h.update(hashlib.sha256(data).digest())
    h.update(repr(seed).encode())
    return h.hexdigest()[:12]


def expected_reply(text: str, png_images: list[bytes], seed: Any) -> str:
    """What the server answers for this prompt, these (PNG-encoded) images and this seed."""
    return f"reply {reply_digest(text, png_images, seed)}"


def prompt_colour(prompt: str) -> tuple[int, int, int]:
    d = hashlib.sha256(prompt.encode()).digest()
    return d[0], d[1], d[2]


class ServedTestServer:
    """Context manager: ``with ServedTestServer() as server: server.url`` is the /v1 base."""

    def __init__(self, models: tuple[str, ...] = ("tiny-vlm",), key: str | None = None, chat: bool = True,
                 images: bool = True, honour_size: bool = True, list_models: bool = True,
                 accepts_image_seed: bool = True, owned_by: str = "loopback") -> None:
        self.models = models
        self.key = key
        self.chat = chat
        self.images = images
        self.honour_size = honour_size
        self.list_models = list_models
        self.accepts_image_seed = accepts_image_seed
        self.owned_by = owned_by
        self.faults: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay_s = 0.0  # every POST waits this long (to see concurrency)
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def fault(self, path: str, *faults: tuple[Any, ...]) -> None:
        with self.lock:
            self.faults[path].extend(faults)

    def generation_posts(self) -> list[dict[str, Any]]:
        """Generation requests that carried a prompt (not the probe)."""
        return [b for p, b in self.bodies if p == IMAGES and "prompt" in b]

    def chat_posts(self) -> list[dict[str, Any]]:
        """Chat requests with images (not the text-only probe)."""
        return [b for p, b in self.bodies if p == CHAT and isinstance(b["messages"][0]["content"], list)]

    def __enter__(self) -> ServedTestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                      raw: bytes | None = None) -> None:
                body = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _authorised(self) -> bool:
                if server.key is None or self.headers.get("Authorization") == f"Bearer {server.key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                with server.lock:
                    server.counts[self.path] += 1
                if not self._authorised():
                    return
                if self.path == MODELS and server.list_models:
                    data = [{"id": m, "object": "model", "created": int(time.time()), "owned_by": server.owned_by,
                             "root": f"/models/{m}"} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.counts[self.path] += 1
                    server.bodies.append((self.path, body))
                    fault = server.faults[self.path].pop(0) if server.faults[self.path] else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    self._post(body, fault)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _post(self, body: dict[str, Any], fault: tuple[Any, ...] | None) -> None:
                if not self._authorised():
                    return
                if fault is not None:
                    kind = fault[0]
                    if kind == "429":
                        return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": str(fault[1])})
                    if kind == "500":
                        return self._send(500, {"error": {"message": "boom"}})
                    if kind == "slow":
                        time.sleep(fault[1])
                    if kind == "malformed":
                        return self._send(200, None, raw=b'{"choices": [ {"mess')
                    if kind == "400":
                        return self._send(400, {"error": {"message": fault[1]}})
                routes = {CHAT: server.chat, IMAGES: server.images}
                if not routes.get(self.path):
                    return self._send(404, {"detail": "Not Found"})
                if body.get("model") not in server.models:
                    return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                if self.path == CHAT:
                    return self._chat(body)
                return self._image(body)

            def _chat(self, body: dict[str, Any]) -> None:
                content = body["messages"][0]["content"]
                if isinstance(content, str):
                    text, images = content, []
                else:
                    text = "".join(p["text"] for p in content if p["type"] == "text")
                    images = [base64.b64decode(p["image_url"]["url"].split(",", 1)[1])
                              for p in content if p["type"] == "image_url"]
                reply = expected_reply(text, images, body.get("seed"))
                self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "system_fingerprint": "fp_loopback",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                 "finish_reason": "stop"}],
                })

            def _image(self, body: dict[str, Any]) -> None:
                if "prompt" not in body:
                    return self._send(400, {"error": {"message": "Missing required parameter: 'prompt'."}})
                if "seed" in body and not server.accepts_image_seed:
                    return self._send(400, {"error": {"message": "Unknown parameter: 'seed'."}})
                w, h = (int(v) for v in str(body.get("size", "64x64")).split("x"))
                if not server.honour_size:
                    w, h = 48, 32
                buf = io.BytesIO()
                Image.new("RGB", (w, h), prompt_colour(body["prompt"])).save(buf, format="PNG")
                self._send(200, {"created": 0, "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
