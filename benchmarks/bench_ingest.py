"""Ingest throughput of `unified-data build` vs img2dataset on the same loopback HTTP corpus.

Same for both tools: the URL list (parquet), the loopback HTTP server (in this process, so its CPU
is shared by both), N worker processes x T fetch threads, center_crop to the same size, JPEG at the
same quality (95), WebDataset shards of the same size, captioning off, timed end to end as CLI
subprocesses (interpreter start-up, cluster/pool start-up and shutdown included).
What each tool does per image:
  img2dataset 1.47 : urllib GET -> OpenCV full decode -> INTER_AREA resize + crop -> OpenCV JPEG
                     encode -> tar (+ per-shard parquet/json stats), multiprocessing pool.
  unified-data     : urllib3 GET (retries, byte cap, content-type check) -> sha256 -> Pillow header parse ->
                     libjpeg-turbo decode into a reused array (simplejpeg; Pillow's decode where that path
                     declines), DCT-domain draft at >= 1.25x the target -> bilinear (torch's copy of Pillow's
                     filter where it applies) or Lanczos resize + crop -> phash -> JPEG encode -> staged
                     parquet, one task per 250-input piece; exact + near dedup per shard in plan order
                     (state carried over); tar + per-input parquet rows + stats, streamed behind the
                     fetching; then manifest + card, on a Dask LocalCluster.
Each of our rounds also prints the build's own phase timings (start-up, streamed work, close).
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
import contextlib
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


PHOTO_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
               "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png", "camera.png",
               "grass.png", "gravel.png", "brick.png")
PHOTO_ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (5, 4))
PHOTO_CORPUS_VERSION = 1  # bump when make_photos changes (the cache folder is named after it)


def _photo(args: tuple[int, int, str]) -> int:
    """Photo ``i``: a 0.7-1.4 MP mosaic of 4 crops of scikit-image's real photos (upscaled, flipped,
    colour-jittered, with sensor-like noise), one of 7 aspect ratios, JPEG q80-92, 20% progressive."""
    import numpy as np
    import skimage
    from PIL import Image

    i, seed, folder = args
    rng = np.random.default_rng([seed, i])
    data_dir = Path(skimage.__file__).parent / "data"
    srcs = [data_dir / f for f in PHOTO_FILES if (data_dir / f).exists()]
    aw, ah = PHOTO_ASPECTS[int(rng.integers(len(PHOTO_ASPECTS)))]
    pixels = rng.uniform(0.7, 1.4) * 1e6
    w = round((pixels * aw / ah) ** 0.5)
    h = round(pixels / w)
    canvas = Image.new("RGB", (w, h))
    sx, sy = int(w * rng.uniform(0.35, 0.65)), int(h * rng.uniform(0.35, 0.65))
    for x0, y0, x1, y1 in ((0, 0, sx, sy), (sx, 0, w, sy), (0, sy, sx, h), (sx, sy, w, h)):
        with Image.open(srcs[int(rng.integers(len(srcs)))]) as src_file:
            src = src_file.convert("RGB")
        cw, ch = int(src.width * rng.uniform(0.4, 0.9)), int(src.height * rng.uniform(0.4, 0.9))
        cx, cy = int(rng.integers(0, src.width - cw + 1)), int(rng.integers(0, src.height - ch + 1))
        tile = src.crop((cx, cy, cx + cw, cy + ch)).resize((x1 - x0, y1 - y0), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        canvas.paste(tile, (x0, y0))
    arr = np.asarray(canvas, dtype=np.float32) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    arr += rng.normal(0, 4.0, (h, w, 3)).astype(np.float32)
    path = Path(folder) / f"{i:06d}.jpg"
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
        path, quality=int(rng.integers(80, 93)), progressive=bool(rng.random() < 0.2), optimize=True)
    return path.stat().st_size


def make_photos(folder: Path, n: int, seed: int = 0) -> list[int]:
    """n distinct real-size photos (~1 MP, ~100-400 KB JPEGs; see ``_photo``), made in parallel; byte sizes."""
    import multiprocessing as mp

    folder.mkdir(parents=True, exist_ok=True)
    with mp.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        return pool.map(_photo, [(i, seed, str(folder)) for i in range(n)], chunksize=8)


def photo_corpus(cache: Path, n: int, seed: int = 0) -> Path:
    """The photo corpus, made once and kept under ``cache`` (it takes ~80 ms of CPU per photo)."""
    folder = cache / f"photos-v{PHOTO_CORPUS_VERSION}-n{n}-s{seed}"
    if not (folder / "DONE").exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_photos(folder, n, seed)
        (folder / "DONE").write_text("")
    return folder


class FolderServer:
    """Serves a folder over loopback HTTP (many threads, large backlog) until closed."""

    def __init__(self, folder: Path) -> None:
        files = {f"/{p.name}": p.read_bytes() for p in folder.iterdir() if p.suffix == ".jpg"}

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


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 log_path: Path | None = None) -> tuple[float, int]:
    """Run ``cmd`` to completion: (wall seconds, peak of the summed RSS of it and all its descendants,
    sampled every 50 ms; shared pages of forked workers count once per process, as ``top`` would).
    ``log_path``: where its stderr goes (else nowhere)."""
    import psutil

    t0 = time.perf_counter()
    err = log_path.open("wb") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    finally:
        if log_path:
            err.close()
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return dt, peak


#: our recipe's ``image.resize_mode`` for each img2dataset ``resize_mode`` benchmarked (same output geometry:
#: center_crop = shorter side to size then a centred square; keep_ratio_largest / keep_ratio = longer side to
#: size, upscaling too: img2dataset's resize_only_if_bigger is off by default)
OUR_RESIZE = {"center_crop": "center_crop", "keep_ratio_largest": "keep_ratio"}


def run_ours(url_parquet: Path, out: Path, workers: int, size: int, per_shard: int, threads: int,
             resample: str = "bilinear", resize: str = "center_crop", src: Path | None = None) -> tuple[float, int]:
    """``src``: run the pipeline from another checkout of this repository (e.g. a ``git archive`` of an
    older commit), to time a change against its parent in the same interleaved rounds."""
    import yaml

    recipe = {"name": "bench", "sources": [{"type": "parquet", "path": str(url_parquet), "url_column": "url"}],
              "sharding": {"samples_per_shard": per_shard},
              "image": {"size": size, "resize_mode": OUR_RESIZE[resize], "format": "jpg", "quality": 95,
                        "resample": resample},
              "fetch": {"threads": threads, "retries": 0, "read_timeout_s": 30},
              "filters": {"exact_dedup": True, "near_dup_distance": 4}, "captioner": None}
    rpath = out.parent / f"bench_recipe_{out.name}.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    return run_measured([sys.executable, "-m", "data_pipeline.cli", "build", str(rpath), "--out", str(out),
                         "--workers", str(workers)], env=env, cwd=src, log_path=out.parent / f"{out.name}.log")


def our_timings(out: Path) -> str:
    """The phase timings our build logged (cluster + plan, streamed ingest/dedup/write, close), if any."""
    log_path = out.parent / f"{out.name}.log"
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if "Timings:" in ln] \
        if log_path.exists() else []
    return lines[-1].split("Timings:", 1)[1].strip() if lines else "no timings logged"


def run_img2dataset(url_parquet: Path, out: Path, workers: int, size: int, per_shard: int, threads: int,
                    resize: str = "center_crop") -> tuple[float, int]:
    code = (
        "from img2dataset import download\n"
        f"download(url_list={str(url_parquet)!r}, input_format='parquet', url_col='url', output_format='webdataset',"
        f" output_folder={str(out)!r}, processes_count={workers}, thread_count={threads}, image_size={size},"
        f" resize_mode={resize!r}, encode_format='jpg', encode_quality=95, number_sample_per_shard={per_shard},"
        " distributor='multiprocessing', timeout=30, retries=0, disallowed_header_directives=[])\n"
    )
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return run_measured([str(I2D_VENV / "bin" / "python"), "-c", code], env=env)


def run_sequential(urls: list[str], out: Path, size: int, per_shard: int,
                   resize: str = "center_crop") -> tuple[float, int]:
    """Baseline when img2dataset is unavailable: one loop, requests + Pillow + tarfile (peak memory: 0, not measured)."""
    import requests
    import webdataset as wds
    from PIL import Image, ImageOps

    from data_pipeline.decode import contain_size

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sess = requests.Session()
    writer = None
    for i, url in enumerate(urls):
        if i % per_shard == 0:
            if writer:
                writer.close()
            writer = wds.TarWriter(str(out / f"{i // per_shard:05d}.tar"))
        got = sess.get(url, timeout=30)
        if got.status_code != 200:
            continue
        img = Image.open(io.BytesIO(got.content)).convert("RGB")
        if resize == "center_crop":
            img = ImageOps.fit(img, (size, size), Image.Resampling.LANCZOS)
        else:
            img = img.resize(contain_size(img.size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=95)
        writer.write({"__key__": f"{i:08d}", "jpg": buf.getvalue(), "json": {"url": url}})
    if writer:
        writer.close()
    return time.perf_counter() - t0, 0


def _floor_chunk(args: tuple[list[str], int, int, str]) -> int:
    """One process of the tight-loop floor: the pipeline's own per-image functions, nothing else."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    import imagehash

    from data_pipeline.decode import decode_image, encode_image
    from data_pipeline.fetch import fetch_url
    from data_pipeline.recipe import FetchConfig, ImageConfig

    urls, size, threads, resize = args
    fcfg = FetchConfig(threads=threads, retries=0, read_timeout_s=30)
    icfg = ImageConfig(size=size, resize_mode=OUR_RESIZE[resize], format="jpg", quality=95)

    def one(url: str) -> int:
        data = fetch_url(url, fcfg).data
        if data is None:  # the corpus's 404s
            return 0
        hashlib.sha256(data).hexdigest()
        img = decode_image(data, icfg).image
        str(imagehash.phash(img))
        return len(encode_image(img, icfg))

    with ThreadPoolExecutor(threads) as pool:
        return sum(1 for n in pool.map(one, urls) if n)


