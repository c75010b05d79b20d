"""Ingest throughput of `unified-data build` vs img2dataset on the same loopback HTTP corpus.

Same for both tools: the URL list (parquet), the loopback HTTP server (in this process, so its CPU
is shared by both), N worker processes x T fetch threads, center_crop to the same size, JPEG at the
same quality (95), WebDataset shards of the same size, captioning off, timed end to end as CLI
subprocesses (interpreter start-up, cluster/pool start-up and shutdown included).
What each tool does per image:
  img2dataset 1.47 : urllib GET -> OpenCV full decode -> INTER_AREA resize + crop -> OpenCV JPEG
                     encode -> tar (+ per-shard parquet/json stats), multiprocessing pool.
  unified-data     : urllib3 GET (retries, byte cap, content-type check) -> sha256 -> Pillow decode
                     (libjpeg DCT-domain draft at >= 1.5x the target) -> bilinear (or Lanczos) resize + crop ->
                     phash -> JPEG encode -> staged parquet; exact + near dedup per shard in plan order
                     (state carried over); tar + per-input parquet rows + stats, streamed behind the
                     fetching; then manifest + card, on a Dask LocalCluster.
Rounds are interleaved (ours, baseline, ours, ...) because the 2-core machine is shared; best-of and
median are both printed. ``--floor`` also measures the same per-image work (fetch, decode, resize,
phash, encode) in a tight loop in N plain processes with no Dask, no writing and no start-up, which
is the ceiling the pipeline can approach on this machine.

img2dataset is installed in its own venv so its pins never touch ours:
    python3 -m venv /root/.cache/img2dataset-venv && /root/.cache/img2dataset-venv/bin/pip install img2dataset
If that venv is missing, the baseline is a plain sequential loop (requests + Pillow) instead,
and the script says so.

    python benchmarks/bench_ingest.py --n 2000 --workers 2 --repeat 3 --floor

Both of our resize filters are timed by default (``--resample``): bilinear, a recipe's default
(Pillow's antialiased triangle filter, torchvision's default), and the sharper, costlier lanczos.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("bench_ingest")
I2D_VENV = Path(os.environ.get("IMG2DATASET_VENV", "/root/.cache/img2dataset-venv"))


def make_images(folder: Path, n: int, size: tuple[int, int] = (512, 384), seed: int = 0) -> list[Path]:
    """n distinct JPEG images (random coloured shapes + noise; no two are near-duplicates)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x0, y0 = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
            x1, y1 = x0 + int(rng.integers(20, 300)), y0 + int(rng.integers(20, 300))
            fill = tuple(int(c) for c in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, (size[1], size[0], 3))
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


class FolderServer:
    """Serves a folder over loopback HTTP (many threads, large backlog) until closed."""

    def __init__(self, folder: Path) -> None:
        files = {f"/{p.name}": p.read_bytes() for p in folder.iterdir()}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                # one write for headers + body: separate small writes hit Nagle + delayed ACK (40 ms stalls)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
                self.wfile.write(head.encode() + body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_url_list(urls: list[str], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"url": urls}), path)


