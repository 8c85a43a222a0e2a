"""Face detection with MTCNN (the `mtcnn` package's shipped weights), returning typed `Face` results.

The networks run through facerec.vision.mtcnn_fast (the package's weights and arithmetic without its per-call
TensorFlow overhead; RNet and ONet batched over every candidate of every image in a call). The package
itself stays available as ``engine="reference"`` for comparison (tests/vision/test_detect.py, scripts/bench_detect.py).

The pyramid starts at the smallest face requested: the image is scaled so that `min_face_size` becomes
MTCNN's native 20 px (a downscale for larger minimum faces, which is also faster), capped by `max_side`
for large photos, and boxes are mapped back. (mtcnn 1.0.0's own `min_face_size` option raises or finds
nothing for some values on Keras 3, and scaling the image gives the same pyramid.)
"""
from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from facerec.device import quiet_tensorflow, tensorflow_device
from facerec.types import LANDMARK_NAMES, Face

log = logging.getLogger(__name__)

MTCNN_NATIVE_MIN_FACE = 20  # the value mtcnn 1.0.0 is reliable at
MAX_UPSCALE = 2.0  # looking for faces smaller than 10 px would need a bigger image than is sensible
# MTCNN's per-stage confidence thresholds (PNet proposals, RNet refinement, ONet output): mtcnn's defaults.
DEFAULT_STAGE_THRESHOLDS = (0.6, 0.7, 0.8)


PNET_INPUT = 12  # PNet's window: a smaller image cannot hold a face
_shared: dict[str, object] = {}
_shared_lock = threading.Lock()


def shared_mtcnn(engine: str):
    """One set of networks per engine per process (they are read-only; building them costs ~1 s)."""
    with _shared_lock:
        if engine not in _shared:
            if engine == "reference":
                quiet_tensorflow()
                from mtcnn import MTCNN

                _shared[engine] = MTCNN(device=tensorflow_device())
            else:
                from facerec.vision.mtcnn_fast import FastMTCNN

                _shared[engine] = FastMTCNN(engine)
        return _shared[engine]


def package_style(row: np.ndarray) -> dict:
    """A facerec.vision.mtcnn_fast row as the package's JSON (box rounded the same way; landmarks kept as floats)."""
    x1, y1, x2, y2, confidence = (float(v) for v in row[:5])
    box = [round(x1), round(y1), round(x2 - x1), round(y2 - y1)]
    keypoints = {name: (float(row[5 + i]), float(row[10 + i])) for i, name in enumerate(LANDMARK_NAMES)}
    return {"box": box, "confidence": confidence, "keypoints": keypoints}