def run_floor(urls: list[str], workers: int, size: int, threads: int, resize: str) -> tuple[float, int]:
    """Seconds for the per-image work alone in ``workers`` forked processes (modules pre-imported),
    and how many images it made."""
    import multiprocessing as mp

    import imagehash  # noqa: F401  (imported before the fork, like the pipeline's warm start)
    import scipy.fftpack  # noqa: F401

    import data_pipeline.decode  # noqa: F401
    import data_pipeline.fetch  # noqa: F401

    chunks = [(urls[i::workers], size, threads, resize) for i in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_floor_chunk, [(c[0][:8], size, threads, resize) for c in chunks])  # warm connections + imports
        t0 = time.perf_counter()
        n = sum(pool.map(_floor_chunk, chunks))
        dt = time.perf_counter() - t0
    return dt, n


def count_tar_samples(folder: Path) -> int:
    import tarfile

    n = 0
    for tar in folder.glob("*.tar"):
        with tarfile.open(tar) as tf:
            n += sum(1 for m in tf.getmembers() if m.name.endswith(".jpg"))
    return n


def tar_output_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    """URL -> (width, height) of each output image in a folder of WebDataset tars (ours: the json's
    ``locator``; img2dataset: its ``url``)."""
    import json
    import tarfile

    from PIL import Image

    sizes: dict[str, tuple[int, int]] = {}
    for tar in sorted(folder.glob("*.tar")):
        with tarfile.open(tar) as tf:
            members: dict[str, dict[str, bytes]] = {}
            for m in tf.getmembers():
                if m.isfile():
                    key, _, ext = m.name.partition(".")
                    members.setdefault(key, {})[ext] = tf.extractfile(m).read()
        for parts in members.values():
            if "jpg" in parts and "json" in parts:
                meta = json.loads(parts["json"])
                with Image.open(io.BytesIO(parts["jpg"])) as im:
                    sizes[meta.get("url") or meta.get("locator")] = im.size
    return sizes