def run_ours(url_parquet: Path, out: Path, workers: int, size: int, per_shard: int, threads: int,
             resample: str = "bilinear") -> float:
    import yaml

    recipe = {"name": "bench", "sources": [{"type": "parquet", "path": str(url_parquet), "url_column": "url"}],
              "sharding": {"samples_per_shard": per_shard},
              "image": {"size": size, "resize_mode": "center_crop", "format": "jpg", "quality": 95,
                        "resample": resample},
              "fetch": {"threads": threads, "retries": 0, "read_timeout_s": 30},
              "filters": {"exact_dedup": True, "near_dup_distance": 4}, "captioner": None}
    rpath = out.parent / f"bench_recipe_{resample}.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "data_pipeline.cli", "build", str(rpath), "--out", str(out),
                    "--workers", str(workers)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run_img2dataset(url_parquet: Path, out: Path, workers: int, size: int, per_shard: int, threads: int) -> float:
    code = (
        "from img2dataset import download\n"
        f"download(url_list={str(url_parquet)!r}, input_format='parquet', url_col='url', output_format='webdataset',"
        f" output_folder={str(out)!r}, processes_count={workers}, thread_count={threads}, image_size={size},"
        f" resize_mode='center_crop', encode_format='jpg', encode_quality=95, number_sample_per_shard={per_shard},"
        " distributor='multiprocessing', timeout=30, retries=0, disallowed_header_directives=[])\n"
    )
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    t0 = time.perf_counter()
    subprocess.run([str(I2D_VENV / "bin" / "python"), "-c", code], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run_sequential(urls: list[str], out: Path, size: int, per_shard: int) -> float:
    """Baseline when img2dataset is unavailable: one loop, requests + Pillow + tarfile."""
    import requests
    import webdataset as wds
    from PIL import Image, ImageOps

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sess = requests.Session()
    writer = None
    for i, url in enumerate(urls):
        if i % per_shard == 0:
            if writer:
                writer.close()
            writer = wds.TarWriter(str(out / f"{i // per_shard:05d}.tar"))
        img = Image.open(io.BytesIO(sess.get(url, timeout=30).content)).convert("RGB")
        buf = io.BytesIO()
        ImageOps.fit(img, (size, size), Image.Resampling.LANCZOS).save(buf, format="JPEG", quality=95)
        writer.write({"__key__": f"{i:08d}", "jpg": buf.getvalue()})
    if writer:
        writer.close()
    return time.perf_counter() - t0


def _floor_chunk(args: tuple[list[str], int, int]) -> int:
    """One process of the tight-loop floor: the pipeline's own per-image functions, nothing else."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    import imagehash

    from data_pipeline.decode import decode_image, encode_image
    from data_pipeline.fetch import fetch_url
    from data_pipeline.recipe import FetchConfig, ImageConfig

    urls, size, threads = args
    fcfg = FetchConfig(threads=threads, retries=0, read_timeout_s=30)
    icfg = ImageConfig(size=size, resize_mode="center_crop", format="jpg", quality=95)

    def one(url: str) -> int:
        data = fetch_url(url, fcfg).data
        hashlib.sha256(data).hexdigest()
        img = decode_image(data, icfg).image
        str(imagehash.phash(img))
        return len(encode_image(img, icfg))

    with ThreadPoolExecutor(threads) as pool:
        return sum(1 for n in pool.map(one, urls) if n)


def run_floor(urls: list[str], workers: int, size: int, threads: int) -> float:
    """Seconds for the per-image work alone in ``workers`` forked processes (modules pre-imported)."""
    import multiprocessing as mp

    import imagehash  # noqa: F401  (imported before the fork, like the pipeline's warm start)
    import scipy.fftpack  # noqa: F401

    import data_pipeline.decode  # noqa: F401
    import data_pipeline.fetch  # noqa: F401

    chunks = [(urls[i::workers], size, threads) for i in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_floor_chunk, [(c[0][:8], size, threads) for c in chunks])  # warm connections + imports
        t0 = time.perf_counter()
        n = sum(pool.map(_floor_chunk, chunks))
        dt = time.perf_counter() - t0
    assert n == len(urls), (n, len(urls))
    return dt


def count_tar_samples(folder: Path) -> int:
    import tarfile

    n = 0
    for tar in folder.glob("*.tar"):
        with tarfile.open(tar) as tf:
            n += sum(1 for m in tf.getmembers() if m.name.endswith(".jpg"))
    return n


def main() -> None:
    import statistics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--per-shard", type=int, default=250)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--floor", action="store_true", help="also time the tight-loop per-image floor")
    ap.add_argument("--resample", default="bilinear,lanczos",
                    help="our resize filters to time, comma-separated (bilinear is a recipe's default)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        log.info("making %d images ...", args.n)
        make_images(tmp / "images", args.n)
        server = FolderServer(tmp / "images")
        urls = [f"{server.base}/{i:06d}.jpg" for i in range(args.n)]
        write_url_list(urls, tmp / "urls.parquet")
        have_i2d = (I2D_VENV / "bin" / "python").exists()
        name = "img2dataset" if have_i2d else "sequential requests+Pillow (img2dataset venv not found)"
        filters = [f.strip() for f in args.resample.split(",") if f.strip()]
        ours_t: dict[str, list[float]] = {f: [] for f in filters}
        base_t, floor_t = [], []
        for rep in range(args.repeat):  # interleaved: the machine is shared and noisy
            for f in filters:
                shutil.rmtree(tmp / f"ours_{f}", ignore_errors=True)
                ours_t[f].append(run_ours(tmp / "urls.parquet", tmp / f"ours_{f}", args.workers, args.size,
                                          args.per_shard, args.threads, f))
            shutil.rmtree(tmp / "base", ignore_errors=True)
            if have_i2d:
                base_t.append(run_img2dataset(tmp / "urls.parquet", tmp / "base", args.workers, args.size,
                                              args.per_shard, args.threads))
            else:
                base_t.append(run_sequential(urls, tmp / "base", args.size, args.per_shard))
            if args.floor:
                floor_t.append(run_floor(urls, args.workers, args.size, args.threads))
            log.info("round %d: %s, baseline %.2f s%s", rep + 1,
                     ", ".join(f"ours ({f}) {ours_t[f][-1]:.2f} s" for f in filters), base_t[-1],
                     f", floor {floor_t[-1]:.2f} s" if floor_t else "")
        n_ours = {f: count_tar_samples(tmp / f"ours_{f}") for f in filters}
        n_base = count_tar_samples(tmp / "base")
        server.close()
        print(f"corpus: {args.n} JPEGs 512x384 over loopback HTTP; {args.workers} worker processes, "
              f"{args.threads} threads each; center_crop {args.size}px, JPEG q95, {args.per_shard}/shard; "
              f"{args.repeat} interleaved rounds; img2dataset downscales with OpenCV INTER_AREA")
        rows = [(f"unified-data ({f})", n_ours[f], ours_t[f]) for f in filters] + [(name, n_base, base_t)]
        for label, n, ts in rows:
            best, med = min(ts), statistics.median(ts)
            print(f"  {label:24s}: {n:6d} images, best {best:6.2f} s = {n / best:6.1f} img/s, "
                  f"median {med:6.2f} s = {n / med:6.1f} img/s")
        for f in filters:
            print(f"  ratio unified-data ({f}) / baseline: "
                  f"best-of {min(base_t) / min(ours_t[f]) * n_ours[f] / n_base:.2f}x, "
                  f"median {statistics.median(base_t) / statistics.median(ours_t[f]) * n_ours[f] / n_base:.2f}x "
                  "(goal >= 1.5x)")
        if floor_t:
            best = min(floor_t)
            print(f"  floor (same per-image work, {args.workers} bare processes, no Dask/writing/start-up): "
                  f"best {best:.2f} s = {args.n / best:.1f} img/s, median {statistics.median(floor_t):.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
