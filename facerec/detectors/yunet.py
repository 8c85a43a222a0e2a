"""YuNet (OpenCV Zoo, MIT licence) as a registry entry, run by OpenCV's `cv2.FaceDetectorYN`.

The model, `face_detection_yunet_2023mar.onnx` (232,589 bytes), is downloaded once into facerec's weights cache
and checked against its pinned SHA-256 before use; offline (FACEREC_OFFLINE=1, or no network) the error says where
to put the file (exit 4), as for VGGFace's weights. YuNet gives a box, a score and the 5 landmarks MTCNN gives
(eyes, nose tip, mouth corners), so alignment needs nothing else.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import cv2
import numpy as np

from facerec.errors import WeightsError
from facerec.types import Face

FILENAME = "face_detection_yunet_2023mar.onnx"
SIZE = 232_589
SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
URL = ("https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
       "face_detection_yunet_2023mar.onnx")
NATIVE_MIN_FACE = 10  # YuNet's smallest anchors (stride 8) find faces from ~10 px
MAX_UPSCALE = 2.0
SCORE_THRESHOLD = 0.9  # as MTCNN's final confidence here
RELAXED_SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
_lock = threading.Lock()


def build(name: str = "yunet", min_face_size: int = 20, max_side: int = 1280, score_threshold: float = SCORE_THRESHOLD,
          model: str | Path | None = None) -> "YuNetDetector":
    return YuNetDetector(min_face_size=min_face_size, max_side=max_side, score_threshold=score_threshold, model=model)


def relaxed(detector: "YuNetDetector") -> "YuNetDetector":
    copied = copy.copy(detector)
    copied.score_threshold = min(detector.score_threshold, RELAXED_SCORE_THRESHOLD)
    return copied


def cache_path() -> Path:
    from facerec.paths import weights_cache_dir

    return weights_cache_dir() / FILENAME


def weights_status(name: str = "yunet") -> dict:
    from facerec.backbones.weights import find_local_weights

    path = find_local_weights(FILENAME)
    present = path is not None and path.stat().st_size == SIZE
    return {"present": present, "weights": str(path) if present else f"downloaded on first use to {cache_path()}"}


def model_path() -> Path:
    """The verified model file: found where VGGFace's weights are looked for (FACEREC_WEIGHTS_DIR, the weights
    cache, FACEREC_HOME, models/), else downloaded once into the cache (unless offline), else a clear error."""
    from facerec import paths
    from facerec.backbones.weights import find_local_weights, keras_download
    from facerec.files.atomic import file_sha256

    with _lock:
        path = find_local_weights(FILENAME)
        downloaded = path is None
        if path is None:
            if paths.offline():
                raise WeightsError(missing_message(cache_path(), "FACEREC_OFFLINE is set"))
            try:
                path = keras_download(FILENAME, URL, cache_path().parent)
            except Exception as error:  # DNS, HTTP, disk: the same actionable message
                raise WeightsError(missing_message(cache_path(), f"{type(error).__name__}: {error}")) from error
        found = file_sha256(path)
        if found != SHA256:
            if downloaded:  # what we fetched ourselves is not kept; a file someone copied there is never deleted
                path.unlink(missing_ok=True)
            raise WeightsError(f"{path} is not YuNet's {FILENAME} (SHA-256 {found}, expected {SHA256}); "
                               + ("the download was not kept" if downloaded else
                                  "delete it and run again to download it, or copy the right file there"))
    return path


def missing_message(path: Path, reason: str) -> str:
    return (f"the yunet detector needs {FILENAME} ({SIZE:,} bytes) and could not get it ({reason}).\n"
            f"Download it on a machine with network access from\n  {URL}\n"
            f"and copy it to\n  {path}\n"
            f"(SHA-256 {SHA256}), or choose another detector (--detector mtcnn).")


class YuNetDetector:
    name = "yunet"

    def __init__(self, min_face_size: int = 20, max_side: int = 1280, score_threshold: float = SCORE_THRESHOLD,
                 model: str | Path | None = None):
        if min_face_size < 1:
            raise ValueError("min_face_size must be >= 1 pixel")
        self.min_face_size = min_face_size
        self.max_side = int(max_side)
        self.score_threshold = float(score_threshold)
        self.model = Path(model) if model is not None else None  # None: the verified download
        self._lock = threading.Lock()
        self._network = None

    def network(self):
        """OpenCV's FaceDetectorYN on the model (its input size set per image in `run`)."""
        if self._network is None:
            path = self.model or model_path()
            self._network = cv2.FaceDetectorYN.create(str(path), "", (320, 320), self.score_threshold, NMS_THRESHOLD,
                                                      5000)
        return self._network

    def detection_scale(self, height: int, width: int) -> float:
        return min(NATIVE_MIN_FACE / self.min_face_size, self.max_side / max(height, width), MAX_UPSCALE)

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = self.detection_scale(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rows = self.run(cv2.cvtColor(np.ascontiguousarray(scaled[:, :, :3]), cv2.COLOR_RGB2BGR))
        faces = [face for face in (self.to_face(row, scale, image.shape) for row in rows) if face is not None]
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces

    def run(self, bgr: np.ndarray) -> np.ndarray:
        """FaceDetectorYN's rows: x, y, w, h, 5 landmark (x, y) pairs (right eye of the subject first), score."""
        with self._lock:
            network = self.network()
            network.setInputSize((bgr.shape[1], bgr.shape[0]))
            network.setScoreThreshold(self.score_threshold)
            _, rows = network.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else rows

    def to_face(self, row: np.ndarray, scale: float, shape: tuple[int, ...]) -> Face | None:
        h, w = shape[:2]
        x, y, bw, bh = (float(v) / scale for v in row[:4])
        x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
        x1, y1 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
        if min(x1 - x0, y1 - y0) < max(1, 0.8 * self.min_face_size):
            return None
        points = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2) / scale
        # YuNet: the subject's right eye (image left), left eye, nose tip, right and left mouth corners: MTCNN's order
        landmarks = tuple((float(px), float(py)) for px, py in points)
        return Face((x0, y0, x1 - x0, y1 - y0), float(row[14]), landmarks)
