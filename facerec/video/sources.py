"""Video sources: cameras, files and streams, read in real time or frame by frame.

Sources (`parse_source`):
- "0", "1", ... or an int: a camera index; live.
- "rtsp://...", "http://...", any "scheme://": a stream; live, reconnected with backoff when it drops
  (unless it reports a frame count, i.e. it is a video file served over the network).
- anything else: a video file path.

Real time: for live sources a grabber thread keeps only the newest frame, so a slow model drops
frames instead of falling behind. Files are processed frame by frame unless realtime=True, which plays
them at their native speed and skips the frames processing was too slow for (like a live camera).
Timestamps are stream seconds: video time for files, seconds since start for live sources.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from facerec.errors import EXIT_BAD_INPUT, FacerecError

log = logging.getLogger(__name__)


FALLBACK_FPS = 25.0  # when a file or camera does not say


READ_FAILURES_BEFORE_LOST = 5  # consecutive failed reads before a live source counts as gone


STALL_SECONDS = 10.0  # a live source that delivers nothing for this long counts as gone


RECONNECT_ATTEMPTS = 5


RECONNECT_FIRST_DELAY_S = 0.5  # then 1, 2, 4, 8 s


class SourceError(FacerecError):
    """A camera, file or stream could not be opened or stopped delivering frames."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "stream" or "file"
    target: int | str | Path

    @property
    def live(self) -> bool:
        return self.kind != "file"

    def describe(self) -> str:
        if self.kind == "camera":
            return f"camera {self.target}"
        if self.kind == "stream":
            return f"stream {redact_url(str(self.target))}"
        return f"video file {self.target}"


def redact_url(url: str) -> str:
    """rtsp://user:secret@host/ -> rtsp://user:***@host/ (messages and logs must not leak passwords)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^:/@]+):[^@/]*@", r"\1:***@", url)


def parse_source(source: str | int | Path) -> SourceSpec:
    if isinstance(source, int):
        return SourceSpec("camera", source)
    text = str(source).strip()
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        return SourceSpec("stream", text)
    return SourceSpec("file", Path(text).expanduser())


def open_source(source: str | int | Path) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture, or SourceError with a message that says what to check."""
    return _open_capture(parse_source(source))


def _open_capture(spec: SourceSpec) -> cv2.VideoCapture:
    if spec.kind == "file":
        path = Path(spec.target)
        if not path.exists():
            raise SourceError(f"video file not found: {path}")
        if not path.is_file():
            raise SourceError(f"not a video file: {path}")
    with _quiet_opencv():  # OpenCV prints backend warnings for every camera index it cannot open
        if spec.kind == "camera":
            cap = cv2.VideoCapture(int(spec.target))
        elif spec.kind == "stream":
            cap = cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG)
        else:
            cap = cv2.VideoCapture(str(spec.target))
    if not cap.isOpened():
        cap.release()
        raise SourceError(_cannot_open_message(spec))
    return cap


def _cannot_open_message(spec: SourceSpec) -> str:
    if spec.kind == "camera":
        return f"camera {spec.target} could not be opened: is it connected / in use by another program?"
    if spec.kind == "stream":
        return f"stream {redact_url(str(spec.target))} could not be opened: check the URL, the network and credentials"
    return f"video file could not be read: {spec.target} (not a video, or a codec OpenCV lacks)"


class _quiet_opencv:
    def __enter__(self) -> None:
        self._level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def __exit__(self, *exc: object) -> None:
        cv2.utils.logging.setLogLevel(self._level)


@dataclass
class Frame:
    index: int  # position in the source; gaps are frames dropped to keep up
    ts: float  # stream seconds
    bgr: np.ndarray


def _source_fps(cap: cv2.VideoCapture) -> float | None:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps <= 240 else None


