"""Identify people live in a camera, a video file or a stream: the loop.

`run_loop` knows nothing about windows or JSON: it reads frames (facerec.video.sources), detects on every frame
while processing keeps up with the source (or every `detect_every` frames when set) on a copy downscaled to
`detect_width`, follows faces in between with `facerec.video.track.Tracker`, embeds only the tracks the
tracker asks for, and reports each processed frame to `on_frame` and each appeared/left/renamed event to
`on_event`. The outputs (facerec.video.outputs) are small classes the command wires to those callbacks.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import cv2
import numpy as np

from facerec.video.evidence import DEFAULT_EVIDENCE, face_quality, pooled
from facerec.video.track import Track, TrackEvent, Tracker, TrackerConfig, track_face
from facerec.types import UNKNOWN, Face, FaceResult, Identity
from facerec.video.sources import FALLBACK_FPS, Frame, VideoSource, open_video


AUTO = 0  # detect_every=AUTO: on every frame while the machine keeps up, tracking fills in when not


DEFAULT_DETECT_EVERY = AUTO


MAX_AUTO_DETECT_EVERY = 6  # AUTO never lets tracking alone carry more frames than this


FPS_WINDOW_S = 2.0  # the FPS shown and written is the processed rate over this many seconds


DEFAULT_DETECT_WIDTH = 640


CONFIDENT_FRACTION = 0.5  # a vote is confident when its distance is <= this fraction of the threshold


# A track is split when its new embedding is farther from its previous one than the matcher's own "same person"
# threshold allows (times this factor). Consecutive embeddings of one person in a video sit far closer
# (dlib: 0.005-0.03 on the Hamilton clip) than two people cut into the same box (dlib: 0.13 for the cut from
# Lin-Manuel Miranda to Barack Obama there); a wrong split of a known person merges back into one appearance.
SAME_TRACK_FRACTION = 1.0


class Pipeline(Protocol):
    """What the loop needs from facerec.recognition.pipeline.FacePipeline."""

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
    face: Face | None = None  # the track's latest detection (confidence, landmarks)
    distance: float | None = None  # of the vote that named the track

    def label(self) -> str:
        if not self.settled or self.name is None:
            return "?"
        return self.name if self.score is None or self.name == UNKNOWN else f"{self.name} {self.score:.2f}"

    def to_result(self, face_index: int = 0) -> FaceResult:
        """The face as every output shapes it; `name` is unknown until the track is identified (`settled`)."""
        return FaceResult(track_face(self.box, self.face), self.name or UNKNOWN, self.score, self.distance, face_index,
                          extra={"track": self.track_id, "settled": self.settled, "detected": self.detected})

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()


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
    idle_frames: int = 0  # read while nobody listened (`active` said no): decoded, not processed

    @property
    def dropped(self) -> int:
        return max(0, self.last_index + 1 - self.frames - self.idle_frames)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": self.dropped, "detections": self.detections,
                "embeddings": self.embeddings, "events": dict(self.events), "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "ended": self.ended, "lost": self.lost, "idle_frames": self.idle_frames}


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
    """Embeds the faces of the tracks that need it and turns the matcher's answers into votes.

    With `evidence` K >= 2 the matcher is also asked about the quality-weighted mean of the track's K best
    looks so far (facerec.video.evidence), and the closer of the two answers is the vote."""

    def __init__(self, pipeline: Pipeline, matcher: Matcher | None, confident_distance: float | None,
                 evidence: int = DEFAULT_EVIDENCE, same_person: float | None = None):
        self.pipeline = pipeline
        self.matcher = matcher
        self.confident_distance = confident_distance
        self.evidence = evidence
        self.same_person = same_person

    def identify(self, rgb: np.ndarray, tracks: Sequence[Track]) -> list[tuple[Identity, bool, np.ndarray | None]]:
        """(identity, confident, embedding) per track (with evidence: each track's evidence grows by this look)."""
        if not tracks:
            return []
        if self.matcher is None:  # nobody enrolled: detection only, no embedding needed
            return [(Identity(UNKNOWN, 0.0), False, None) for _ in tracks]
        X = self.pipeline.embed(rgb, [t.face for t in tracks])
        identities = (self.matcher.predict_identities(X) if self.evidence <= 1
                      else self._with_evidence(rgb, tracks, X))
        return [(ident, self.is_confident(ident), x) for ident, x in zip(identities, X)]

    def _with_evidence(self, rgb: np.ndarray, tracks: Sequence[Track], X: np.ndarray) -> list[Identity]:
        queries = []
        for track, x in zip(tracks, X):
            track.evidence, query = pooled(track.evidence, x, face_quality(rgb, track.face), self.evidence,
                                           track.reference, self.same_person)
            queries.append(query)
        answers = self.matcher.predict_identities(np.concatenate([np.atleast_2d(X), np.stack(queries)]))
        return [better(own, pooled_) for own, pooled_ in zip(answers[:len(X)], answers[len(X):])]

    def is_confident(self, ident: Identity) -> bool:
        return (ident.name != UNKNOWN and ident.distance is not None and self.confident_distance is not None
                and ident.distance <= self.confident_distance)


def better(a: Identity, b: Identity) -> Identity:
    """The answer with more evidence for a known person: the smaller distance (else the higher score)."""
    if a.distance is not None and b.distance is not None:
        return b if b.distance < a.distance else a
    return b if (b.name != UNKNOWN, b.score) > (a.name != UNKNOWN, a.score) else a


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
    active: Callable[[], bool] | None = None,
    evidence: int = DEFAULT_EVIDENCE,
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
    evidence: a track is named from the quality-weighted mean of its `evidence` best embeddings (1: from each
    frame's own embedding; facerec.video.evidence).
    active: asked on every frame; while it says False (nobody listens) frames are read but not processed (the
    source stays connected, no model runs, no callback), and the faces on screen end as if they had left.
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
    identifier = Identifier(pipeline, matcher, confident_distance, evidence, same_person)
    stats = LoopStats()
    fps_meter = _FpsMeter()
    started = time.monotonic()
    result: FrameResult | None = None
    try:
        for frame in video.frames():
            if active is not None and not active():
                stats.idle_frames += 1
                stats.last_index = frame.index
                if result is not None:  # going idle: whoever was on screen has left, as far as anyone knows
                    tracker.finish(result.frame.index, result.frame.ts)
                    _deliver_events(tracker, result, on_event, stats)
                    result = None
                continue
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
            holder = tracker.vote(track, ident.name, ident.score, confident=confident, embedding=embedding,
                                  distance=ident.distance)
            if holder is not track and track.evidence:  # split: the new track starts from this look only
                holder.evidence = [e for e in track.evidence if e[1] is embedding]
        stats.embeddings += len(wanted) if identifier.matcher is not None else 0
    else:
        tracker.advance(frame.index, frame.ts)
    views = [TrackView(t.track_id, t.box, t.name, t.score, t.appeared, detect and t.last_ts == frame.ts, t.face,
                       t.distance) for t in tracker.visible_tracks()]
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
