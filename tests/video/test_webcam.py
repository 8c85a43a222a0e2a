"""`facerec webcam` and its loop: real clips, real models, a real gallery; plus the source and output plumbing."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facerec.cli.main import main
from facerec.errors import EXIT_BAD_INPUT, FacerecError
from facerec.video.track import APPEARED, LEFT, TrackEvent
from facerec.types import Face
from facerec.video.loop import FrameResult, TrackView, detect_downscaled, run_loop, scale_face
from facerec.video.outputs import JsonLinesOutput, UnknownFaceSaver, gui_unavailable_reason
from facerec.video.sources import SourceError, VideoSource, open_source, open_video, parse_source, redact_url

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

DATA = Path(__file__).resolve().parents[1] / "data"
CLIP_FPS = 10.0
FRAME_W, FRAME_H = 640, 480


def write_clip(path: Path, scenes: list[tuple[np.ndarray | None, int, int]], fps: float = CLIP_FPS) -> Path:
    """An mp4 of scenes (photo or None for blank, x offset, frames); each photo drifts 1 px per frame,
    like a person who is not perfectly still."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (FRAME_W, FRAME_H))
    assert writer.isOpened()
    for photo, x, frames in scenes:
        for i in range(frames):
            canvas = np.full((FRAME_H, FRAME_W, 3), 40, dtype=np.uint8)
            if photo is not None:
                h, w = photo.shape[:2]
                left, top = x + i, (FRAME_H - h) // 2
                canvas[top:top + h, left:left + w] = photo
            writer.write(canvas)
    writer.release()
    return path


@pytest.fixture(scope="module")
def obama_biden_clip(tmp_path_factory) -> Path:
    """2 s of Obama on the left, 2 s of Biden on the right, 1 s of nobody (photos not used for enrollment)."""
    obama = cv2.imread(str(DATA / "webcam" / "obama_1.jpg"))
    biden = cv2.imread(str(DATA / "webcam" / "biden_1.jpg"))
    path = tmp_path_factory.mktemp("clip") / "obama_then_biden.mp4"
    return write_clip(path, [(obama, 20, 20), (biden, 220, 20), (None, 0, 10)])


