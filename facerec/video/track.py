"""Follow faces from frame to frame and turn per-frame guesses into stable identities and events.

Pure logic, no models: the caller detects faces, asks `needs_embedding(track, ts)` which tracks are
worth an embedding on this frame, and reports each identification with `vote(...)`.

Rules (all times are seconds of stream time, so they hold when frames are dropped):

- Matching: a detection continues the active track whose last box overlaps it most (IoU >= iou_threshold,
  greedy, best pairs first); unmatched detections start new tracks. Between detection passes boxes stay
  where they were last seen (no motion model: opencv-python-headless has no KCF/CSRT).
- Expiry: a track that a detection pass did not find, and that has not been seen for more than
  max_missing_s, has gone.
- Identity: each embedding adds a vote (name, score). A track's name is decided over its last
  `vote_window` votes: `unknown` wins only with a strict majority, otherwise the known name with most
  votes wins; ties go to the name already announced (no renaming on a tie), then to the higher mean score.
- Settling: a track's identity is settled after `settle_votes` votes, or after a single *confident* vote
  for a known name (the caller decides what confident means, e.g. distance <= threshold / 2).
- Events: `appeared` once per appearance, when the identity settles; `renamed` when the majority of a
  settled track changes; `left` when an appearance ends, with its time span. Tracks that vanish
  before they settle (a flicker, a false detection) produce no events at all.
- Merging (one appearance, not two): when a new track settles on a *known* name and a track with that
  name was last seen at most `merge_window_s` before the new one started (it left, or it is still
  alive but was not found by the latest detections: the person moved too fast for IoU), the new track
  continues that appearance: it takes over the old track id and start time, and there is no second
  `appeared`. To make that possible, `left` for a known name waits until the merge window has passed
  (so it comes max_missing_s + merge_window_s after the last sighting, or at `finish`). Unknown faces
  are never merged: nothing says two unknown tracks are the same person.
- Splitting: boxes can overlap across a scene cut or when someone takes another's seat, so a track is
  split (the old one ends as if it had gone, a new one starts from this detection) when an
  identification shows a different person: a confident vote for another known name, or an embedding
  farther than `same_person_distance` from the track's previous embedding. A box that jumps
  (IoU with its previous box < jump_iou) is embedded again at once, so cuts are caught at the next
  detection pass rather than at the next periodic re-check.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from facerec.types import UNKNOWN, Face, FaceResult, box_iou
from facerec.vectors import cosine_distance

Box = tuple[int, int, int, int]  # x, y, width, height

APPEARED = "appeared"
LEFT = "left"
RENAMED = "renamed"


@dataclass(frozen=True)
class TrackerConfig:
    iou_threshold: float = 0.3
    max_missing_s: float = 1.0
    vote_window: int = 9
    settle_votes: int = 2
    initial_embeds: int = 3  # embeddings for a new track, at most one every initial_embed_interval_s
    initial_embed_interval_s: float = 0.2
    recheck_interval_s: float = 2.0  # after that, re-identify settled tracks this often
    merge_window_s: float = 3.0
    same_person_distance: float | None = None  # cosine distance between a track's embeddings; None: no check
    jump_iou: float = 0.5


@dataclass(frozen=True)
class Vote:
    name: str
    score: float
    confident: bool = False
    distance: float | None = None  # the cosine distance the matcher decided this vote on


@dataclass
class Track:
    track_id: int
    box: Box
    face: Face | None
    first_frame: int
    first_ts: float
    last_frame: int
    last_ts: float
    hits: int = 1
    missed: int = 0  # detection passes in a row that did not find this track
    votes: deque[Vote] = field(default_factory=deque)
    embeds: int = 0
    last_embed_ts: float | None = None
    appeared: bool = False
    announced_name: str | None = None  # the name the last appeared/renamed event gave
    previous_seen_ts: float | None = None  # last sighting before the current one (for splits)
    jumped: bool = False  # the box moved abruptly at the last sighting: identify again
    reference: np.ndarray | None = None  # the latest embedding, to notice a different person in the same box
    evidence: list = field(default_factory=list)  # (quality, embedding) of its best looks (facerec.video.evidence)

    @property
    def decision(self) -> tuple[str, float] | None:
        return decide_name(self.votes, incumbent=self.announced_name)

    @property
    def name(self) -> str | None:
        decision = self.decision
        return decision[0] if decision else None

    @property
    def score(self) -> float | None:
        decision = self.decision
        return decision[1] if decision else None

    @property
    def distance(self) -> float | None:
        """The distance of the vote that named the track: the closest of the votes for its name."""
        name = self.name
        distances = [v.distance for v in self.votes if v.name == name and v.distance is not None]
        return min(distances) if distances else None

    @property
    def visible(self) -> bool:
        """Found by the latest detection pass (a box worth drawing)."""
        return self.missed == 0


@dataclass(frozen=True)
class TrackEvent:
    kind: str  # APPEARED, LEFT or RENAMED
    track_id: int
    name: str
    score: float | None
    frame: int  # the frame the event was decided on
    ts: float
    first_ts: float  # the appearance's time span
    last_ts: float
    box: Box
    previous_name: str | None = None  # for RENAMED
    face: Face | None = None  # the track's latest detection (confidence, landmarks)
    distance: float | None = None  # of the vote that named the track (Track.distance)

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.first_ts)

    def to_result(self) -> FaceResult:
        return FaceResult(track_face(self.box, self.face), self.name, self.score, self.distance,
                          extra={"track": self.track_id})

    def to_dict(self) -> dict:
        d = {"ts": round(self.ts, 3), "frame": self.frame, "event": self.kind, **self.to_result().to_dict(),
             "first_ts": round(self.first_ts, 3)}
        if self.kind == LEFT:
            d["last_ts"] = round(self.last_ts, 3)
            d["duration"] = round(self.duration, 3)
        if self.kind == RENAMED:
            d["previous"] = self.previous_name
        return d


def decide_name(votes: Iterable[Vote], incumbent: str | None = None) -> tuple[str, float] | None:
    """(name, mean score of its votes): unknown needs a strict majority; otherwise most votes, then the
    `incumbent` (the name already announced, so that a tie does not rename a track), then best mean score."""
    votes = list(votes)
    if not votes:
        return None
    scores: dict[str, list[float]] = {}
    for v in votes:
        scores.setdefault(v.name, []).append(float(v.score))
    known = {n: s for n, s in scores.items() if n != UNKNOWN}
    unknown_votes = len(scores.get(UNKNOWN, []))
    if not known or unknown_votes * 2 > len(votes):
        return UNKNOWN, _mean(scores[UNKNOWN])
    best = max(known, key=lambda n: (len(known[n]), n == incumbent, _mean(known[n])))
    return best, _mean(known[best])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def greedy_iou_matches(boxes_a: Sequence[Box], boxes_b: Sequence[Box], threshold: float) -> list[tuple[int, int]]:
    """Pairs (i, j) with IoU >= threshold, best overlaps first, each index used at most once."""
    pairs = [(box_iou(a, b), i, j) for i, a in enumerate(boxes_a) for j, b in enumerate(boxes_b)]
    pairs = sorted((p for p in pairs if p[0] >= threshold), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    matches = []
    for _, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matches.append((i, j))
    return matches


class Tracker:
    """IoU tracker with identity votes. Call `update` on detection frames, `advance` on the others."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: dict[int, Track] = {}  # alive
        self._departed: list[Track] = []  # known appearances whose `left` waits for the merge window
        self._events: list[TrackEvent] = []
        self._next_id = 1
        self._frame = 0
        self._ts = 0.0

    # ---- frames -------------------------------------------------------------------------------
    def update(self, faces: Sequence[Face], frame: int, ts: float) -> list[Track]:
        """A detection pass: match `faces` to tracks; returns the track of each face, in order."""
        self._frame, self._ts = frame, ts
        alive = list(self.tracks.values())
        matches = greedy_iou_matches([t.box for t in alive], [f.box for f in faces], self.config.iou_threshold)
        result: list[Track | None] = [None] * len(faces)
        for i, j in matches:
            self._see(alive[i], faces[j], frame, ts)
            result[j] = alive[i]
        matched = {i for i, _ in matches}
        for i, track in enumerate(alive):
            if i not in matched:
                track.missed += 1
        for j, face in enumerate(faces):
            if result[j] is None:
                result[j] = self._start_track(face, frame, ts)
        self._expire(ts)
        self._flush_departed(ts)
        return [t for t in result if t is not None]

    def advance(self, frame: int, ts: float) -> None:
        """A frame without detection: nothing moves, but delayed `left` events may become due."""
        self._frame, self._ts = frame, ts
        self._flush_departed(ts)

    def finish(self, frame: int | None = None, ts: float | None = None) -> None:
        """End of stream: every appearance still open gets its `left` event."""
        if frame is not None:
            self._frame = frame
        if ts is not None:
            self._ts = ts
        for track in list(self.tracks.values()):
            self._end(track)
        for track in self._departed:
            self._emit(LEFT, track, track.last_ts)
        self._departed.clear()

    def pop_events(self) -> list[TrackEvent]:
        events, self._events = self._events, []
        return events

    def visible_tracks(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.visible]

    # ---- identities ---------------------------------------------------------------------------
    def needs_embedding(self, track: Track, ts: float) -> bool:
        """Embed a new track a few times early on, then re-check now and then; only when seen on this frame."""
        if track.last_ts != ts or track.face is None:
            return False
        if track.last_embed_ts is None or track.jumped:
            return True
        since = ts - track.last_embed_ts
        if track.embeds < self.config.initial_embeds:
            return since >= self.config.initial_embed_interval_s
        return since >= self.config.recheck_interval_s

    def vote(self, track: Track, name: str, score: float, *, confident: bool = False,
             embedding: np.ndarray | None = None, distance: float | None = None) -> Track:
        """Record one identification of `track` on the current frame; returns the track that holds it now
        (a new one when the vote split the track, the older one when it merged).
        `embedding` (unit length) lets the tracker notice a different person in the same box."""
        if self._is_someone_else(track, name, confident, embedding):
            track = self._split(track)
        track.embeds += 1
        track.last_embed_ts = self._ts
        track.jumped = False
        if embedding is not None:
            track.reference = np.asarray(embedding, dtype=np.float32)
        track.votes.append(Vote(name, float(score), confident, distance))
        while len(track.votes) > self.config.vote_window:
            track.votes.popleft()
        if not track.appeared and self._is_settled(track):
            return self._settle(track)
        if track.appeared and track.name != track.announced_name:
            previous = track.announced_name
            track.announced_name = track.name
            self._emit(RENAMED, track, track.last_ts, previous_name=previous)
        return track

    # ---- internals ----------------------------------------------------------------------------
    def _is_someone_else(self, track: Track, name: str, confident: bool, embedding: np.ndarray | None) -> bool:
        if track.appeared and confident and name != UNKNOWN and name != track.name:
            return True
        limit = self.config.same_person_distance
        if limit is None or embedding is None or track.reference is None:
            return False
        return cosine_distance(track.reference, embedding) > limit

    def _is_settled(self, track: Track) -> bool:
        if len(track.votes) >= self.config.settle_votes:
            return True
        first = track.votes[0] if track.votes else None
        return first is not None and first.confident and first.name != UNKNOWN

    def _see(self, track: Track, face: Face, frame: int, ts: float) -> None:
        track.previous_seen_ts = track.last_ts
        box = tuple(int(v) for v in face.box)
        track.jumped = track.jumped or box_iou(track.box, box) < self.config.jump_iou
        track.box, track.face = box, face
        track.last_frame, track.last_ts = frame, ts
        track.hits += 1
        track.missed = 0

    def _start_track(self, face: Face, frame: int, ts: float) -> Track:
        track = Track(self._next_id, tuple(int(v) for v in face.box), face, frame, ts, frame, ts)
        self._next_id += 1
        self.tracks[track.track_id] = track
        return track

    def _expire(self, ts: float) -> None:
        for track in list(self.tracks.values()):
            if track.missed > 0 and ts - track.last_ts > self.config.max_missing_s:
                self._end(track)

    def _end(self, track: Track) -> None:
        """The track is gone from view: drop it, report it, or hold its `left` for a possible merge."""
        del self.tracks[track.track_id]
        if not track.appeared:
            return  # never settled: a flicker, nothing was announced
        if track.name == UNKNOWN:
            self._emit(LEFT, track, track.last_ts)
        else:
            self._departed.append(track)

    def _flush_departed(self, ts: float) -> None:
        """Emit `left` for departed tracks that no unsettled track could still merge with."""
        window = self.config.merge_window_s
        for old in list(self._departed):
            could_merge = any(not t.appeared and 0 < t.first_ts - old.last_ts <= window for t in self.tracks.values())
            if ts - old.last_ts > window and not could_merge:
                self._departed.remove(old)
                self._emit(LEFT, old, old.last_ts)

    def _settle(self, track: Track) -> Track:
        name = track.name
        old = self._merge_candidate(track) if name != UNKNOWN else None
        track.appeared = True
        track.announced_name = name
        if old is None:
            self._emit(APPEARED, track, track.last_ts)
            return track
        # Same appearance as `old`: continue it under its id and start time, without a second `appeared`.
        if old.track_id in self.tracks:
            del self.tracks[old.track_id]
        else:
            self._departed.remove(old)
        del self.tracks[track.track_id]
        track.track_id = old.track_id
        track.first_frame, track.first_ts = old.first_frame, old.first_ts
        track.hits += old.hits
        track.votes = deque(list(old.votes) + list(track.votes))
        while len(track.votes) > self.config.vote_window:
            track.votes.popleft()
        if track.name != name:  # the older votes must not undo the decision that caused the merge
            track.votes = deque(v for v in track.votes if v.name == name)
        track.announced_name = name
        self.tracks[track.track_id] = track
        return track

    def _merge_candidate(self, track: Track) -> Track | None:
        window = self.config.merge_window_s
        candidates = [t for t in self._departed if t.name == track.name]
        candidates += [t for t in self.tracks.values()
                       if t is not track and t.appeared and t.name == track.name and t.missed > 0]
        candidates = [t for t in candidates if t.last_ts < track.first_ts and track.first_ts - t.last_ts <= window]
        return max(candidates, key=lambda t: t.last_ts, default=None)

    def _split(self, track: Track) -> Track:
        """A different person where `track` was: the old track ends as if it had gone (so a known name can
        still merge back), and a new track starts on this detection."""
        if track.previous_seen_ts is not None:
            track.last_ts = track.previous_seen_ts  # the old person was last seen before this detection
        self._end(track)
        return self._start_track(track.face, self._frame, self._ts)

    def _emit(self, kind: str, track: Track, last_ts: float, previous_name: str | None = None) -> None:
        name = track.announced_name if kind == LEFT and track.announced_name else (track.name or UNKNOWN)
        score = track.score
        distance = track.distance if name == track.name else None
        self._events.append(TrackEvent(kind, track.track_id, name, score, self._frame, self._ts,
                                       track.first_ts, last_ts, track.box, previous_name, track.face, distance))


def track_face(box: tuple[int, int, int, int], latest: Face | None) -> Face:
    """A track's face at `box`: its latest detection's confidence and landmarks (none when it has none)."""
    if latest is None:
        return Face(tuple(int(v) for v in box), 0.0, ((0.0, 0.0),) * 5)
    return Face(tuple(int(v) for v in box), latest.confidence, latest.landmarks)
