#!/usr/bin/env python
"""Flat memory: does tagging a big album or watching a long video grow the process? RSS over the run.

    python scripts/bench_memory.py                                  # 1,000 photos, then 10 minutes of video
    python scripts/bench_memory.py --photos 100 --minutes 1 --every 25 --out bench-memory.json

Album: --photos copies of real photos (../shared/faces when present, else tests/data), cycled, each with
one pixel changed so that every file is distinct (its own sha256: nothing is skipped), written to a temporary
folder and tagged by `facerec.tag.tag_album` with a fresh gallery and the people of --people enrolled.
Video: a real clip (--video, default ../shared/faces/face_recognition/_video/short_hamilton_clip.mp4, else a
clip made from tests/data photos) letterboxed to --size and played in a loop, frame by frame (every frame
decoded again on every loop), through `facerec.video.loop.run_loop` (detection on every frame: K=1, or
--detect-every) for --minutes of video time, with the same people enrolled.

RSS (this process's resident memory) is recorded at the start, after the warm-up (models loaded, the
first photos / frames done), every --every photos / frames, and at the end; "growth" is end minus
after-warm-up, "2nd half" end minus the sample half way (a leak grows steadily; memory pools that fill
up once, such as ONNX Runtime's arenas, do not).
Peak is the largest sample (and the kernel's peak for the whole process in the JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("FACEREC_OFFLINE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_common import rss_mb  # noqa: E402  - scripts/ is sys.path[0] when a script runs

SHARED = REPO.parent / "shared" / "faces"
DEFAULT_VIDEO = SHARED / "face_recognition" / "_video" / "short_hamilton_clip.mp4"
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=1000, help="photos in the album (0: skip; default: %(default)s)")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of video (0: skip; default: %(default)s)")
    p.add_argument("--every", type=int, default=100, help="record RSS every N photos / N frames (default: %(default)s)")
    p.add_argument("--source", type=Path, help="folder of real photos to copy (default: ../shared/faces, else tests/data)")
    p.add_argument("--people", type=Path, default=REPO / "tests" / "data" / "people", help="PEOPLE_DIR to enroll")
    p.add_argument("--video", type=Path, help="a real clip to loop (default: the Hamilton clip of ../shared/faces)")
    p.add_argument("--size", default="640x480", help="frame size the clip is letterboxed to (default: %(default)s)")
    p.add_argument("--detect-every", type=int, default=1, help="K for the video loop; 0 = auto (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=None,
                   help="photos / frames before the after-warm-up sample (default: one pass over the distinct source "
                        "photos, one loop of the clip: every kind of input has been seen once)")
    p.add_argument("--out", type=Path, default=Path("bench-memory.json"))
    return p.parse_args(argv)


class RssLog:
    """RSS samples of one phase: (label, count, MB)."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.samples: list[dict] = []
        self.started = time.perf_counter()

    def sample(self, label: str, count: int) -> None:
        self.samples.append({"label": label, "count": count, "rss_mb": rss_mb(),
                             "seconds": round(time.perf_counter() - self.started, 1)})

    def summary(self) -> dict:
        """Start, after warm-up, end, peak; growth since the warm-up and over the second half of the run
        (a leak grows steadily; memory pools filling up once do not grow in the second half)."""
        by_label = {s["label"]: s["rss_mb"] for s in self.samples}
        warm, end = by_label.get("after warm-up"), by_label.get("end")
        last = self.samples[-1]["count"]
        half = min(self.samples, key=lambda s: abs(s["count"] - last / 2))["rss_mb"]
        return {"phase": self.phase, "rss_mb_start": by_label.get("start"), "rss_mb_after_warmup": warm,
                "rss_mb_half": half, "rss_mb_end": end, "rss_mb_peak": max(s["rss_mb"] for s in self.samples),
                "growth_mb": round(end - warm, 1) if warm is not None and end is not None else None,
                "growth_second_half_mb": round(end - half, 1) if end is not None else None,
                "samples": self.samples}