@pytest.fixture(scope="module")
def enrolled_gallery(tmp_path_factory, dlib_pipeline) -> Path:
    """A real gallery with Obama and Biden enrolled from other photos of them."""
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    root = tmp_path_factory.mktemp("people")
    for person, photo in [("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")]:
        (root / person).mkdir()
        (root / person / photo).write_bytes((DATA / "core" / photo).read_bytes())
    path = root / "gallery.sqlite"
    with Gallery(path) as gallery:
        report = enroll_folder(root, gallery, dlib_pipeline, progress=False)
    assert report.usable == 2
    return path


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---- the real thing ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_headless_run_names_each_person_once(obama_biden_clip, enrolled_gallery, capsys):
    code = main(["webcam", "--source", str(obama_biden_clip), "--headless", "--gallery", str(enrolled_gallery),
                 "--backbone", "dlib", "--detect-every", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = json_lines(out)
    events = [d for d in lines if d["event"] != "face"]
    appeared = [d for d in events if d["event"] == APPEARED]
    assert [d["name"] for d in appeared] == ["Barack_Obama", "Joe_Biden"]  # one per appearance, in order
    assert appeared[0]["ts"] < 2.0 <= appeared[1]["ts"] < 4.0
    left = {d["track"]: d for d in events if d["event"] == LEFT}
    assert set(left) == {d["track"] for d in appeared}
    obama_left = left[appeared[0]["track"]]
    assert obama_left["name"] == "Barack_Obama" and obama_left["last_ts"] < 2.0 and obama_left["duration"] > 1.0
    faces = [d for d in lines if d["event"] == "face" and d["settled"]]
    assert {d["name"] for d in faces} == {"Barack_Obama", "Joe_Biden"}
    assert all(len(d["box"]) == 4 and d["detected"] for d in faces)
    assert "2 people enrolled" in err and "2 appearances" in err


def test_default_detects_every_frame_and_names_each_entering_face_within_a_second(obama_biden_clip, enrolled_gallery,
                                                                                    dlib_pipeline):
    """Default schedule (AUTO), frame by frame: Obama enters at 0 s, Biden at 2 s; each named within 1 s."""
    from facerec.gallery.store import Gallery
    from facerec.recognition.match import make_matcher

    with Gallery(enrolled_gallery, create=False) as gallery:
        X, names, _ = gallery.embeddings(dlib_pipeline.embedding_id)
    matcher = make_matcher("nn", backbone=dlib_pipeline.embedding_id).fit(X, names)
    frames, appeared = [], []
    stats = run_loop(str(obama_biden_clip), dlib_pipeline, matcher, on_frame=frames.append,
                     on_event=lambda e, r: appeared.append((e.name, r.frame.ts)) if e.kind == APPEARED else None)
    assert [name for name, _ in appeared] == ["Barack_Obama", "Joe_Biden"]
    assert appeared[0][1] - 0.0 <= 1.0 and appeared[1][1] - 2.0 <= 1.0, appeared
    assert stats.detections >= stats.frames / 6  # AUTO never leaves more than 5 frames to tracking alone
    late = [f.fps for f in frames if f.frame.ts >= 1.0]  # once the window holds a second of frames
    assert all(stats.fps / 3 < fps < stats.fps * 3 for fps in late), (stats.fps, late)  # a rate, not 1/gap


def test_auto_schedule_detects_every_frame_while_it_keeps_up_and_less_often_when_not():
    from facerec.video.loop import AUTO, MAX_AUTO_DETECT_EVERY, DetectionSchedule

    fast = DetectionSchedule(AUTO, 25.0)  # 40 ms per frame
    for _ in range(10):
        assert fast.due(1)
        fast.record(True, 0.030)
    assert fast.every() == 1
    slow = DetectionSchedule(AUTO, 25.0)
    slow.record(True, 0.100)  # a detection frame costs 100 ms, a tracking frame 10 ms: (100 + 10 (k-1)) / k <= 40
    for _ in range(20):
        slow.record(False, 0.010)
    assert slow.every() == 3
    slow.record(True, 0.100)
    pattern = []
    for n in range(1, 7):
        pattern.append(slow.due(n))
        slow.record(pattern[-1], 0.100 if pattern[-1] else 0.010)
    assert pattern == [False, False, True, False, False, True]
    hopeless = DetectionSchedule(AUTO, 25.0)
    hopeless.record(True, 1.0)
    hopeless.record(False, 0.5)
    assert hopeless.every() == MAX_AUTO_DETECT_EVERY
    assert [DetectionSchedule(3, 25.0).due(n) for n in range(4)] == [True, False, False, True]


def test_fps_is_the_processed_rate_over_a_sliding_window(monkeypatch):
    import facerec.video.loop as webcam

    clock = iter([0.0, 0.001, 0.1, 0.101, 0.2, 0.201] + [0.3 + 0.1 * i for i in range(40)])
    monkeypatch.setattr(webcam.time, "monotonic", lambda: next(clock))
    meter = webcam._FpsMeter(window_s=2.0)
    rates = [meter.tick() for _ in range(46)]
    assert rates[1] == pytest.approx(1000.0)  # two frames 1 ms apart, nothing else known yet
    assert rates[5] == pytest.approx(5 / 0.201)  # not 1000: six frames in 0.2 s
    assert rates[-1] == pytest.approx(10.0, rel=0.06)  # steady 10 frames per second


@pytest.mark.slow
def test_empty_gallery_runs_detection_only_and_saves_one_crop_per_unknown_face(obama_biden_clip, tmp_path, capsys):
    unknown_dir, video = tmp_path / "unknown", tmp_path / "annotated.mp4"
    code = main(["webcam", "--source", str(obama_biden_clip), "--headless", "--gallery", str(tmp_path / "none.sqlite"),
                 "--detect-every", "4", "--save-unknown", str(unknown_dir), "--record", str(video)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nobody enrolled" in err and not (tmp_path / "none.sqlite").exists()  # a gallery is not created
    appeared = [d for d in json_lines(out) if d["event"] == APPEARED]
    assert [d["name"] for d in appeared] == ["unknown", "unknown"]
    crops = sorted(unknown_dir.glob("*.png"))
    assert len(crops) == 2 and all(f"_track{d['track']}.png" in " ".join(c.name for c in crops) for d in appeared)
    crop = cv2.imread(str(crops[0]))
    assert crop is not None and 60 < crop.shape[0] < 300  # a face with a margin, not the whole frame
    recorded = cv2.VideoCapture(str(video))
    assert recorded.get(cv2.CAP_PROP_FRAME_COUNT) == 50
    recorded.release()


@pytest.mark.slow
def test_hamilton_clip_names_the_two_enrolled_musicians(shared_faces, dlib_pipeline, tmp_path, capsys):
    """The clip face_recognition's video example uses, with the two people its example enrolls."""
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    base = shared_faces / "face_recognition"
    people = tmp_path / "people"
    for person, photo in [("Lin_Manuel_Miranda", "lin-manuel-miranda.png"), ("Alex_Lacamoire", "alex-lacamoire.png")]:
        (people / person).mkdir(parents=True)
        (people / person / photo).write_bytes((base / person / photo).read_bytes())
    gallery = tmp_path / "gallery.sqlite"
    with Gallery(gallery) as g:
        enroll_folder(people, g, dlib_pipeline, progress=False)
    clip = str(base / "_video" / "short_hamilton_clip.mp4")

    def appeared(*options: str) -> list[str]:
        code = main(["webcam", "--source", clip, "--headless", "--gallery", str(gallery), "--max-frames", "60",
                     "--detect-every", "3", *options])
        out, err = capsys.readouterr()
        assert code == 0, err
        return sorted(d["name"] for d in json_lines(out) if d["event"] == APPEARED)

    # At the verify threshold (face_recognition's example is as lenient) both are named from one photo each.
    assert set(appeared("--threshold", "0.0858")) == {"Alex_Lacamoire", "Lin_Manuel_Miranda"}
    # The default identify threshold (a false-accept rate of 1e-4) names nobody wrongly: Alex's blurry
    # 24-190 px video faces are 0.07-0.10 from his one enrolled photo, so he may stay unknown.
    named = [n for n in appeared() if n != "unknown"]
    assert "Lin_Manuel_Miranda" in named and set(named) <= {"Lin_Manuel_Miranda", "Alex_Lacamoire"}


# ---- sources that cannot be opened --------------------------------------------------------------------


def test_missing_video_file_is_a_clear_error(tmp_path, capsys):
    code = main(["webcam", "--headless", "--source", str(tmp_path / "nope.mp4")])
    assert code == EXIT_BAD_INPUT
    assert f"video file not found: {tmp_path / 'nope.mp4'}" in capsys.readouterr().err


def test_camera_that_cannot_be_opened_is_a_clear_error(capsys):
    code = main(["webcam", "--headless", "--source", "99"])
    assert code == EXIT_BAD_INPUT
    assert "camera 99 could not be opened: is it connected / in use" in capsys.readouterr().err


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    with pytest.raises(SourceError, match="video file could not be read"):
        open_source(str(bogus))


@pytest.mark.skipif(gui_unavailable_reason() is None, reason="this OpenCV can show windows")
def test_window_without_gui_support_says_use_headless(obama_biden_clip, capsys):
    code = main(["webcam", "--source", str(obama_biden_clip)])
    assert code != 0
    assert "--headless" in capsys.readouterr().err


# ---- sources and the loop, with a stand-in pipeline ---------------------------------------------------


def test_sources_are_parsed_by_shape():
    assert parse_source("0").kind == "camera" and parse_source("0").target == 0
    assert parse_source(2).target == 2
    assert parse_source("rtsp://cam.local/stream").kind == "stream"
    assert parse_source("clip.mp4").kind == "file"
    assert not parse_source("clip.mp4").live and parse_source("http://x/y").live
    assert redact_url("rtsp://admin:hunter2@10.0.0.5/live") == "rtsp://admin:***@10.0.0.5/live"
    assert "hunter2" not in parse_source("rtsp://admin:hunter2@10.0.0.5/live").describe()


class BoxPipeline:
    """Stand-in for FacePipeline: 'finds' the bright square the clip below draws, and records image sizes."""

    def __init__(self):
        self.sizes: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray) -> list[Face]:
        self.sizes.append(image.shape[:2])
        ys, xs = np.nonzero(image[:, :, 0] > 200)
        if len(xs) == 0:
            return []
        x, y, w, h = int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
        return [Face((x, y, w, h), 0.99, tuple((x + w * a, y + h * b) for a, b in
                                               [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]))]

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return np.ones((len(faces), 4), dtype=np.float32) / 2


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory) -> Path:
    """1 s with a white square, 1 s without, at 10 fps, 1280x720 (to exercise the detection downscale)."""
    path = tmp_path_factory.mktemp("square") / "square.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (1280, 720))
    for i in range(20):
        frame = np.zeros((720, 1280, 3), dtype=np.uint8)
        if i < 10:
            frame[200:400, 300 + 4 * i:500 + 4 * i] = 255
        writer.write(frame)
    writer.release()
    return path


def test_loop_detects_every_k_frames_on_a_downscaled_copy_and_maps_boxes_back(square_clip):
    pipeline, frames, events = BoxPipeline(), [], []
    stats = run_loop(str(square_clip), pipeline, None, detect_every=3, detect_width=640,
                     on_frame=frames.append, on_event=lambda e, r: events.append(e))
    assert stats.frames == 20 and stats.dropped == 0 and stats.ended == "end of video"
    assert stats.detections == 7 and [f.detected for f in frames[:4]] == [True, False, False, True]
    assert set(pipeline.sizes) == {(360, 640)}
    x, y, w, h = frames[0].tracks[0].box
    assert abs(x - 300) <= 4 and abs(y - 200) <= 4 and abs(w - 200) <= 6 and abs(h - 200) <= 6
    assert [f.frame.ts for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
    assert [(e.kind, e.name) for e in events] == [(APPEARED, "unknown"), (LEFT, "unknown")]
    assert stats.embeddings == 0  # nobody enrolled: no embedding at all


def test_loop_stops_on_max_frames_on_request_and_on_ctrl_c_cleanly(square_clip):
    assert run_loop(str(square_clip), BoxPipeline(), None, max_frames=5).frames == 5

    stop_at_4 = run_loop(str(square_clip), BoxPipeline(), None, on_frame=lambda r: r.frame.index < 3)
    assert stop_at_4.ended == "stopped" and stop_at_4.frames == 4

    events = []

    def interrupt(result):
        if result.frame.index == 6:
            raise KeyboardInterrupt

    stats = run_loop(str(square_clip), BoxPipeline(), None, on_frame=interrupt, detect_every=1,
                     on_event=lambda e, r: events.append(e.kind))
    assert stats.ended == "interrupted" and stats.frames == 7  # frames 0-6 were processed
    assert events == [APPEARED, LEFT]  # the open appearance is still closed


def test_realtime_file_playback_drops_frames_when_processing_is_slow(square_clip):
    import time

    frames = []

    def slow(result):
        frames.append(result.frame.index)
        time.sleep(0.25)  # 4 fps of processing for a 10 fps video

    stats = run_loop(str(square_clip), BoxPipeline(), None, realtime=True, on_frame=slow)
    assert stats.dropped > 5 and stats.frames + stats.dropped == stats.last_index + 1 <= 20
    assert frames == sorted(frames) and max(np.diff(frames)) >= 2


def test_video_source_reads_every_frame_with_video_time(square_clip):
    video = open_video(str(square_clip))
    frames = list(video.frames())
    video.close()
    assert isinstance(video, VideoSource) and video.size == (1280, 720) and video.fps == pytest.approx(CLIP_FPS)
    assert [f.index for f in frames] == list(range(20)) and frames[-1].ts == pytest.approx(1.9)


# ---- small pieces ------------------------------------------------------------------------------------


def test_scale_face_and_detect_downscaled_without_resizing_small_frames():
    face = Face((10, 20, 30, 40), 0.9, ((1.0, 2.0),) * 5)
    assert scale_face(face, 2.0).box == (20, 40, 60, 80) and scale_face(face, 2.0).landmarks[0] == (2.0, 4.0)
    pipeline = BoxPipeline()
    detect_downscaled(pipeline, np.zeros((240, 320, 3), np.uint8), 640)
    assert pipeline.sizes == [(240, 320)]


def test_saved_face_crops_are_square_with_grey_beyond_the_edge():
    from facerec.vision.align import face_crop

    image = np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
    inside = face_crop(image, (40, 40, 20, 20), margin=0.25)
    assert inside.shape == (30, 30, 3) and (inside == image[35:65, 35:65]).all()
    corner = face_crop(image, (0, 0, 20, 20), margin=0.5)
    assert corner.shape == (40, 40, 3) and (corner[:10, :10] == 128).all() and (corner[10:, 10:] == image[:30, :30]).all()


def test_json_lines_print_events_and_detection_frames_only(tmp_path):
    import io

    stream = io.StringIO()
    out = JsonLinesOutput(stream)
    from facerec.video.sources import Frame

    view = TrackView(3, (1, 2, 3, 4), "ann", 0.91234, True, True, distance=0.01234)
    held = TrackView(3, (1, 2, 3, 4), "ann", 0.91234, True, False)
    image = np.zeros((4, 4, 3), np.uint8)
    out.on_frame(FrameResult(Frame(9, 0.3, image), image, [view], True, 10.0))
    out.on_frame(FrameResult(Frame(10, 0.4, image), image, [held], False, 10.0))
    out.on_event(TrackEvent(APPEARED, 3, "ann", 0.9, 9, 0.3, 0.0, 0.3, (1, 2, 3, 4)), None)
    lines = json_lines(stream.getvalue())
    assert [d["event"] for d in lines] == ["face", "appeared"]
    # a face line is a FaceResult (as identify --json and tag --jsonl) with the video's fields
    assert lines[0] == {"ts": 0.3, "frame": 9, "event": "face", "face_index": 0, "name": "ann", "score": 0.9123,
                        "distance": 0.0123, "box": [1, 2, 3, 4], "confidence": 0.0, "named_by": "facerec",
                        "probability": None, "track": 3, "settled": True, "detected": True, "fps": 10.0}
    assert lines[1]["first_ts"] == 0.0 and "time" in lines[1]


def test_unknown_face_saver_keeps_one_crop_per_track(tmp_path):
    from facerec.video.sources import Frame

    saver = UnknownFaceSaver(tmp_path / "unknown")
    image = np.full((100, 100, 3), 128, np.uint8)
    result = FrameResult(Frame(5, 0.5, image), image, [], True, 10.0)
    unknown = TrackEvent(APPEARED, 7, "unknown", 0.2, 5, 0.5, 0.4, 0.5, (40, 40, 20, 20))
    saver.on_event(unknown, result)
    saver.on_event(unknown, result)
    saver.on_event(TrackEvent(APPEARED, 8, "ann", 0.9, 5, 0.5, 0.4, 0.5, (10, 10, 20, 20)), result)
    assert [p.name.endswith("_track7.png") for p in saver.saved] == [True]
    assert cv2.imread(str(saver.saved[0])).shape == (30, 30, 3)


def test_facerec_error_for_a_record_folder_that_does_not_exist(tmp_path):
    from facerec.video.outputs import VideoRecorder

    with pytest.raises(FacerecError, match="does not exist"):
        VideoRecorder(tmp_path / "missing" / "out.mp4", 25.0)


# ---- live sources that fail mid-run (a stand-in capture: there is no camera here) -----------------------


class FlakyCapture:
    """Delivers `frames` frames, then fails every read, like an unplugged camera or a dropped stream."""

    def __init__(self, frames: int):
        self.left = frames
        self.released = False

    def read(self):
        import time

        if self.left > 0:
            self.left -= 1
            time.sleep(0.01)
            frame = np.zeros((120, 160, 3), np.uint8)
            frame[30:90, 40:100] = 255
            return True, frame
        return False, None

    def release(self) -> None:
        self.released = True


def live_source(square_clip: Path, kind: str, target, capture: FlakyCapture) -> VideoSource:
    from facerec.video.sources import SourceSpec

    video = VideoSource(str(square_clip))
    video.cap.release()
    video.cap, video.spec, video.finite, video.latest_only = capture, SourceSpec(kind, target), False, True
    return video


def test_a_camera_that_disappears_ends_the_run_with_a_clear_message(square_clip):
    capture, events = FlakyCapture(40), []  # 0.4 s: long enough for the face to settle (2 votes 0.2 s apart)
    video = live_source(square_clip, "camera", 0, capture)
    stats = run_loop(video, BoxPipeline(), None, detect_every=1, on_event=lambda e, r: events.append(e.kind))
    assert stats.ended == "source lost" and stats.lost == "camera 0 stopped delivering frames (disconnected?)"
    assert 1 <= stats.frames <= 40 and capture.released
    assert events == [APPEARED, LEFT]  # the appearance in progress is closed


def test_a_dropped_stream_is_reconnected_with_backoff_then_given_up(square_clip, monkeypatch):
    import facerec.video.sources as webcam

    reopened = [FlakyCapture(6)]

    def reopen(spec):
        if reopened:
            return reopened.pop()
        raise SourceError("stream could not be opened")

    video = live_source(square_clip, "stream", "rtsp://user:pw@cam/live", FlakyCapture(6))
    monkeypatch.setattr(webcam, "_open_capture", reopen)
    monkeypatch.setattr(webcam, "RECONNECT_FIRST_DELAY_S", 0.01)
    stats = run_loop(video, BoxPipeline(), None)
    assert video.reconnections == 1
    assert stats.ended == "source lost"
    assert stats.lost == f"stream rtsp://user:***@cam/live was lost and {webcam.RECONNECT_ATTEMPTS} reconnection attempts failed"
    assert stats.last_index >= 6  # frames from after the reconnection were processed


# ---- --record: the output-path rule -------------------------------------------------------------------


@pytest.fixture
def source_copy(square_clip, tmp_path) -> Path:
    copy = tmp_path / "source.mp4"
    copy.write_bytes(square_clip.read_bytes())
    return copy


def record_refused(args: list[str], capsys) -> str:
    code = main(["webcam", "--headless", "--gallery", "none.sqlite", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_record_never_replaces_its_own_source_even_through_a_link(source_copy, tmp_path, capsys, overwrite):
    """`webcam --source clip.mp4 --record clip.mp4` used to overwrite the clip (613,928 -> 52,411 bytes, exit 0)."""
    before = source_copy.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(source_copy)
    for target in (source_copy, link):
        err = record_refused(["--source", str(source_copy), "--record", str(target), *overwrite], capsys)
        assert "is the video being read" in err
    assert source_copy.read_bytes() == before and link.is_symlink()


def test_record_never_replaces_an_existing_file_without_overwrite(source_copy, tmp_path, capsys):
    photo, video = tmp_path / "holiday.jpg", tmp_path / "earlier.mp4"
    photo.write_bytes(b"\xff\xd8 a photo")
    video.write_bytes(b"an earlier recording")
    assert "already exists" in record_refused(["--source", str(source_copy), "--record", str(video)], capsys)
    assert "--overwrite" in record_refused(["--source", str(source_copy), "--record", str(video)], capsys)
    err = record_refused(["--source", str(source_copy), "--record", str(photo), "--overwrite"], capsys)
    assert "image extension" in err
    assert photo.read_bytes() == b"\xff\xd8 a photo" and video.read_bytes() == b"an earlier recording"


def test_recorder_writes_beside_the_target_and_names_it_only_when_closed(tmp_path):
    from facerec.video.outputs import VideoRecorder

    target = tmp_path / "out.mp4"
    recorder = VideoRecorder(target, 10.0)
    frame = np.zeros((64, 96, 3), np.uint8)
    for i in range(5):
        recorder.write(frame, i / 10)
    assert not target.exists() and len(list(tmp_path.iterdir())) == 1  # only the temporary file, beside it
    recorder.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    recorded = cv2.VideoCapture(str(target))
    assert recorded.get(cv2.CAP_PROP_FRAME_COUNT) == 5
    recorded.release()


def test_recorder_does_not_replace_a_file_that_appeared_meanwhile_unless_told(tmp_path):
    from facerec.video.outputs import VideoRecorder

    target, frame = tmp_path / "out.mp4", np.zeros((64, 96, 3), np.uint8)
    recorder = VideoRecorder(target, 10.0)
    recorder.write(frame, 0.0)
    target.write_bytes(b"someone else's")
    with pytest.raises(FacerecError, match="appeared while recording"):
        recorder.close()
    assert target.read_bytes() == b"someone else's"
    replacing = VideoRecorder(target, 10.0, overwrite=True)
    replacing.write(frame, 0.0)
    replacing.close()
    assert target.read_bytes() != b"someone else's"
