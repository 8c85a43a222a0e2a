"""Identify people live in a camera, a video file or a stream: the loop, and the outputs it can feed.

`run_loop` knows nothing about windows or JSON: it reads frames, detects on every frame while processing
keeps up with the source (or every `detect_every` frames when set) on a copy downscaled to `detect_width`, follows faces in between with `facerec.track.Tracker`, embeds
only the tracks the tracker asks for, and reports each processed frame to `on_frame` and each
appeared/left/renamed event to `on_event`. The outputs (`JsonLinesOutput`, `WindowOutput`,
`VideoRecorder`, `UnknownFaceSaver`) are small classes the command wires to those callbacks.

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
import os
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import cv2
import numpy as np

from facerec.errors import EXIT_BAD_INPUT, EXIT_USAGE, FacerecError, MissingExtraError
from facerec.track import APPEARED, RENAMED, Track, Tracker, TrackerConfig, TrackEvent
from facerec.types import UNKNOWN, Face, Identity

log = logging.getLogger(__name__)

AUTO = 0  # detect_every=AUTO: on every frame while the machine keeps up, tracking fills in when not
DEFAULT_DETECT_EVERY = AUTO
MAX_AUTO_DETECT_EVERY = 6  # AUTO never lets tracking alone carry more frames than this
FPS_WINDOW_S = 2.0  # the FPS shown and written is the processed rate over this many seconds
DEFAULT_DETECT_WIDTH = 640
FALLBACK_FPS = 25.0  # when a file or camera does not say
READ_FAILURES_BEFORE_LOST = 5  # consecutive failed reads before a live source counts as gone
STALL_SECONDS = 10.0  # a live source that delivers nothing for this long counts as gone
RECONNECT_ATTEMPTS = 5
RECONNECT_FIRST_DELAY_S = 0.5  # then 1, 2, 4, 8 s
CONFIDENT_FRACTION = 0.5  # a vote is confident when its distance is <= this fraction of the threshold
# A track is split when its new embedding is farther from its previous one than the matcher's own "same person"
# threshold allows (times this factor). Consecutive embeddings of one person in a video sit far closer
# (dlib: 0.005-0.03 on the Hamilton clip) than two people cut into the same box (dlib: 0.13 for the cut from
# Lin-Manuel Miranda to Barack Obama there); a wrong split of a known person merges back into one appearance.
SAME_TRACK_FRACTION = 1.0


class SourceError(FacerecError):
    """A camera, file or stream could not be opened or stopped delivering frames."""

    exit_code = EXIT_BAD_INPUT


class DisplayError(FacerecError):
    """A window was asked for where none can be shown."""

    exit_code = EXIT_USAGE


# --------------------------------------------------------------------------- sources


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


# --------------------------------------------------------------------------- the loop


class Pipeline(Protocol):
    """What the loop needs from facerec.pipeline.FacePipeline."""

    def detect(self, image: np.ndarray) -> list[Face]: ...

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray: ...


class Matcher(Protocol):
    def predict_identities(self, X: np.ndarray) -> list[Identity]: ...


@dataclass(frozen=True)
class TrackView:
    """One face on screen: what outputs draw and print."""

    track_id: int
    box: tuple[int, int, int, int]
    name: str | None  # None until the first identification
    score: float | None
    settled: bool  # its identity has been announced (an `appeared` event)
    detected: bool  # found by a detection on this very frame (else: its last box, held)

    def label(self) -> str:
        if not self.settled or self.name is None:
            return "?"
        return self.name if self.score is None else f"{self.name} {self.score:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {"track": self.track_id, "box": [int(v) for v in self.box], "name": self.name,
                "score": None if self.score is None else round(float(self.score), 4),
                "settled": self.settled, "detected": self.detected}


@dataclass
class FrameResult:
    frame: Frame
    rgb: np.ndarray
    tracks: list[TrackView]
    detected: bool  # a detection pass ran on this frame
    fps: float  # processed frames per second, smoothed


@dataclass
class LoopStats:
    frames: int = 0  # processed
    last_index: int = -1  # last source frame index seen (frames dropped = last_index + 1 - frames)
    detections: int = 0  # detection passes
    embeddings: int = 0  # faces embedded
    events: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    ended: str = "end of video"  # "end of video", "max frames", "stopped", "interrupted", "source lost"
    lost: str | None = None  # the message when the source was lost

    @property
    def dropped(self) -> int:
        return max(0, self.last_index + 1 - self.frames)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": self.dropped, "detections": self.detections,
                "embeddings": self.embeddings, "events": dict(self.events), "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "ended": self.ended, "lost": self.lost}


def scale_face(face: Face, factor: float) -> Face:
    x, y, w, h = face.box
    box = (int(round(x * factor)), int(round(y * factor)), int(round(w * factor)), int(round(h * factor)))
    return Face(box, face.confidence, tuple((px * factor, py * factor) for px, py in face.landmarks))


def detect_downscaled(pipeline: Pipeline, rgb: np.ndarray, detect_width: int | None) -> list[Face]:
    """Detect on a copy at most `detect_width` wide (MTCNN time grows with pixels) and map faces back."""
    width = rgb.shape[1]
    if not detect_width or width <= detect_width:
        return pipeline.detect(rgb)
    factor = detect_width / width
    small = cv2.resize(rgb, (detect_width, max(1, round(rgb.shape[0] * factor))), interpolation=cv2.INTER_AREA)
    return [scale_face(f, 1.0 / factor) for f in pipeline.detect(small)]


def matcher_threshold(matcher: Matcher | None, backbone: str | None = None) -> float | None:
    """The matcher's cosine-distance threshold (what `unknown` is decided on)."""
    for attribute in ("threshold_", "threshold"):
        value = getattr(matcher, attribute, None)
        if isinstance(value, (int, float)):
            return float(value)
    if backbone:
        from facerec.thresholds import threshold_for

        return threshold_for(backbone, "identify")
    return None