# --------------------------------------------------------------------------- the album


def source_photos(folder: Path | None) -> list[Path]:
    if folder is None:
        folder = SHARED if SHARED.is_dir() else REPO / "tests" / "data"
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS and p.is_file())


def make_album(folder: Path, sources: list[Path], count: int) -> int:
    """`count` distinct copies of the real photos (cycled), one pixel changed in each; returns how many.
    Each source is decoded again for each copy, so that building the album does not fill this process."""
    if not sources:
        raise SystemExit("no photos to build the album from")
    folder.mkdir(parents=True, exist_ok=True)
    made = 0
    for i in range(count):
        image = cv2.imread(str(sources[i % len(sources)]))
        if image is None:
            continue
        y, x = divmod(i // len(sources), image.shape[1])
        image[y % image.shape[0], x] ^= 1  # the lowest bit of one pixel: a distinct file, the same photo
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        made += 1
    return made


class _RssProgress:
    """Stands in for tag_album's progress bar: samples RSS every `every` photos."""

    def __init__(self, log: RssLog, every: int, warmup: int) -> None:
        self.log, self.every, self.warmup, self.done = log, every, warmup, 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done == self.warmup:
            self.log.sample("after warm-up", self.done)
        elif self.done % self.every == 0:
            self.log.sample(f"{self.done} photos", self.done)

    def set_postfix(self, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def bench_album(args: argparse.Namespace, tmp: Path, pipeline, gallery, recognizer) -> dict:
    import facerec.album.tag as tag

    log = RssLog("album")
    log.sample("start", 0)
    album = tmp / "album"
    t0 = time.perf_counter()
    sources = source_photos(args.source)
    made = make_album(album, sources, args.photos)
    print(f"album: {made} photos written in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    warmup = args.warmup or min(len(sources), made // 2)
    original = tag.progress_bar
    tag.progress_bar = lambda total, enabled: _RssProgress(log, args.every, warmup)  # samples as photos finish
    try:
        summary = tag.tag_album(album, gallery, pipeline, recognizer=recognizer, progress=True)
    finally:
        tag.progress_bar = original
    log.sample("end", summary.photos)
    result = log.summary()
    result.update(distinct_sources=len(sources), warmup=warmup, photos=summary.photos, faces=summary.faces, seconds=round(summary.seconds, 1),
                  photos_per_s=round(summary.photos_per_second, 2))
    return result


# --------------------------------------------------------------------------- the video


def letterboxed(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    if (w, h) == (width, height):
        return bgr
    scale = min(width / w, height / h)
    resized = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    return cv2.copyMakeBorder(resized, top, height - resized.shape[0] - top, left, width - resized.shape[1] - left,
                              cv2.BORDER_CONSTANT, value=(0, 0, 0))


def looped_source(clip: Path, size: tuple[int, int]):
    """A facerec.video.sources.VideoSource that plays `clip` over and over, decoding every frame each time."""
    from facerec.video.sources import Frame, VideoSource

    class LoopedClip(VideoSource):
        def frames(self):
            fps = self.fps or 30.0
            index = 0
            while not self._stop.is_set():
                ok, bgr = self.cap.read()
                if not ok:
                    self.cap.release()
                    self.cap = cv2.VideoCapture(str(clip))
                    ok, bgr = self.cap.read()
                    if not ok:
                        return
                yield Frame(index, index / fps, letterboxed(bgr, *size))
                index += 1

    return LoopedClip(str(clip), latest_only=False)


def default_clip(tmp: Path, size: tuple[int, int]) -> Path:
    if DEFAULT_VIDEO.is_file():
        return DEFAULT_VIDEO
    clip = tmp / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    for photo in sorted((REPO / "tests" / "data" / "webcam").glob("*.jpg")):
        frame = letterboxed(cv2.imread(str(photo)), *size)
        for _ in range(60):
            writer.write(frame)
    writer.release()
    return clip


def bench_video(args: argparse.Namespace, tmp: Path, pipeline, matcher) -> dict:
    from facerec.video.loop import run_loop

    size = tuple(int(v) for v in args.size.lower().split("x"))
    clip = args.video or default_clip(tmp, size)
    source = looped_source(clip, size)
    fps = source.fps or 30.0
    frames = int(round(args.minutes * 60 * fps))
    clip_frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT)) or 300
    warmup = args.warmup or min(clip_frames, frames // 2)
    log = RssLog("video")
    log.sample("start", 0)

    def on_frame(result) -> None:
        n = result.frame.index + 1
        if n == warmup:
            log.sample("after warm-up", n)
        elif n % args.every == 0:
            log.sample(f"{n} frames", n)

    stats = run_loop(source, pipeline, matcher, detect_every=args.detect_every, on_frame=on_frame, max_frames=frames)
    log.sample("end", stats.frames)
    result = log.summary()
    result.update(clip=str(clip), clip_frames=clip_frames, warmup=warmup, size=args.size, video_minutes=round(stats.frames / fps / 60, 2), frames=stats.frames,
                  detections=stats.detections, embeddings=stats.embeddings, events=dict(stats.events),
                  seconds=round(stats.seconds, 1), fps=round(stats.fps, 2))
    return result


# --------------------------------------------------------------------------- main


def print_table(phases: list[dict]) -> None:
    print(f"{'phase':<6} {'sample':<16} {'count':>6} {'s':>7} {'RSS MB':>8}")
    for phase in phases:
        for s in phase["samples"]:
            print(f"{phase['phase']:<6} {s['label']:<16} {s['count']:>6} {s['seconds']:>7} {s['rss_mb']:>8}")
    print()
    print(f"{'phase':<6} {'start':>7} {'warm':>7} {'half':>7} {'end':>7} {'peak':>7} {'growth':>7} {'2nd half':>8}  work")
    for p in phases:
        work = (f"{p['photos']} photos, {p['faces']} faces, {p['photos_per_s']} photos/s" if p["phase"] == "album" else
                f"{p['frames']} frames = {p['video_minutes']} min of video, {p['embeddings']} embeddings, {p['fps']} FPS")
        print(f"{p['phase']:<6} {p['rss_mb_start']:>7} {p['rss_mb_after_warmup']:>7} {p['rss_mb_half']:>7} "
              f"{p['rss_mb_end']:>7} {p['rss_mb_peak']:>7} {p['growth_mb']:>7} {p['growth_second_half_mb']:>8}  {work}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline
    from facerec.album.tag import configure_threads, default_workers
    from facerec.recognition.recognizer import Recognizer

    load_before = [round(v, 2) for v in os.getloadavg()]
    rss_at_start = rss_mb()
    configure_threads(default_workers())
    phases = []
    with tempfile.TemporaryDirectory(prefix="facerec-bench-memory-") as tmp_name:
        tmp = Path(tmp_name)
        pipeline = FacePipeline("dlib")
        with Gallery(tmp / "gallery.sqlite") as gallery:
            enroll_folder(args.people, gallery, pipeline, progress=False)
            recognizer = Recognizer(gallery.path, pipeline=pipeline)
            matcher = recognizer.matcher(gallery)
            if args.photos > 0:
                phases.append(bench_album(args, tmp, pipeline, gallery, recognizer))
        if args.minutes > 0:
            phases.append(bench_video(args, tmp, pipeline, matcher))
    print_table(phases)
    load_after = [round(v, 2) for v in os.getloadavg()]
    print(f"\nload average {load_before[0]} before, {load_after[0]} after, on {os.cpu_count()} cores; "
          f"dlib engine {pipeline.backbone.engine}")
    report = {"rss_mb_process_start": rss_at_start, "rss_mb_peak_process": round(
              resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "phases": phases,
              "dlib_engine": pipeline.backbone.engine, "machine": {
                  "cpus": os.cpu_count(), "platform": platform.platform(), "load_average_before": load_before,
                  "load_average_after": load_after}, "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
