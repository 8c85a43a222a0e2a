"""What the live loop's results can feed: JSON lines, a window, a recording, saved unknown faces."""
from __future__ import annotations

import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerec.errors import EXIT_USAGE, FacerecError, MissingExtraError
from facerec.video.track import APPEARED, RENAMED, TrackEvent
from facerec.vision.align import face_crop
from facerec.types import UNKNOWN, Face
from facerec.video.loop import FrameResult
from facerec.video.sources import FALLBACK_FPS


class DisplayError(FacerecError):
    """A window was asked for where none can be shown."""

    exit_code = EXIT_USAGE


def wall_clock() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class JsonLinesOutput:
    """One JSON object per line on `stream`: events always, `face` lines on detection frames (or every frame).

Each face is a FaceResult.to_dict() (as `identify --json` and `tag --jsonl`) with the video's fields around it:
    {"ts": 1.2, "frame": 36, "event": "face", "face_index": 0, "name": "Alice", "score": 0.93, "distance": 0.012,
     "box": [x, y, w, h], "confidence": 0.99, "probability": null, "track": 3, "settled": true, "detected": true,
     "fps": 24.8}
     (score: the match confidence, 0.67 at the threshold; distance: of the vote that named the track)
     (name "unknown" until the track is identified, `settled` once announced; fps: processed, last 2 s)
    {"ts": 1.2, "frame": 36, "event": "appeared", ..., "name": "Alice", "score": 0.93, "track": 3,
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
    from facerec.album.annotate import draw_faces

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
    even when frames were dropped. The video is written to a temporary file beside `path` and renamed to it by
    close(): a crash never leaves half a file under the name, and without `overwrite` no existing file is replaced."""

    def __init__(self, path: str | Path, fps: float | None, overwrite: bool = False):
        self.path = Path(path)
        if not self.path.parent.exists():
            raise FacerecError(f"cannot record to {self.path}: folder {self.path.parent} does not exist")
        self.fps = fps if fps and fps > 0 else FALLBACK_FPS
        self.overwrite = overwrite
        self._writer: cv2.VideoWriter | None = None
        self._temporary: Path | None = None
        self._first_ts: float | None = None
        self.written = 0

    def write(self, bgr: np.ndarray, ts: float) -> None:
        if self._writer is None:
            self._open(*bgr.shape[:2])
            self._first_ts = ts
        due = int(round((ts - self._first_ts) * self.fps)) + 1
        repeats = min(max(1, due - self.written), int(self.fps * 2))  # at most 2 s of a frozen frame
        for _ in range(repeats):
            self._writer.write(bgr)
        self.written += repeats

    def _open(self, height: int, width: int) -> None:
        import tempfile

        # the suffix stays last: OpenCV picks the container from it
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp" + self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self._temporary = Path(tmp)
        self._writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        if not self._writer.isOpened():
            self._discard()
            raise FacerecError(f"cannot record to {self.path}: OpenCV could not open an mp4v writer")

    def close(self) -> None:
        """Finish the video and give it its name (also after Ctrl-C: that is how a live recording ends)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        tmp, self._temporary = self._temporary, None
        if self.overwrite:
            os.replace(tmp, self.path)
            return
        try:
            os.link(tmp, self.path)  # unlike rename, never replaces a file that appeared meanwhile
        except FileExistsError:
            raise FacerecError(f"{self.path} appeared while recording and was not replaced; the recording is "
                               f"in {tmp}") from None
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(self.path):
                raise FacerecError(f"{self.path} appeared while recording and was not replaced; the recording is "
                                   f"in {tmp}") from None
            os.replace(tmp, self.path)
            return
        os.unlink(tmp)

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


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
        from facerec.album.annotate import save_image

        crop = face_crop(result.rgb, event.box, margin=self.margin)
        name = f"{datetime.now():%Y%m%d-%H%M%S}_track{event.track_id}.png"
        self.saved.append(save_image(self.folder / name, crop))
        self._done.add(event.track_id)


def describe_devices(backbone: str) -> str:
    """Where detection and embedding run, e.g. "MTCNN on CPU:0, dlib on CPU (dlib)" (the registry entry says)."""
    from facerec.backbones import entry
    from facerec.device import tensorflow_device

    return f"MTCNN on {tensorflow_device()}, {backbone} on {entry(backbone).device_name()}"
