#!/usr/bin/env python
"""How many requests per second does `facerec serve` answer on DeepStack's /v1/vision/face/recognize?

Starts a real `facerec serve` process (dlib backbone) on a free 127.0.0.1 port with a fresh gallery in a
temporary folder, registers the people of tests/data/people through /v1/vision/face/register, then sends
a 640x480 JPEG with one face (a held-out photo of an enrolled person, letterboxed) from 1 and 4 concurrent
clients, --requests times each, after --warmup untimed requests. Every answer must be a 200 that names the
person; the table gives requests/s and latency percentiles, --out writes them as JSON with the load average
(the model calls take turns behind one lock, so more clients raise latency, not throughput).

--cameras 0,2 runs the whole measurement once per number of live cameras: a server with N `--camera` loops
on a looping 640x480 10 fps clip of a face (written from tests/data/webcam), each with an event-stream
subscriber so that it detects (a camera nobody listens to idles): what the door cameras cost the API.

  python scripts/bench_server.py --out bench-server.json
  python scripts/bench_server.py --clients 1,2,4,8 --requests 40
  python scripts/bench_server.py --clients 1 --cameras 0,2
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
PHOTO = DATA / "holdout" / "Angelina_Jolie_img10.jpg"
EXPECTED = "Angelina_Jolie"
FRAME = (640, 480)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="1,4", help="comma-separated numbers of concurrent clients (default: %(default)s)")
    p.add_argument("--requests", type=int, default=24, help="timed requests per client count (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests first (default: %(default)s)")
    p.add_argument("--backbone", default="dlib")
    p.add_argument("--cameras", default="0", help="comma-separated numbers of live cameras running (default: %(default)s)")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    return p.parse_args(argv)


def photo_640x480() -> bytes:
    """The held-out photo scaled to fit 640x480 and centred on grey, as a camera snapshot would be."""
    from PIL import Image

    photo = Image.open(PHOTO).convert("RGB")
    photo.thumbnail(FRAME)
    frame = Image.new("RGB", FRAME, (90, 90, 90))
    frame.paste(photo, ((FRAME[0] - photo.width) // 2, (FRAME[1] - photo.height) // 2))
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def camera_clip(workdir: Path, seconds: float = 20.0, fps: float = 10.0) -> Path:
    """A face drifting across a dark 640x480 frame: what a door camera sends."""
    import cv2
    import numpy as np

    photo = cv2.imread(str(DATA / "webcam" / "obama_1.jpg"))
    photo = cv2.resize(photo, (photo.shape[1] * 300 // photo.shape[0], 300))
    path = workdir / "camera.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, FRAME)
    for i in range(int(seconds * fps)):
        frame = np.full((FRAME[1], FRAME[0], 3), 40, dtype=np.uint8)
        x = 20 + i % 200
        width = min(photo.shape[1], FRAME[0] - x)
        frame[40:340, x:x + width] = photo[:, :width]
        writer.write(frame)
    writer.release()
    return path


def listen_to_cameras(url: str, cameras: int) -> list:
    """One open event stream per camera, so that each camera loop detects (it idles when nobody listens)."""
    import requests

    return [requests.get(f"{url}/live/cam{i}/events", stream=True, timeout=(10, 600)) for i in range(cameras)]


def start_server(workdir: Path, backbone: str, cameras: int = 0) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    clip = camera_clip(workdir) if cameras else None
    camera_args = [a for i in range(cameras) for a in ("--camera", f"cam{i}={clip}")] + (["--loop"] if cameras else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = open(workdir / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "facerec.cli.main", "serve", "--port", str(port), "--gallery",
                                str(workdir / "gallery.sqlite"), "--backbone", backbone, *camera_args],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"facerec serve exited:\n{(workdir / 'server.log').read_text()[-3000:]}")
        try:
            if requests.get(url + "/api/v1/health", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("facerec serve did not start within 300 s")


def register_people(url: str) -> None:
    import requests

    for person in sorted((DATA / "people").iterdir()):
        files = {f"image{i}": p.read_bytes() for i, p in enumerate(sorted(person.glob("*.jpg")))}
        r = requests.post(url + "/v1/vision/face/register", files=files, data={"userid": person.name}, timeout=300)
        r.raise_for_status()


def recognize_once(url: str, image: bytes) -> float:
    import requests

    started = time.perf_counter()
    r = requests.post(url + "/v1/vision/face/recognize", files={"image": ("snapshot.jpg", image, "image/jpeg")},
                      timeout=300)
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    names = [p["userid"] for p in r.json()["predictions"]]
    if names != [EXPECTED]:
        raise SystemExit(f"expected [{EXPECTED!r}], got {names}")
    return elapsed


def measure(url: str, image: bytes, clients: int, count: int, cameras: int = 0) -> dict:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        started = time.perf_counter()
        latencies = list(pool.map(lambda _: recognize_once(url, image), range(count)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {"cameras": cameras, "clients": clients, "requests": count, "seconds": round(wall, 3),
            "requests_per_s": round(count / wall, 2),
            "latency_ms_p50": round(1000 * statistics.median(latencies), 1),
            "latency_ms_p95": round(1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    image = photo_640x480()
    rows = []
    for cameras in [int(c) for c in args.cameras.split(",")]:
        with tempfile.TemporaryDirectory(prefix="facerec-bench-server-") as tmp:
            process, url = start_server(Path(tmp), args.backbone, cameras)
            streams = []
            try:
                register_people(url)
                streams = listen_to_cameras(url, cameras)
                for _ in range(args.warmup):
                    recognize_once(url, image)
                rows += [measure(url, image, c, args.requests, cameras) for c in clients]
            finally:
                for stream in streams:
                    stream.close()
                process.terminate()
                process.wait(timeout=30)
    load = [round(v, 2) for v in os.getloadavg()]
    print(f"POST /v1/vision/face/recognize, {FRAME[0]}x{FRAME[1]} JPEG ({len(image) // 1024} KB, one face), "
          f"{args.backbone} backbone; {os.cpu_count()} CPUs, load average {load[0]} {load[1]} {load[2]}")
    print(f"{'cameras':>7}  {'clients':>7}  {'requests':>8}  {'req/s':>6}  {'p50 ms':>7}  {'p95 ms':>7}")
    for r in rows:
        print(f"{r['cameras']:>7}  {r['clients']:>7}  {r['requests']:>8}  {r['requests_per_s']:>6.2f}  {r['latency_ms_p50']:>7.0f}  "
              f"{r['latency_ms_p95']:>7.0f}")
    if args.out:
        report = {"endpoint": "/v1/vision/face/recognize", "image": f"{FRAME[0]}x{FRAME[1]} jpeg, one face",
                  "image_bytes": len(image), "backbone": args.backbone, "results": rows,
                  "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": load}}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