class Identifier:
    """Embeds the faces of the tracks that need it and turns the matcher's answers into votes."""

    def __init__(self, pipeline: Pipeline, matcher: Matcher | None, confident_distance: float | None):
        self.pipeline = pipeline
        self.matcher = matcher
        self.confident_distance = confident_distance

    def identify(self, rgb: np.ndarray, tracks: Sequence[Track]) -> list[tuple[Identity, bool, np.ndarray | None]]:
        """(identity, confident, embedding) per track."""
        if not tracks:
            return []
        if self.matcher is None:  # nobody enrolled: detection only, no embedding needed
            return [(Identity(UNKNOWN, 0.0), False, None) for _ in tracks]
        X = self.pipeline.embed(rgb, [t.face for t in tracks])
        return [(ident, self.is_confident(ident), x) for ident, x in zip(self.matcher.predict_identities(X), X)]

    def is_confident(self, ident: Identity) -> bool:
        return (ident.name != UNKNOWN and ident.distance is not None and self.confident_distance is not None
                and ident.distance <= self.confident_distance)


FrameCallback = Callable[[FrameResult], "bool | None"]  # return False to stop
EventCallback = Callable[[TrackEvent, FrameResult], None]


def run_loop(
    source: str | int | Path | VideoSource,
    pipeline: Pipeline,
    matcher: Matcher | None,
    *,
    detect_every: int = DEFAULT_DETECT_EVERY,
    detect_width: int | None = DEFAULT_DETECT_WIDTH,
    on_frame: FrameCallback | None = None,
    on_event: EventCallback | None = None,
    realtime: bool | None = None,
    max_frames: int | None = None,
    tracker: Tracker | None = None,
    confident_distance: float | None = None,
) -> LoopStats:
    """Identify faces in every processed frame of `source` until it ends, `max_frames`, `on_frame` returns
    False, or Ctrl-C (which ends the loop cleanly: `stats.ended == "interrupted"`).

    detect_every: K >= 1 detects every K processed frames; AUTO (0, the default) detects on every frame while
    processing keeps up with the source's frame rate, and otherwise as often as keeps up (DetectionSchedule).
    realtime: None = live sources drop frames to stay current and files are read frame by frame;
    True on a file plays it at native speed, dropping frames when behind.
    confident_distance: a vote this close settles a track at once (default: half the matcher's threshold).
    tracker: default Tracker(TrackerConfig(same_person_distance=SAME_TRACK_FRACTION x the matcher's threshold)).
    A live source that disappears ends the loop with `stats.ended == "source lost"` and `stats.lost` set.
    """
    if detect_every < 0:
        raise ValueError("detect_every must be >= 1, or AUTO (0)")
    from facerec.memory import return_big_blocks_to_the_system

    return_big_blocks_to_the_system()  # hours of frames must not pile up in malloc's heaps (flat memory)
    video = source if isinstance(source, VideoSource) else open_video(source, realtime)
    schedule = DetectionSchedule(detect_every, video.fps)
    threshold = matcher_threshold(matcher)
    same_person = None if threshold is None else SAME_TRACK_FRACTION * threshold
    tracker = tracker or Tracker(TrackerConfig(same_person_distance=same_person))
    if confident_distance is None:
        confident_distance = None if threshold is None else CONFIDENT_FRACTION * threshold
    identifier = Identifier(pipeline, matcher, confident_distance)
    stats = LoopStats()
    fps_meter = _FpsMeter()
    started = time.monotonic()
    result: FrameResult | None = None
    try:
        for frame in video.frames():
            detect, began = schedule.due(stats.frames), time.perf_counter()
            result = _process_frame(frame, detect, pipeline, identifier, tracker, detect_width, stats, fps_meter)
            schedule.record(detect, time.perf_counter() - began)
            stats.frames += 1
            stats.last_index = frame.index
            _deliver_events(tracker, result, on_event, stats)
            if on_frame is not None and on_frame(result) is False:
                stats.ended = "stopped"
                break
            if max_frames is not None and stats.frames >= max_frames:
                stats.ended = "max frames"
                break
    except KeyboardInterrupt:
        stats.ended = "interrupted"
    finally:
        video.close()
    if video.lost:
        stats.ended, stats.lost = "source lost", video.lost
    stats.seconds = time.monotonic() - started
    if result is not None:
        tracker.finish(result.frame.index, result.frame.ts)
        _deliver_events(tracker, result, on_event, stats)
    return stats


