"""The IoU tracker and its identity votes, on synthetic boxes (no models)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from facerec.video.track import (APPEARED, LEFT, RENAMED, Tracker, TrackerConfig, TrackEvent, Vote, decide_name,
                           greedy_iou_matches)
from facerec.types import UNKNOWN, Face
from facerec.types import box_iou as iou

FPS = 10.0


def face(x: int, y: int, size: int = 60) -> Face:
    landmarks = tuple((x + size * fx, y + size * fy) for fx, fy in
                      [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)])
    return Face((x, y, size, size), 0.99, landmarks)


Identify = Callable[[Face], tuple[str, float, bool]]


def play(tracker: Tracker, frames: list[list[Face]], identify: Identify, start: int = 0) -> list[TrackEvent]:
    """Run every frame as a detection pass at FPS, voting whenever the tracker asks; return all events."""
    events: list[TrackEvent] = []
    for offset, faces in enumerate(frames):
        index = start + offset
        ts = index / FPS
        for track in tracker.update(faces, index, ts):
            if tracker.needs_embedding(track, ts):
                name, score, confident = identify(track.face)
                tracker.vote(track, name, score, confident=confident)
        events += tracker.pop_events()
    return events


def always(name: str, score: float = 0.9, confident: bool = False) -> Identify:
    return lambda _face: (name, score, confident)


def kinds(events: list[TrackEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.name) for e in events]


# ---- geometry and matching ---------------------------------------------------------------------

def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_greedy_matching_pairs_best_overlaps_and_respects_threshold():
    tracks = [(0, 0, 50, 50), (100, 0, 50, 50)]
    detections = [(104, 2, 50, 50), (300, 300, 50, 50), (3, 1, 50, 50)]
    assert sorted(greedy_iou_matches(tracks, detections, 0.3)) == [(0, 2), (1, 0)]
    assert greedy_iou_matches(tracks, [(40, 40, 50, 50)], 0.3) == []


def test_moving_face_keeps_its_track_and_a_second_face_gets_a_new_one():
    tracker = Tracker()
    first = tracker.update([face(100, 100)], 0, 0.0)
    second = tracker.update([face(108, 104), face(400, 100)], 1, 0.1)
    assert second[0].track_id == first[0].track_id
    assert second[1].track_id != first[0].track_id
    assert second[0].box == (108, 104, 60, 60) and second[0].hits == 2


# ---- votes ---------------------------------------------------------------------------------------

def test_unknown_needs_a_strict_majority():
    assert decide_name([Vote("ann", 0.8), Vote(UNKNOWN, 0.3)])[0] == "ann"
    assert decide_name([Vote("ann", 0.8), Vote(UNKNOWN, 0.3), Vote(UNKNOWN, 0.2)])[0] == UNKNOWN
    assert decide_name([Vote(UNKNOWN, 0.3)])[0] == UNKNOWN
    assert decide_name([]) is None


def test_known_names_by_count_then_mean_score():
    votes = [Vote("ann", 0.7), Vote("bob", 0.9), Vote("ann", 0.6), Vote(UNKNOWN, 0.1)]
    assert decide_name(votes) == ("ann", pytest.approx(0.65))
    tie = [Vote("ann", 0.7), Vote("bob", 0.9)]
    assert decide_name(tie) == ("bob", pytest.approx(0.9))
    assert decide_name(tie, incumbent="ann") == ("ann", pytest.approx(0.7))


def test_vote_window_forgets_old_votes():
    tracker = Tracker(TrackerConfig(vote_window=3))
    track = tracker.update([face(0, 0)], 0, 0.0)[0]
    for name in ["ann", "ann", "bob", "bob", "bob"]:
        tracker.vote(track, name, 0.8)
    assert [v.name for v in track.votes] == ["bob", "bob", "bob"] and track.name == "bob"


def test_a_track_carries_the_distance_of_the_vote_that_named_it():
    tracker = Tracker(TrackerConfig(settle_votes=3))
    track = tracker.update([face(0, 0)], 0, 0.0)[0]
    tracker.vote(track, UNKNOWN, 0.0, distance=0.200)
    tracker.vote(track, "ann", 0.80, distance=0.030)
    tracker.vote(track, "ann", 0.90, distance=0.012)
    assert track.name == "ann" and track.distance == pytest.approx(0.012)  # not the unknown vote's 0.2
    appeared = [e for e in tracker.pop_events() if e.kind == APPEARED][0]
    result = appeared.to_result().to_dict()
    assert result["name"] == "ann" and result["distance"] == pytest.approx(0.012)


# ---- embedding policy ----------------------------------------------------------------------------

def test_new_tracks_are_embedded_a_few_times_then_rechecked_rarely():
    config = TrackerConfig(initial_embeds=3, initial_embed_interval_s=0.2, recheck_interval_s=2.0)
    tracker = Tracker(config)
    embedded_at = []
    for index in range(60):  # 6 s at 10 fps, detection every frame
        ts = index / FPS
        track = tracker.update([face(100, 100)], index, ts)[0]
        if tracker.needs_embedding(track, ts):
            embedded_at.append(round(ts, 1))
            tracker.vote(track, "ann", 0.9)
    assert embedded_at == [0.0, 0.2, 0.4, 2.4, 4.4]


def test_no_embedding_for_a_track_not_seen_on_this_frame():
    tracker = Tracker()
    track = tracker.update([face(100, 100)], 0, 0.0)[0]
    tracker.update([], 1, 0.1)
    assert track.missed == 1 and not tracker.needs_embedding(track, 0.1)


# ---- events --------------------------------------------------------------------------------------

def test_one_appeared_and_one_left_per_appearance_with_its_time_span():
    tracker = Tracker(TrackerConfig(max_missing_s=0.5, merge_window_s=1.0))
    frames = [[face(100 + i, 100)] for i in range(30)] + [[] for _ in range(30)]
    events = play(tracker, frames, always("ann"))
    assert kinds(events) == [(APPEARED, "ann"), (LEFT, "ann")]
    appeared, left = events
    assert appeared.ts == pytest.approx(0.2)  # the second vote settles it (0.2 s embedding interval)
    assert left.track_id == appeared.track_id
    assert (left.first_ts, left.last_ts) == (pytest.approx(0.0), pytest.approx(2.9))
    assert left.duration == pytest.approx(2.9)
    # `left` for a known name waits for the merge window after expiry: last seen 2.9 + 1.0 window.
    assert 3.9 < left.ts <= 4.1
    assert left.to_dict()["event"] == "left" and left.to_dict()["duration"] == pytest.approx(2.9)


def test_a_confident_first_vote_settles_at_once():
    tracker = Tracker()
    events = play(tracker, [[face(100, 100)]], always("ann", 0.95, confident=True))
    assert kinds(events) == [(APPEARED, "ann")]
    unsure = Tracker()
    assert play(unsure, [[face(100, 100)]], always("ann", 0.95, confident=False)) == []


def test_a_flicker_that_never_settles_makes_no_events():
    tracker = Tracker(TrackerConfig(max_missing_s=0.3))
    events = play(tracker, [[face(100, 100)]] + [[] for _ in range(10)], always("ann"))
    tracker.finish()
    assert events + tracker.pop_events() == [] and tracker.tracks == {}


def test_unknown_track_leaves_as_soon_as_it_expires():
    tracker = Tracker(TrackerConfig(max_missing_s=0.5, merge_window_s=3.0))
    frames = [[face(100, 100)] for _ in range(10)] + [[] for _ in range(8)]
    events = play(tracker, frames, always(UNKNOWN, 0.2))
    assert kinds(events) == [(APPEARED, UNKNOWN), (LEFT, UNKNOWN)]
    assert events[1].ts == pytest.approx(1.5)  # last seen 0.9, gone once more than 0.5 s passed


def test_known_person_returning_within_the_merge_window_is_one_appearance():
    tracker = Tracker(TrackerConfig(max_missing_s=0.5, merge_window_s=3.0))
    away = [[] for _ in range(15)]  # 1.5 s: the first track expires, then she is back elsewhere
    frames = [[face(100, 100)] for _ in range(10)] + away + [[face(400, 200)] for _ in range(10)]
    events = play(tracker, frames, always("ann"))
    tracker.finish(len(frames), len(frames) / FPS)
    events += tracker.pop_events()
    assert kinds(events) == [(APPEARED, "ann"), (LEFT, "ann")]
    assert events[0].track_id == events[1].track_id
    assert events[1].first_ts == pytest.approx(0.0) and events[1].last_ts == pytest.approx(3.4)


def test_known_person_returning_after_the_merge_window_is_a_new_appearance():
    tracker = Tracker(TrackerConfig(max_missing_s=0.5, merge_window_s=1.0))
    frames = [[face(100, 100)] for _ in range(10)] + [[] for _ in range(30)] + [[face(100, 100)] for _ in range(10)]
    events = play(tracker, frames, always("ann"))
    tracker.finish()
    events += tracker.pop_events()
    assert kinds(events) == [(APPEARED, "ann"), (LEFT, "ann"), (APPEARED, "ann"), (LEFT, "ann")]
    assert events[0].track_id != events[2].track_id


def test_unknown_faces_are_never_merged():
    tracker = Tracker(TrackerConfig(max_missing_s=0.5, merge_window_s=3.0))
    frames = [[face(100, 100)] for _ in range(10)] + [[] for _ in range(10)] + [[face(100, 100)] for _ in range(10)]
    events = play(tracker, frames, always(UNKNOWN, 0.1))
    assert [e.kind for e in events] == [APPEARED, LEFT, APPEARED]


def test_fast_move_that_breaks_iou_is_merged_into_the_live_track():
    tracker = Tracker(TrackerConfig(max_missing_s=1.0, merge_window_s=3.0))
    frames = [[face(100, 100)] for _ in range(5)] + [[face(500, 300)] for _ in range(10)]
    events = play(tracker, frames, always("ann"))
    assert kinds(events) == [(APPEARED, "ann")]
    assert list(tracker.tracks) == [events[0].track_id]  # the new track took over the old id
    assert tracker.tracks[events[0].track_id].first_ts == 0.0


def test_two_people_at_once_are_two_appearances():
    tracker = Tracker()
    names = {100: "ann", 400: "bob"}
    frames = [[face(100, 100), face(400, 100)] for _ in range(5)]
    events = play(tracker, frames, lambda f: (names[f.box[0]], 0.9, False))
    assert sorted(kinds(events)) == [(APPEARED, "ann"), (APPEARED, "bob")]


def test_a_different_person_in_the_same_place_splits_the_track():
    config = TrackerConfig(initial_embeds=3, recheck_interval_s=1.0, max_missing_s=0.5, merge_window_s=1.0)
    tracker = Tracker(config)
    same_place = [[face(100, 100)] for _ in range(40)]
    events = play(tracker, same_place, lambda f: ("ann", 0.9, True) if tracker._ts < 2.0 else ("bob", 0.9, True))
    # ann's `left` waits out the merge window, like any known person's
    assert kinds(events) == [(APPEARED, "ann"), (APPEARED, "bob"), (LEFT, "ann")]
    assert events[2].last_ts < events[1].first_ts
    assert 2.0 <= events[1].first_ts <= 2.0 + config.recheck_interval_s + 0.1  # noticed at the next re-check
    assert events[1].track_id != events[0].track_id


def test_an_embedding_far_from_the_track_s_last_one_splits_it_even_when_unknown():
    config = TrackerConfig(recheck_interval_s=1.0, max_missing_s=0.5, same_person_distance=0.3)
    tracker = Tracker(config)
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    events = []
    for index in range(40):  # one box; a scene cut at 2.0 s puts another (unknown) face in it
        ts = index / FPS
        for track in tracker.update([face(100, 100)], index, ts):
            if tracker.needs_embedding(track, ts):
                tracker.vote(track, UNKNOWN, 0.3, embedding=a if ts < 2.0 else b)
        events += tracker.pop_events()
    assert [e.kind for e in events] == [APPEARED, LEFT, APPEARED]
    assert events[0].track_id != events[2].track_id


def test_a_box_that_jumps_is_identified_again_at_once():
    tracker = Tracker(TrackerConfig(initial_embeds=1, recheck_interval_s=10.0, iou_threshold=0.2))
    track = tracker.update([face(100, 100)], 0, 0.0)[0]
    tracker.vote(track, "ann", 0.9)
    track = tracker.update([face(105, 100)], 1, 0.1)[0]
    assert not tracker.needs_embedding(track, 0.1)
    track = tracker.update([face(130, 100)], 2, 0.2)[0]  # same track (IoU ~0.4) but a big jump
    assert track.hits == 3 and tracker.needs_embedding(track, 0.2)


def test_majority_change_after_appearing_is_reported_as_renamed():
    tracker = Tracker()
    track = tracker.update([face(0, 0)], 0, 0.0)[0]
    tracker.vote(track, "ann", 0.8)
    tracker.vote(track, "ann", 0.8)
    tracker.vote(track, "bob", 0.9)
    tracker.vote(track, "bob", 0.9)
    assert kinds(tracker.pop_events()) == [(APPEARED, "ann")]  # a tie does not rename
    tracker.vote(track, "bob", 0.9)
    events = tracker.pop_events()
    assert kinds(events) == [(RENAMED, "bob")] and events[0].previous_name == "ann"
    assert events[0].to_dict()["previous"] == "ann"


def test_finish_reports_every_open_appearance():
    tracker = Tracker()
    names = {100: "ann", 400: UNKNOWN}
    play(tracker, [[face(100, 100), face(400, 100)] for _ in range(5)], lambda f: (names[f.box[0]], 0.5, False))
    tracker.pop_events()
    tracker.finish(5, 0.5)
    assert sorted(kinds(tracker.pop_events())) == [(LEFT, "ann"), (LEFT, UNKNOWN)]
    assert tracker.tracks == {}


def test_boxes_are_held_between_detection_passes_and_hidden_once_missed():
    tracker = Tracker(TrackerConfig(max_missing_s=1.0))
    tracker.update([face(100, 100)], 0, 0.0)
    tracker.advance(1, 0.1)
    assert [t.box for t in tracker.visible_tracks()] == [(100, 100, 60, 60)]
    tracker.update([], 2, 0.2)
    assert tracker.visible_tracks() == [] and len(tracker.tracks) == 1  # kept for re-association
    back = tracker.update([face(102, 100)], 3, 0.3)
    assert len(tracker.tracks) == 1 and back[0].visible


# ---- a track's evidence (facerec.video.evidence): quality and pooling, on real photos -----------------------


def test_face_quality_prefers_big_sharp_frontal_faces_and_pooling_starts_over_for_someone_else():
    from pathlib import Path

    import cv2

    from facerec.video.evidence import face_quality, pooled

    rgb = cv2.cvtColor(cv2.imread(str(Path(__file__).resolve().parents[1] / "data" / "webcam" / "obama_1.jpg")),
                       cv2.COLOR_BGR2RGB)
    frontal = ((90.0, 100.0), (150.0, 100.0), (120.0, 130.0), (95.0, 160.0), (145.0, 160.0))
    profile = ((90.0, 100.0), (150.0, 100.0), (148.0, 130.0), (95.0, 160.0), (145.0, 160.0))
    big, small = Face((60, 60, 120, 140), 0.99, frontal), Face((60, 60, 24, 28), 0.99, frontal)
    blurred = cv2.GaussianBlur(rgb, (0, 0), 6)
    assert face_quality(rgb, big) > face_quality(rgb, small)
    assert face_quality(rgb, big) > face_quality(blurred, big)
    assert face_quality(rgb, big) > face_quality(rgb, Face(big.box, 0.99, profile))

    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    kept, query = pooled([], a, 0.9, keep=3)
    kept, query = pooled(kept, (a + 0.1 * b) / np.linalg.norm(a + 0.1 * b), 0.1, keep=3, previous=a, same_person=0.5)
    assert len(kept) == 2 and query[0] > 0.99 and abs(np.linalg.norm(query) - 1) < 1e-5  # the sharp look weighs most
    kept, query = pooled(kept, b, 0.5, keep=3, previous=a, same_person=0.5)  # someone else: start over
    assert len(kept) == 1 and np.allclose(query, b)