class Detector:
    """MTCNN detector. `min_face_size` in pixels of the original image; `max_side` bounds the detection resolution."""

    name = "mtcnn"  # its registry name (facerec.detectors)

    def __init__(
        self,
        min_face_size: int = 20,
        max_side: int = 1280,
        min_confidence: float = 0.9,
        stage_thresholds: tuple[float, float, float] = DEFAULT_STAGE_THRESHOLDS,
        engine: str = "auto",
    ):
        if min_face_size < 1:
            raise ValueError("min_face_size must be >= 1 pixel")
        self.min_face_size = int(min_face_size)
        self.max_side = int(max_side)
        self.min_confidence = float(min_confidence)
        self.stage_thresholds = tuple(float(t) for t in stage_thresholds)
        self.engine = engine  # "auto", "tf", "onnx" (facerec.vision.mtcnn_fast) or "reference" (the mtcnn package)
        self._mtcnn = None
        self._lock = threading.Lock()  # one MTCNN per detector, used from one thread at a time

    @property
    def mtcnn(self):
        """The networks, built on first use (shared by every detector with the same engine)."""
        if self._mtcnn is None:
            self._mtcnn = shared_mtcnn(self.engine)
        return self._mtcnn

    def detection_scale(self, height: int, width: int) -> float:
        """Factor applied to the image before MTCNN: maps min_face_size to 20 px, capped by max_side."""
        scale = MTCNN_NATIVE_MIN_FACE / self.min_face_size
        scale = min(scale, self.max_side / max(height, width), MAX_UPSCALE)
        return scale

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect in several RGB uint8 images. Images of equal detection size run as one MTCNN batch."""
        scaled, scales = zip(*(self.scaled_for_detection(img) for img in images)) if images else ((), ())
        results: list[list[Face]] = [[] for _ in images]
        if self.engine == "reference":  # the package batches only images of one size
            groups: dict[tuple[int, int], list[int]] = {}
            for i, img in enumerate(scaled):
                groups.setdefault(img.shape[:2], []).append(i)
        else:
            groups = {(0, 0): [i for i, img in enumerate(scaled) if min(img.shape[:2]) >= PNET_INPUT]}
        for indices in groups.values():
            if not indices:
                continue
            raw = self.run_mtcnn([scaled[i] for i in indices])
            for i, faces in zip(indices, raw):
                results[i] = self.to_faces(faces, scales[i], images[i].shape)
        return results

    def detect_reduced(self, image: np.ndarray, scale: float, full_shape: tuple[int, ...]) -> list[Face]:
        """Faces of a photo of `full_shape` (height, width) given as `image`, a copy of it at `scale` (a JPEG
        decoded at 1/4, say): what detect() finds on the full photo, in the full photo's pixels, when `image`
        is at least as fine as detection needs (detection_scale of the full shape)."""
        if abs(scale - 1.0) < 1e-9 and image.shape[:2] == tuple(full_shape[:2]):
            return self.detect(image)
        height, width = full_shape[:2]
        detection_scale = self.detection_scale(height, width)
        size = (max(1, round(width * detection_scale)), max(1, round(height * detection_scale)))
        interpolation = cv2.INTER_AREA if size[0] < image.shape[1] else cv2.INTER_LINEAR
        scaled = cv2.resize(image, size, interpolation=interpolation)
        return self.to_faces(self.run_mtcnn([scaled])[0], detection_scale, full_shape)

    def scaled_for_detection(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        scale = self.detection_scale(h, w)
        if abs(scale - 1.0) < 1e-3:
            return image, 1.0
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return cv2.resize(image, size, interpolation=interpolation), scale

    def run_mtcnn(self, images: list[np.ndarray]) -> list[list[dict]]:
        if min(min(img.shape[:2]) for img in images) < PNET_INPUT:  # smaller images cannot hold a face
            return [[] for _ in images]
        if self.engine != "reference":
            found = self.mtcnn.detect(images, MTCNN_NATIVE_MIN_FACE, self.stage_thresholds)
            return [[package_style(row) for row in rows] for rows in found]
        with self._lock:
            try:
                pnet, rnet, onet = self.stage_thresholds
                out = self.mtcnn.detect_faces(
                    list(images) if len(images) > 1 else images[0],
                    threshold_pnet=pnet, threshold_rnet=rnet, threshold_onet=onet,
                )
            except (ValueError, IndexError) as e:  # mtcnn raises on some degenerate inputs instead of returning []
                log.debug("mtcnn found nothing (%s)", e)
                return [[] for _ in images]
        if len(images) == 1:
            return [out]
        return out if out else [[] for _ in images]

    def to_faces(self, raw: list[dict], scale: float, shape: tuple[int, ...]) -> list[Face]:
        h, w = shape[:2]
        faces = []
        for d in raw:
            if d["confidence"] < self.min_confidence:
                continue
            x, y, bw, bh = (v / scale for v in d["box"])
            x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
            x1, y1 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
            if min(x1 - x0, y1 - y0) < min(self.min_face_size, max(1, 0.8 * self.min_face_size)):
                continue
            kp = d["keypoints"]
            landmarks = tuple((float(kp[n][0]) / scale, float(kp[n][1]) / scale)
                              for n in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right"))
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), float(d["confidence"]), landmarks))
        faces.sort(key=lambda f: (f.box[0], f.box[1]))  # stable reading order: left to right
        return faces