def _process_frame(frame: Frame, detect: bool, pipeline: Pipeline, identifier: Identifier, tracker: Tracker,
                   detect_width: int | None, stats: LoopStats, fps_meter: "_FpsMeter") -> FrameResult:
    rgb = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB)
    if detect:
        faces = detect_downscaled(pipeline, rgb, detect_width)
        stats.detections += 1
        tracks = tracker.update(faces, frame.index, frame.ts)
        wanted = [t for t in tracks if tracker.needs_embedding(t, frame.ts)]
        for track, (ident, confident, embedding) in zip(wanted, identifier.identify(rgb, wanted)):
            tracker.vote(track, ident.name, ident.score, confident=confident, embedding=embedding)
        stats.embeddings += len(wanted) if identifier.matcher is not None else 0
    else:
        tracker.advance(frame.index, frame.ts)
    views = [TrackView(t.track_id, t.box, t.name, t.score, t.appeared, detect and t.last_ts == frame.ts)
             for t in tracker.visible_tracks()]
    return FrameResult(frame, rgb, views, detect, fps_meter.tick())


def _deliver_events(tracker: Tracker, result: FrameResult, on_event: EventCallback | None, stats: LoopStats) -> None:
    for event in tracker.pop_events():
        stats.events[event.kind] += 1
        if on_event is not None:
            on_event(event, result)