def main() -> None:
    import statistics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=("thumbs", "photos"), default="thumbs",
                    help="thumbs: synthetic 512x384 images (defaults: center_crop 128 px, 2000 images, 250/shard); "
                         "photos: real-size ~1 MP photos, 3%% 404s (defaults: keep_ratio_largest 512 px, "
                         "3000 images, 1000/shard)")
    ap.add_argument("--n", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int)
    ap.add_argument("--resize", choices=tuple(OUR_RESIZE),
                    help="img2dataset's resize_mode; ours gets the same geometry (OUR_RESIZE)")
    ap.add_argument("--per-shard", type=int)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--floor", action="store_true", help="also time the tight-loop per-image floor")
    ap.add_argument("--resample", default="bilinear,lanczos",
                    help="our resize filters to time, comma-separated (bilinear is a recipe's default)")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=DIR",
                    help="also time ours (bilinear) from another source tree DIR, e.g. an older commit's "
                         "`git archive`, in the same interleaved rounds")
    ap.add_argument("--no-baseline", action="store_true", help="time ours only (e.g. while profiling)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "unified-bench" / "bench_ingest",
                    help="where the photo corpus is kept between runs")
    args = ap.parse_args()
    photos = args.corpus == "photos"
    defaults = {"n": 3000, "size": 512, "resize": "keep_ratio_largest", "per_shard": 1000} if photos else \
        {"n": 2000, "size": 128, "resize": "center_crop", "per_shard": 250}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        if photos:
            n_missing = round(args.n * 0.03)
            log.info("photo corpus: %d photos (cached under %s) ...", args.n - n_missing, args.cache)
            folder = photo_corpus(args.cache, args.n - n_missing)
            names = [f"{i:06d}.jpg" for i in range(args.n - n_missing)]
            # a few % 404s, spread through the list (every shard sees some)
            for j in range(n_missing):
                names.insert(round((j + 0.5) * args.n / n_missing), f"missing_{j:06d}.jpg")
            names = names[: args.n]
            sizes = [(folder / n).stat().st_size for n in names if not n.startswith("missing")]
            pixels = []
            from PIL import Image

            for n in names[:200]:
                if not n.startswith("missing"):
                    with Image.open(folder / n) as im:
                        pixels.append(im.width * im.height)
            corpus_desc = (f"{args.n} URLs of real-size photo JPEGs ({n_missing} of them 404): median "
                           f"{statistics.median(sizes) / 1e3:.0f} KB ({min(sizes) / 1e3:.0f}-{max(sizes) / 1e3:.0f} KB), "
                           f"median {statistics.median(pixels) / 1e6:.2f} MP")
        else:
            log.info("making %d images ...", args.n)
            folder = tmp / "images"
            make_images(folder, args.n)
            names = [f"{i:06d}.jpg" for i in range(args.n)]
            corpus_desc = f"{args.n} JPEGs 512x384"
        server = FolderServer(folder)
        urls = [f"{server.base}/{n}" for n in names]
        write_url_list(urls, tmp / "urls.parquet")
        have_i2d = (I2D_VENV / "bin" / "python").exists() and not args.no_baseline
        name = "img2dataset" if have_i2d else "sequential requests+Pillow (img2dataset venv not found)"
        variants = {f.strip(): (f.strip(), None) for f in args.resample.split(",") if f.strip()}
        for spec in args.also:
            label, _, src = spec.partition("=")
            variants[label] = ("bilinear", Path(src).resolve())
        filters = list(variants)
        ours_t: dict[str, list[float]] = {f: [] for f in filters}
        ours_mem: dict[str, list[int]] = {f: [] for f in filters}
        base_t, base_mem, floor_t, floor_n = [], [], [], 0
        for rep in range(args.repeat):  # interleaved: the machine is shared and noisy
            for f in filters:
                shutil.rmtree(tmp / f"ours_{f}", ignore_errors=True)
                dt, mem = run_ours(tmp / "urls.parquet", tmp / f"ours_{f}", args.workers, args.size,
                                   args.per_shard, args.threads, variants[f][0], args.resize, variants[f][1])
                ours_t[f].append(dt)
                ours_mem[f].append(mem)
                log.info("  ours (%s) %.2f s: %s", f, dt, our_timings(tmp / f"ours_{f}"))
            if not args.no_baseline:
                shutil.rmtree(tmp / "base", ignore_errors=True)
                if have_i2d:
                    dt, mem = run_img2dataset(tmp / "urls.parquet", tmp / "base", args.workers, args.size,
                                              args.per_shard, args.threads, args.resize)
                else:
                    dt, mem = run_sequential(urls, tmp / "base", args.size, args.per_shard, args.resize)
                base_t.append(dt)
                base_mem.append(mem)
            if args.floor:
                dt, floor_n = run_floor(urls, args.workers, args.size, args.threads, args.resize)
                floor_t.append(dt)
            log.info("round %d: %s%s%s", rep + 1,
                     ", ".join(f"ours ({f}) {ours_t[f][-1]:.2f} s" for f in filters),
                     f", baseline {base_t[-1]:.2f} s" if base_t else "",
                     f", floor {floor_t[-1]:.2f} s" if floor_t else "")
        n_ours = {f: count_tar_samples(tmp / f"ours_{f}") for f in filters}
        print(f"corpus: {corpus_desc} over loopback HTTP; {args.workers} worker processes, "
              f"{args.threads} threads each; {args.resize} {args.size}px (ours: {OUR_RESIZE[args.resize]}), "
              f"JPEG q95, {args.per_shard}/shard; {args.repeat} interleaved rounds; img2dataset resizes with "
              "OpenCV (INTER_AREA down, Lanczos up)")
        rows = [(f"unified-data ({f})", n_ours[f], ours_t[f], ours_mem[f]) for f in filters]
        if base_t:
            n_base = count_tar_samples(tmp / "base")
            rows.append((name, n_base, base_t, base_mem))
        for label, n, ts, mem in rows:
            best, med = min(ts), statistics.median(ts)
            print(f"  {label:24s}: {n:6d} images, best {best:6.2f} s = {n / best:6.1f} img/s, "
                  f"median {med:6.2f} s = {n / med:6.1f} img/s, peak RSS (sum over processes) "
                  f"{max(mem) / 2**30:.2f} GB")
        if base_t:
            for f in filters:
                print(f"  ratio unified-data ({f}) / baseline: "
                      f"best-of {min(base_t) / min(ours_t[f]) * n_ours[f] / n_base:.2f}x, "
                      f"median {statistics.median(base_t) / statistics.median(ours_t[f]) * n_ours[f] / n_base:.2f}x "
                      "(goal >= 1.5x)")
            # same output geometry: the same URLs made images of the same size in both tools
            ours_sizes, base_sizes = tar_output_sizes(tmp / f"ours_{filters[0]}"), tar_output_sizes(tmp / "base")
            common = sorted(set(ours_sizes) & set(base_sizes))
            differ = [u for u in common if ours_sizes[u] != base_sizes[u]]
            examples = ", ".join(f"{ours_sizes[u][0]}x{ours_sizes[u][1]}" for u in common[:4])
            print(f"  geometry: {len(common)} URLs in both outputs, {len(differ)} of different size "
                  f"(e.g. {examples})" + (f"; first differing: {differ[0]} ours {ours_sizes[differ[0]]} "
                                          f"baseline {base_sizes[differ[0]]}" if differ else ""))
        if floor_t:
            best = min(floor_t)
            print(f"  floor (same per-image work, {args.workers} bare processes, no Dask/writing/start-up): "
                  f"{floor_n} images, best {best:.2f} s = {floor_n / best:.1f} img/s, "
                  f"median {statistics.median(floor_t):.2f} s")
        server.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