class VideoSource:
    """An opened source that yields `Frame`s: every frame, or only the newest one (`latest_only`)."""

    def __init__(self, source: str | int | Path, *, latest_only: bool | None = None, pace: bool = False):
        self.spec = parse_source(source)
        self.cap = _open_capture(self.spec)
        self.fps = _source_fps(self.cap)
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        frame_count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.finite = self.spec.kind == "file" or (frame_count is not None and frame_count > 0)
        self.latest_only = self.spec.live if latest_only is None else latest_only
        self.pace = pace  # play a file at its native speed, skipping frames when behind
        self.lost: str | None = None  # why a live source ended, when it did
        self.reconnecting = False
        self.reconnections = 0
        self._stop = threading.Event()
        self._grabber: _LatestFrameGrabber | None = None

    def describe(self) -> str:
        fps = f" @ {self.fps:.1f} fps" if self.fps else ""
        return f"{self.spec.describe()} ({self.size[0]}x{self.size[1]}{fps})"

    def frames(self) -> Iterator[Frame]:
        if self.latest_only:
            self._grabber = _LatestFrameGrabber(self)
            yield from self._grabber.frames()
        else:
            yield from self._sequential_frames()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._grabber is not None and not self._grabber.join(timeout=2.0):
            log.warning("the frame grabber did not stop; leaving the capture to the process exit")
            return  # releasing a capture another thread is reading from can crash OpenCV
        self.cap.release()

    def _sequential_frames(self) -> Iterator[Frame]:
        fps = self.fps or FALLBACK_FPS
        start = time.monotonic()
        index = 0
        failures = 0
        while not self._stop.is_set():
            if self.pace:
                index = self._catch_up(index, fps, start)
            ok, bgr = self.cap.read()
            if not ok:
                if self.finite:
                    return  # end of the video
                failures += 1
                if failures < READ_FAILURES_BEFORE_LOST:
                    continue
                if not self._reconnect():
                    return
                failures = 0
                continue
            failures = 0
            ts = index / fps if self.finite else time.monotonic() - start
            yield Frame(index, ts, bgr)
            index += 1

    def _catch_up(self, index: int, fps: float, start: float) -> int:
        """Skip (grab without decoding) the frames we are late for; wait when we are early."""
        due = int((time.monotonic() - start) * fps)
        while index < due and self.cap.grab():
            index += 1
        ahead = index / fps - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
        return index

    def _reconnect(self) -> bool:
        """Streams only: reopen with backoff. Sets `lost` and returns False when the source is gone for good."""
        if self.spec.kind != "stream" or self.finite:
            self.lost = f"{self.spec.describe()} stopped delivering frames (disconnected?)"
            return False
        self.reconnecting = True
        try:
            delay = RECONNECT_FIRST_DELAY_S
            for attempt in range(1, RECONNECT_ATTEMPTS + 1):
                log.warning("%s dropped; reconnecting in %.1f s (attempt %d of %d)", self.spec.describe(), delay,
                            attempt, RECONNECT_ATTEMPTS)
                if self._stop.wait(delay):
                    return False
                try:
                    new_cap = _open_capture(self.spec)
                except SourceError:
                    delay *= 2
                    continue
                self.cap.release()
                self.cap = new_cap
                self.reconnections += 1
                log.warning("%s reconnected", self.spec.describe())
                return True
            self.lost = f"{self.spec.describe()} was lost and {RECONNECT_ATTEMPTS} reconnection attempts failed"
            return False
        finally:
            self.reconnecting = False


def open_video(source: str | int | Path, realtime: bool | None = None) -> VideoSource:
    """realtime None: live sources keep only the newest frame, files give every frame.
    True: files play at native speed and skip frames when behind. False: every frame, even live."""
    spec = parse_source(source)
    if realtime is None:
        return VideoSource(source)
    return VideoSource(source, latest_only=realtime and spec.live, pace=realtime and not spec.live)


class _LatestFrameGrabber:
    """Reads a live source as fast as it delivers, in a thread, keeping only the newest frame."""

    def __init__(self, source: VideoSource):
        self.source = source
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, name="facerec-frame-grabber", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        src = self.source
        start = time.monotonic()
        index = 0
        failures = 0
        try:
            while not src._stop.is_set():
                ok, bgr = src.cap.read()
                if ok:
                    failures = 0
                    with self._cond:
                        self._latest = Frame(index, time.monotonic() - start, bgr)
                        self._cond.notify_all()
                    index += 1
                    continue
                if src.finite and src.spec.kind != "camera":
                    return  # a file (or a finite stream) ended
                failures += 1
                if failures < READ_FAILURES_BEFORE_LOST:
                    time.sleep(0.05)
                    continue
                if not src._reconnect():
                    return
                failures = 0
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def frames(self) -> Iterator[Frame]:
        last_index = -1
        while True:
            with self._cond:
                waited = 0.0
                while not self._has_new(last_index) and not self._done:
                    self._cond.wait(timeout=0.25)  # short waits keep Ctrl-C responsive
                    waited = 0.0 if self.source.reconnecting else waited + 0.25  # reconnection has its own limit
                    if waited >= STALL_SECONDS and not self._has_new(last_index):
                        self.source.lost = f"{self.source.spec.describe()} delivered no frame for {STALL_SECONDS:.0f} s"
                        self.source.stop()
                        return
                if not self._has_new(last_index):
                    return  # finished or lost
                frame = self._latest
            last_index = frame.index
            yield frame

    def _has_new(self, last_index: int) -> bool:
        return self._latest is not None and self._latest.index > last_index

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