class DetectionSchedule:
    """Which processed frames run the detector.

    Fixed K: every K-th frame. AUTO: every frame while a detection frame costs no more than the source's
    frame interval; when it costs more, the smallest K whose average cost (one detection frame and K-1
    tracking frames) fits the interval, at most MAX_AUTO_DETECT_EVERY. Costs are running averages of the
    measured processing times, so the schedule follows the machine's load.
    """

    def __init__(self, detect_every: int, source_fps: float | None):
        self.fixed = detect_every if detect_every >= 1 else None
        self.interval = 1.0 / (source_fps or FALLBACK_FPS)
        self.detect_cost: float | None = None
        self.track_cost = 0.0
        self.since_detection = 0  # frames processed since the last detection

    def every(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.detect_cost is None or self.detect_cost <= self.interval:
            return 1
        if self.track_cost >= self.interval:
            return MAX_AUTO_DETECT_EVERY
        k = (self.detect_cost - self.track_cost) / (self.interval - self.track_cost)
        return max(1, min(MAX_AUTO_DETECT_EVERY, int(np.ceil(k))))

    def due(self, processed: int) -> bool:
        if self.fixed is not None:
            return processed % self.fixed == 0
        return processed == 0 or self.since_detection + 1 >= self.every()

    def record(self, detected: bool, seconds: float) -> None:
        if detected:
            self.detect_cost = seconds if self.detect_cost is None else 0.8 * self.detect_cost + 0.2 * seconds
            self.since_detection = 0
        else:
            self.track_cost = 0.8 * self.track_cost + 0.2 * seconds
            self.since_detection += 1


class _FpsMeter:
    """Processed frames per second over the last FPS_WINDOW_S seconds (what the video and JSON show)."""

    def __init__(self, window_s: float = FPS_WINDOW_S) -> None:
        self.window_s = window_s
        self._ticks: deque[float] = deque()
        self.fps = 0.0

    def tick(self) -> float:
        now = time.monotonic()
        self._ticks.append(now)
        while now - self._ticks[0] > self.window_s:
            self._ticks.popleft()
        span = now - self._ticks[0]
        if len(self._ticks) >= 2 and span > 0:
            self.fps = (len(self._ticks) - 1) / span
        return self.fps


# --------------------------------------------------------------------------- outputs


def wall_clock() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class JsonLinesOutput:
    """One JSON object per line on `stream`: events always, `face` lines on detection frames (or every frame).

    {"ts": 1.2, "frame": 36, "event": "face", "track": 3, "box": [x, y, w, h], "name": "Alice",
     "score": 0.93, "settled": true, "detected": true, "fps": 24.8}   (fps: processed, last 2 s)
    {"ts": 1.2, "frame": 36, "event": "appeared", "track": 3, "box": [...], "name": "Alice", "score": 0.93,
     "first_ts": 0.9, "time": "2024-05-01T12:00:00+02:00"}
    {"ts": 9.0, ..., "event": "left", ..., "first_ts": 0.9, "last_ts": 5.0, "duration": 4.1, "time": ...}
    """

    def __init__(self, stream=None, every_frame: bool = False):
        self.stream = stream or sys.stdout
        self.every_frame = every_frame

    def on_frame(self, result: FrameResult) -> None:
        if not (result.detected or self.every_frame):
            return
        for view in result.tracks:
            if view.detected or self.every_frame:
                self._write({"ts": round(result.frame.ts, 3), "frame": result.frame.index, "event": "face",
                             **view.to_dict(), "fps": round(result.fps, 1)})

    def on_event(self, event: TrackEvent, result: FrameResult) -> None:
        self._write({**event.to_dict(), "time": wall_clock()})

    def _write(self, obj: dict[str, Any]) -> None:
        import json

        self.stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.stream.flush()  # a consumer reading the pipe sees each line as it happens


def annotate_frame(result: FrameResult, show_fps: bool = True) -> np.ndarray:
    """BGR frame with a box and label per visible face, and the processing FPS."""
    from facerec.annotate import draw_faces

    faces = [Face(v.box, 1.0, ((0.0, 0.0),) * 5) for v in result.tracks]
    rgb = draw_faces(result.rgb, faces, [v.label() for v in result.tracks])
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if show_fps:
        scale = max(0.5, min(bgr.shape[:2]) / 900)
        text = f"{result.fps:.1f} fps"
        origin = (10, int(30 * scale) + 5)
        cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def gui_unavailable_reason() -> str | None:
    """Why cv2.imshow cannot work here, or None."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if match and match.group(1).upper() == "NONE":
        return ("this OpenCV build has no GUI support (opencv-python-headless): "
                "use --headless, or install opencv-python for a window")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to open a window on (DISPLAY is not set): use --headless"
    return None


def check_window_possible() -> None:
    reason = gui_unavailable_reason()
    if reason is None:
        return
    if "opencv-python-headless" in reason:
        raise MissingExtraError(reason)
    raise DisplayError(reason)


class WindowOutput:
    """cv2.imshow window; 'q', Esc or closing the window ends the loop."""

    def __init__(self, title: str = "facerec webcam"):
        check_window_possible()
        self.title = title
        self._opened = False

    def show(self, bgr: np.ndarray) -> bool:
        if not self._opened:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            self._opened = True
        cv2.imshow(self.title, bgr)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        if self._opened:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the GUI thread actually remove it
            self._opened = False


class VideoRecorder:
    """Writes annotated frames to an .mp4 (mp4v). Frames are repeated over gaps so the file plays in real time
    even when frames were dropped."""

    def __init__(self, path: str | Path, fps: float | None):
        self.path = Path(path)
        if not self.path.parent.exists():
            raise FacerecError(f"cannot record to {self.path}: folder {self.path.parent} does not exist")
        self.fps = fps if fps and fps > 0 else FALLBACK_FPS
        self._writer: cv2.VideoWriter | None = None
        self._first_ts: float | None = None
        self.written = 0

    def write(self, bgr: np.ndarray, ts: float) -> None:
        if self._writer is None:
            h, w = bgr.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise FacerecError(f"cannot record to {self.path}: OpenCV could not open an mp4v writer")
            self._first_ts = ts
        due = int(round((ts - self._first_ts) * self.fps)) + 1
        repeats = min(max(1, due - self.written), int(self.fps * 2))  # at most 2 s of a frozen frame
        for _ in range(repeats):
            self._writer.write(bgr)
        self.written += repeats

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class UnknownFaceSaver:
    """Saves one crop per unknown track (when it appears as, or is renamed to, `unknown`), for later enrollment."""

    def __init__(self, folder: str | Path, margin: float = 0.25):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.margin = margin
        self.saved: list[Path] = []
        self._done: set[int] = set()

    def on_event(self, event: TrackEvent, result: FrameResult) -> None:
        if event.kind not in (APPEARED, RENAMED) or event.name != UNKNOWN or event.track_id in self._done:
            return
        if event.frame != result.frame.index:
            return  # decided on another frame: the face may not be in this one
        from facerec.annotate import save_image

        crop = crop_with_margin(result.rgb, event.box, self.margin)
        name = f"{datetime.now():%Y%m%d-%H%M%S}_track{event.track_id}.png"
        self.saved.append(save_image(self.folder / name, crop))
        self._done.add(event.track_id)


def crop_with_margin(rgb: np.ndarray, box: Sequence[int], margin: float) -> np.ndarray:
    x, y, w, h = box
    mx, my = int(w * margin), int(h * margin)
    height, width = rgb.shape[:2]
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(width, x + w + mx), min(height, y + h + my)
    return rgb[y0:y1, x0:x1].copy()


def describe_devices(backbone: str) -> str:
    """Where detection and embedding run, e.g. "MTCNN on CPU:0, dlib on CPU (ONNX Runtime)"."""
    from facerec.device import tensorflow_device

    tf_device = tensorflow_device()
    if backbone == "dlib":
        from facerec.backbones.dlib_backbone import dlib_device

        return f"MTCNN on {tf_device}, dlib on {dlib_device() or 'unavailable'}"
    return f"MTCNN and {backbone} on {tf_device}"
