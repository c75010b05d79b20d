"""Shared helpers for the image-set tests: tiny encoded images and a loopback HTTP server.

Why a real server: the download code must be exercised through real HTTP (requests, streaming,
Content-Length, error statuses), not a mocked client; the server binds to 127.0.0.1 only and
counts the requests it serves so tests can prove a cached load sends none.
"""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def encode_image(color: tuple[int, int, int], fmt: str = "PNG", size: int = 8) -> bytes:
    """A small solid-colour image with a one-pixel marker, encoded as ``fmt``."""
    from PIL import Image

    img = Image.new("RGB", (size, size), color)
    img.putpixel((0, 0), (255 - color[0], 255 - color[1], 255 - color[2]))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


class LoopbackServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1; ``requests`` lists the paths asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def http_server():
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()
