"""Shared fixtures for the data pipeline tests: one Dask cluster, one loopback HTTP server, and a
bad-input corpus (every way a web image can be broken) generated once per session."""

from __future__ import annotations

import io
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "images"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dask_client():
    """One in-process cluster (2 single-thread workers) for the whole session: start-up is slow."""
    import dask
    from distributed import Client, LocalCluster

    # No statistical profiler: its sys._current_frames() sample can run a garbage collection, and a
    # finaliser that releases the GIL inside it (an SQLite connection's) deadlocked this process once.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                               protocol="tcp", host="127.0.0.1")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


class Route:
    def __init__(self, status: int = 200, body: bytes = b"", ctype: str | None = "image/jpeg",
                 delay: float = 0.0, headers: dict[str, str] | None = None, fail_first: int = 0,
                 drip_s: float = 0.0) -> None:
        self.status, self.body, self.ctype, self.delay, self.drip_s = status, body, ctype, delay, drip_s
        self.headers = headers or {}
        self.fail_first = fail_first
        self.hits = 0
        self.served_at: list[float] = []  # time.monotonic() when each response was fully written


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route.hits += 1
                if route.delay:
                    time.sleep(route.delay)
                status = 503 if route.hits <= route.fail_first else route.status
                try:
                    self.send_response(status)
                    if route.ctype:
                        self.send_header("Content-Type", route.ctype)
                    for k, v in route.headers.items():
                        self.send_header(k, v)
                    body = route.body if status == 200 else b"error"
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if route.drip_s:  # a slow-drip host: one byte at a time
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(route.drip_s)
                    else:
                        self.wfile.write(body)
                    route.served_at.append(time.monotonic())
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 drops connects under parallel fetches

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def http_server():
    srv = LoopbackServer()
    yield srv
    srv.close()


def _jpeg(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def make_corpus() -> dict[str, tuple[Route, str | None]]:
    """path -> (route, expected reason or None for accepted). Images 64-96 px: fast to process."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = Image.open(FIXTURE_IMAGES / "astronaut.jpg").convert("RGB").resize((96, 96))
    coffee = Image.open(FIXTURE_IMAGES / "coffee.jpg").convert("RGB").resize((96, 64))
    good = _jpeg(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    rotated = _jpeg(coffee, exif=exif.tobytes())
    cmyk = _jpeg(Image.open(FIXTURE_IMAGES / "rocket.jpg").convert("CMYK").resize((80, 64)))
    arr16 = (np.linspace(0, 65535, 72 * 72).reshape(72, 72)).astype(np.uint16)
    png16 = _png(Image.fromarray(arr16))
    pal = Image.open(FIXTURE_IMAGES / "chelsea.jpg").convert("RGB").resize((80, 72)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette_png = _png(pal, transparency=0)
    la = _png(Image.open(FIXTURE_IMAGES / "camera.jpg").convert("LA").resize((72, 72)))
    frames = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    bomb = _png(Image.new("L", (3000, 3000)))  # 9 Mpx of zeros: tiny file, refused by max_pixels=4M
    big_noise = _png(Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)))  # ~270 kB
    wide = _jpeg(Image.open(FIXTURE_IMAGES / "hubble_deep_field.jpg").convert("RGB").resize((200, 40)))
    tiny = _jpeg(photo.resize((20, 20)))
    return {
        "/ok.jpg": (Route(body=good), None),
        "/ok_dup.jpg": (Route(body=good), "duplicate_exact"),
        "/ok_near.jpg": (Route(body=_jpeg(photo, subsampling=0)), "duplicate_near"),
        "/flaky.jpg": (Route(body=_jpeg(Image.open(FIXTURE_IMAGES / "immunohistochemistry.jpg").convert("RGB")),
                             fail_first=1), None),
        "/missing.jpg": (Route(status=404), "http_404"),
        "/error.jpg": (Route(status=500), "http_500"),
        "/slow.jpg": (Route(body=good, delay=3.0), "timeout"),
        "/truncated.jpg": (Route(body=good[: len(good) // 2]), "decode_error"),
        "/bomb.png": (Route(body=bomb, ctype="image/png"), "decompression_bomb"),
        "/empty.jpg": (Route(body=b""), "empty"),
        "/page.jpg": (Route(body=b"<html><body>not an image</body></html>", ctype="text/html"), "bad_content_type"),
        "/huge.png": (Route(body=big_noise, ctype="image/png"), "too_large"),
        "/loop.jpg": (Route(status=302, headers={"Location": "/loop.jpg"}), "too_many_redirects"),
        "/cmyk.jpg": (Route(body=cmyk), None),
        "/gray16.png": (Route(body=png16, ctype="image/png"), None),
        "/palette.png": (Route(body=palette_png, ctype="image/png"), None),
        "/la.png": (Route(body=la, ctype="image/png"), None),
        "/anim.gif": (Route(body=gif.getvalue(), ctype="image/gif"), None),
        "/rotated.jpg": (Route(body=rotated), None),
        "/wide.jpg": (Route(body=wide), "bad_aspect_ratio"),
        "/tiny.jpg": (Route(body=tiny), "too_small"),
    }


@pytest.fixture(scope="session")
def corpus(http_server):
    """{url: expected reason} served by the loopback server."""
    out = {}
    for path, (route, reason) in make_corpus().items():
        out[http_server.add(path, route)] = reason
    return out


def corpus_recipe_dict(csv_path: Path, out_threads: int = 8) -> dict:
    return {
        "name": "corpus",
        "sources": [{"type": "csv", "path": str(csv_path), "url_column": "url", "caption_column": "alt",
                     "extra_columns": ["license"]}],
        "sharding": {"samples_per_shard": 5},
        "image": {"size": 48, "resize_mode": "keep_ratio", "format": "jpg", "quality": 90, "max_pixels": 4_000_000},
        "fetch": {"connect_timeout_s": 3.0, "read_timeout_s": 1.0, "retries": 1, "backoff_s": 0.01,
                  "max_redirects": 3, "max_bytes": 200_000, "threads": out_threads},
        "filters": {"min_width": 32, "min_height": 32, "max_aspect_ratio": 3.0, "exact_dedup": True,
                    "near_dup_distance": 4},
        "captioner": None,
    }


@pytest.fixture
def fixture_copy(tmp_path):
    dst = tmp_path / "images"
    shutil.copytree(FIXTURE_IMAGES, dst)
    return dst
