"""MTCNN with the `mtcnn` package's own weights, minus the call overhead.

The `mtcnn` package (1.0.0) is three small networks (PNet over an image pyramid, RNet and ONet on candidate
crops) driven by eager TensorFlow: every pyramid scale, stage and photo pays for Keras/TensorFlow dispatch,
which is most of its time on a CPU. This module keeps its weights (read from the package's files, nothing
downloaded) and its arithmetic step by step -- the same pyramid, the same box generation, the same
(non-greedy) NMS, the same crop sampling (TensorFlow's crop_and_resize conventions) and the same box and
landmark regression -- and runs the networks through one of three engines:

- ``onnx``: the weights written into an ONNX graph in memory and run by ONNX Runtime (the `onnx` extra);
- ``tf``: the package's own Keras networks as `tf.function` graphs with fixed input signatures
  (PNet any size, RNet N×24×24, ONet N×48×48), so TensorFlow traces each once;
- ``reference`` (in facerec.vision.detect): the `mtcnn` package itself, kept for comparison.

RNet and ONet run on the candidates of every image in the call, in batches of up to 64 crops. ``auto`` picks
``tf`` when TensorFlow runs on a GPU (detection stays on it), else ``onnx`` when onnxruntime is importable,
else ``tf``.

Measured (`python scripts/bench_detect.py --baseline a4c8603 --one-thread`: 8 photos of tests/data fitted into
each frame size, min face 20 px, median of 3 passes, engines in turn; ``onnx@a4c8603`` is this module before
issue 10's second round, ``onnx/1 thread`` today's without the worker thread; 2-core CPU shared with two other
jobs, load average 2.4 -> 2.1, so every figure is inflated; ms per frame, wall (process CPU)):

    engine           640x480         1280x960        frames with the package's boxes (IoU >= 0.9)
    reference      143.8 (136.7)   363.3 (416.9)     -
    tf              57.2  (54.6)   121.8 (189.0)     8/8 at both sizes
    onnx@a4c8603    51.9  (48.3)   180.4 (188.2)     8/8 at both sizes
    onnx/1 thread   29.6  (28.2)   119.4 (122.6)     8/8 at both sizes
    onnx            30.7  (30.6)    91.6 (151.1)     8/8 at both sizes

A run at load 3.5 -> 4.4 (both cores busy): onnx 34.0 / 196.9, onnx/1 thread 36.6 / 213.1, onnx@a4c8603
56.4 / 277.0, reference 177.7 / 558.5.
Every engine finds the same 25 of the 25 VOC faces of ../shared/faces/dlib/_group. On all 195 photos of
tests/data and ../shared/faces (Detector defaults) the onnx engine's boxes are identical to a4c8603's, face
for face (landmarks within 0.004 px, confidences within 6e-6), checked with a script run beside the
benchmark, not kept. On the same quiet machine at the start of the work (load 0.5) a4c8603 took 50.9 ms at
640x480; the frames' median lies between kit_1/rose_1 (~25-30 ms with one thread) and noface_017 (~37 ms).

Where the time went and what was done (each step keeps the rows; timings at 640x480, single runs on the shared
CPU, minimum of 20-40 repeats):

- ONNX Runtime's PRelu with per-channel slopes broadcasts slowly and forces layout reorders around it: half
  of RNet's time, a third of PNet's. PReLU(z) = Relu(z) + (-slope)·Relu(-z), with the scalings as
  BatchNormalization (epsilon 0), is bit for bit the same and stays in ONNX Runtime's blocked NCHWc layout:
  PNet at 384x288 11.7 -> 7.5 ms, RNet on 158 crops 17.7 -> 8.8, ONet on 12 crops 6.7 -> 4.0. (Relu + slope·Min
  was exact too but slower; Where slower than PRelu.)
- MaxPool with auto_pad SAME_UPPER stayed outside the NCHWc layout; explicit end pads (the same windows for
  the sizes met here) keep it inside: PNet 7.5 -> 7.0, RNet 8.8 -> 8.4, ONet 4.0 -> 3.5.
- RNet's first convolution (28 filters) padded with 4 zero filters fills the channel blocks: 9.0 -> 7.2 ms in
  one run, same values. PNet's 10 -> 16 gained nothing (12.4 ms over the pyramid either way).
- PNet's two 1x1 heads as one convolution (the trunk read once): 14.3 -> 13.3 ms over 8 scales, bit-identical.
- PNet's channel Softmax (the whole map transposed twice) replaced by the probability from its two logits in
  numpy: -1.3 ms per frame.
- The pyramid: OpenCV's INTER_AREA reads the whole image for every scale (7.6 ms for the 10 scales); one
  sparse vertical pass for all scales + OpenCV's horizontal pass: 2.4 ms, values within 1e-6. Resizing each
  scale from the previous one instead changed the face count on 4 of the 195 photos: rejected.
- Crops: tf.image.crop_and_resize's sampling with np.take instead of fancy indexing: 6.6 -> 2.9 ms (158 crops).
- NMS: block by block against the boxes within reach along x instead of an n×n matrix: 66 -> 5 ms at 2,000
  boxes (1280x960 frames), the same pairs and arithmetic.
- A second thread: this thread and one worker take PNet's scales (largest first) and the RNet/ONet batches one
  at a time; when the worker gets no core, the calling thread does everything (no waiting on a busy CPU).
  The worker takes ~3.6 of the 10 scales at 640x480; at load 4 (two other busy jobs) the median frame took
  30.0 ms with it and 35.7 ms without (a scheduler shares the CPU per thread), same process CPU time.

Measured and not kept: ONNX Runtime with 2 intra-op threads (allow_spinning 0): on its own a gain only when
the other core is idle, and a barrier on every operator when it is not (per-frame median the same at load 3);
graph optimisation levels below ORT_ENABLE_ALL (the default) are slower (PNet 14.2-17.2 vs 12.2 ms before the
rewrite); set_denormal_as_zero: no change; OpenCV's DNN module on the same ONNX bytes: PNet 9.7 vs 6.7 ms,
ONet 6.7 vs 3.4, and RNet's outputs wrong (its reading of the Transpose before Flatten): no ``cv2`` engine;
PReLU moved after each MaxPool (max of PReLU(max z) and PReLU(min z): bit-identical, a quarter of the
PReLU work) was no faster (PNet 13.9 vs 13.8 ms over the pyramid, RNet 8.3-8.5 vs 7.4, ONet slower: more
operators); PNet on all small scales packed into one canvas (12 px gaps): 2.6 ms vs 1.4 for the separate
calls (the gaps and empty corners cost more than the calls); a table lookup for the normalisation: 0.1 ms;
float16: not tried, it changes boxes.

What remains at 640x480 (cProfile, one thread, the 8 frames): ~65 % ONNX Runtime (PNet ~12.5 ms over the
pyramid, 6.8 of it the 384x288 scale; RNet ~0.05 ms per candidate, ~160 candidates per frame on average,
60-80 on the frames around the median), ~12 % crops, ~8 % pyramid, ~5 % NMS. The rest of PNet is
convolutions (~60 %) and the PReLU's extra passes (~35 %): 30 ms on a frame of few faces needs the second core.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

SCALE_FACTOR = 0.709  # pyramid step, as the package
PNET_CELL, PNET_STRIDE = 12, 2
NMS_PNET_PER_SCALE, NMS_PNET_ALL, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7
ENGINES = ("onnx", "tf")


# ---------------------------------------------------------------- weights

def package_weights_dir() -> Path:
    """The mtcnn package's weight folder, found without importing the package (which imports TensorFlow)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the mtcnn package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "assets" / "weights"


def load_stage_weights(name: str) -> list[np.ndarray]:
    """The package's own weight arrays for 'pnet', 'rnet' or 'onet', in Keras layer order."""
    import joblib  # the package stores its weights with joblib (lz4); these are its files, not user data

    return [np.asarray(w, np.float32) for w in joblib.load(package_weights_dir() / f"{name}.lz4")]


# ---------------------------------------------------------------- the arithmetic of mtcnn 1.0.0, in numpy

def pyramid_scales(height: int, width: int, min_face_size: int = 20, min_size: int = 12) -> list[float]:
    """mtcnn's build_scale_pyramid: scales m·0.709^k, with the package's count formula."""
    count = round(-((math.log(min(height, width) / min_size) / math.log(SCALE_FACTOR)) + 1))
    m = min_size / min_face_size
    return [m * SCALE_FACTOR ** k for k in range(max(count, 0))]


def normalise(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) - 127.5) / 128.0


def resize_area(image: np.ndarray, scale: float) -> np.ndarray:
    """tf.image.resize(..., AREA) with the package's size (shape × scale, truncated)."""
    h, w = image.shape[:2]
    size = (int(w * scale), int(h * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=32)
def area_rows(source: int, targets: tuple[int, ...]):
    """Sparse (sum(targets) × source) matrix of OpenCV's INTER_AREA weights along one axis, one block per
    target size (computeResizeAreaTab: a cell spans source/target rows; slivers under 1e-3 are dropped)."""
    from scipy import sparse

    blocks = []
    for target in targets:
        scale = source / target
        start = np.arange(target) * scale
        end = start + scale
        first = np.ceil(start)
        last = np.minimum(np.floor(end), source - 1)
        first = np.minimum(first, last)
        cell = np.minimum(scale, source - start)
        rows = first[:, None] - 1 + np.arange(int(math.ceil(scale)) + 2)[None]  # every row a cell can touch
        weight = np.where(rows < last[:, None], 1.0, 0.0)  # whole rows inside the cell
        head = np.where(first - start > 1e-3, first - start, 0.0)  # the part of the row before `first`
        weight = np.where(rows == first[:, None] - 1, head[:, None], weight)
        tail = np.where(end - last > 1e-3, np.minimum(np.minimum(end - last, 1.0), cell), 0.0)
        weight = np.where(rows == last[:, None], tail[:, None], weight) / cell[:, None]
        keep = (weight > 0) & (rows >= 0) & (rows < source)
        index = np.nonzero(keep)
        blocks.append(sparse.csr_matrix((weight[keep].astype(np.float32), (index[0], rows[keep].astype(np.int64))),
                                        shape=(target, source)))
    return sparse.vstack(blocks, format="csr")


class AreaPyramid:
    """resize_area(image, s) for every scale, with the same values to ~1e-6.

    OpenCV's INTER_AREA reads the whole image for every scale (~0.8 ms each at 640×480, 17 % of the
    detector's time); area weights are separable, so here one sparse product does the vertical pass of all
    scales at once and OpenCV only the horizontal pass of each level (a third of the time)."""

    def __init__(self, image: np.ndarray, scales: list[float]):
        h, w = image.shape[:2]
        self.sizes = [(int(w * s), int(h * s)) for s in scales]
        heights = tuple(height for _, height in self.sizes)
        self.tops = np.concatenate([[0], np.cumsum(heights)])
        self.columns = (area_rows(h, heights) @ image.reshape(h, -1)).reshape(-1, w, image.shape[2])

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, k: int) -> np.ndarray:
        rows = self.columns[self.tops[k]:self.tops[k + 1]]
        return cv2.resize(rows, self.sizes[k], interpolation=cv2.INTER_AREA)


def boxes_from_pnet(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """generate_bounding_box + upscale_bboxes for one image: rows x1, y1, x2, y2, score (original pixels)."""
    ys, xs = np.nonzero(prob > threshold)
    if len(ys) == 0:
        return np.empty((0, 5), np.float64)
    score = prob[ys, xs].astype(np.float64)
    r = reg[ys, xs].astype(np.float64)
    # the package's cell spans stride·i + 1 .. stride·i + 12, so the regression unit is 11 px
    x1, y1 = xs * PNET_STRIDE + 1, ys * PNET_STRIDE + 1
    x2, y2 = xs * PNET_STRIDE + PNET_CELL, ys * PNET_STRIDE + PNET_CELL
    side = PNET_CELL - 1
    boxes = np.stack([x1 + r[:, 0] * side, y1 + r[:, 1] * side, x2 + r[:, 2] * side, y2 + r[:, 3] * side], axis=1) / scale
    order = np.argsort(score)[::-1]  # as the package: same sort, so ties (scores of 1.0) keep its order
    return np.concatenate([boxes, score[:, None]], axis=1)[order]


def overlap_matrix(a: np.ndarray, b: np.ndarray, method: str = "union") -> np.ndarray:
    """IoU (or intersection over the smaller area, method "min") of every box of `a` with every box of `b`."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inter = np.minimum.outer(a[:, 2], b[:, 2])
    inter -= np.maximum.outer(a[:, 0], b[:, 0])
    np.maximum(inter, 0, out=inter)
    height = np.minimum.outer(a[:, 3], b[:, 3])
    height -= np.maximum.outer(a[:, 1], b[:, 1])
    np.maximum(height, 0, out=height)
    inter *= height
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "min":
            return np.divide(inter, np.minimum.outer(area_a, area_b), out=inter)
        union = np.add.outer(area_a, area_b)
        union -= inter
        return np.divide(inter, union, out=inter)


STAGE_BATCH = 64  # RNet/ONet crops per network call at most: batches for two threads to share, each still large
NMS_BLOCK = 256  # boxes compared at a time with the boxes whose x-range can reach theirs


def nms(rows: np.ndarray, threshold: float, method: str = "union", sort: bool = True, score_col: int = 4) -> np.ndarray:
    """The package's NMS: a box goes when ANY higher-ranked box overlaps it above threshold (not greedy).

    Boxes are compared block by block with the boxes that can overlap them along x (sorted by x1, within the
    widest box's width), not all with all: the same pairs that overlap and the same arithmetic, but thousands
    of boxes (PNet at 1280×960) no longer cost a full n×n matrix."""
    if len(rows) == 0:
        return rows
    if sort:
        rows = rows[np.argsort(rows[:, score_col])[::-1]]
    by_x = np.argsort(rows[:, 0], kind="stable")
    sorted_x1 = rows[by_x, 0]
    widest = float(np.max(rows[:, 2] - rows[:, 0]))
    suppressed = np.zeros(len(rows), bool)
    for start in range(0, len(rows), NMS_BLOCK):
        block = by_x[start:start + NMS_BLOCK]
        low = np.searchsorted(sorted_x1, rows[block, 0].min() - widest, "left")
        high = np.searchsorted(sorted_x1, rows[block, 2].max(), "right")
        near = by_x[low:high]
        overlapping = overlap_matrix(rows[near, :4], rows[block, :4], method) > threshold
        overlapping &= near[:, None] < block[None, :]  # only higher-ranked boxes (rows are in rank order)
        suppressed[block] = overlapping.any(axis=0)
    return rows[~suppressed]


def to_square(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    w, h = rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1]
    side = np.maximum(w, h)
    rows[:, 0] += w * 0.5 - side * 0.5
    rows[:, 1] += h * 0.5 - side * 0.5
    rows[:, 2] = rows[:, 0] + side
    rows[:, 3] = rows[:, 1] + side
    return rows


def regress(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """adjust_bboxes: offsets scaled by (w + 1, h + 1)."""
    rows = rows.copy()
    w = rows[:, 2] - rows[:, 0] + 1
    h = rows[:, 3] - rows[:, 1] + 1
    rows[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return rows


def crop_and_resize(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """tf.image.crop_and_resize (bilinear, 0 outside) of the package's extract_patches, for one normalised image.

    The package normalises box coordinates by the image width/height and TensorFlow maps them back with
    (width - 1): sample x = x1·(W-1)/W + j·(x2-x1)·(W-1)/(W·(size-1)); the interpolation is TensorFlow's
    (top = tl + (tr - tl)·fx, ...). The four neighbours are gathered with np.take on the flattened image
    (2x faster than fancy indexing with two index arrays).
    """
    h, w = image.shape[:2]
    steps = np.arange(size, dtype=np.float64) / (size - 1)
    ys = (boxes[:, 1:2] + steps[None] * (boxes[:, 3:4] - boxes[:, 1:2])) * ((h - 1) / h)  # n × size
    xs = (boxes[:, 0:1] + steps[None] * (boxes[:, 2:3] - boxes[:, 0:1])) * ((w - 1) / w)
    y0, x0 = np.floor(ys), np.floor(xs)
    fy = (ys - y0).astype(np.float32)[:, :, None, None]
    fx = (xs - x0).astype(np.float32)[:, None, :, None]
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    row0, row1 = np.clip(y0, 0, h - 1) * w, np.clip(y0 + 1, 0, h - 1) * w
    col0, col1 = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    flat = image.reshape(h * w, -1)

    def pixels(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.take(flat, rows[:, :, None] + cols[:, None, :], axis=0)

    top_left, top_right = pixels(row0, col0), pixels(row0, col1)
    top = top_left + (top_right - top_left) * fx
    bottom_left, bottom_right = pixels(row1, col0), pixels(row1, col1)
    bottom = bottom_left + (bottom_right - bottom_left) * fx
    patches = top + (bottom - top) * fy
    inside = ((ys >= 0) & (ys <= h - 1))[:, :, None] & ((xs >= 0) & (xs <= w - 1))[:, None, :]
    patches[~inside] = 0.0
    return patches


def landmarks_in_box(rows: np.ndarray, points: np.ndarray) -> np.ndarray:
    """adjust_landmarks: ONet's (x1..x5, y1..y5) relative to the box it saw, in pixels."""
    w = rows[:, 2:3] - rows[:, 0:1] + 1
    h = rows[:, 3:4] - rows[:, 1:2] + 1
    return np.concatenate([w * points[:, :5] + rows[:, 0:1] - 1, h * points[:, 5:] + rows[:, 1:2] - 1], axis=1)


def fit_to_image(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = rows.copy()
    rows[:, [0, 2]] = np.clip(rows[:, [0, 2]], 0, width - 1)
    rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, height - 1)
    return rows


# ---------------------------------------------------------------- engines

class TensorFlowEngine:
    """The package's Keras networks as tf.function graphs with fixed input signatures."""

    name = "tf"

    def __init__(self):
        from facerec.device import quiet_tensorflow, tensorflow_device

        quiet_tensorflow()
        import tensorflow as tf
        from mtcnn.network.onet import ONet
        from mtcnn.network.pnet import PNet
        from mtcnn.network.rnet import RNet

        self.device = tensorflow_device()
        nets = {}
        for name, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
            net = cls()
            net.build()
            net.set_weights(load_stage_weights(name))
            nets[name] = net
        spec = lambda *shape: [tf.TensorSpec(shape, tf.float32)]  # noqa: E731
        self._pnet = tf.function(lambda x: nets["pnet"](x), input_signature=spec(None, None, None, 3))
        self._rnet = tf.function(lambda x: nets["rnet"](x), input_signature=spec(None, 24, 24, 3))
        self._onet = tf.function(lambda x: nets["onet"](x), input_signature=spec(None, 48, 48, 3))
        self._crop = tf.function(tf.image.crop_and_resize, input_signature=[
            tf.TensorSpec([1, None, None, 3], tf.float32), tf.TensorSpec([None, 4], tf.float32),
            tf.TensorSpec([None], tf.int32), tf.TensorSpec([2], tf.int32)])
        self._tf = tf

    def crops(self, image: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
        """The package's extract_patches: tf.image.crop_and_resize with boxes normalised by width/height."""
        h, w = image.shape[:2]
        boxes = rows[:, [1, 0, 3, 2]] / np.array([h, w, h, w], np.float64)
        with self._tf.device(self.device):
            return self._crop(self._tf.constant(image[None]), self._tf.constant(boxes, self._tf.float32),
                              self._tf.zeros(len(rows), self._tf.int32), self._tf.constant([size, size])).numpy()

    def _run(self, fn, batch: np.ndarray) -> list[np.ndarray]:
        with self._tf.device(self.device):
            return [o.numpy() for o in fn(self._tf.constant(batch))]

    def pnet(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reg, prob = self._run(self._pnet, batch)
        return reg, prob[..., 1]

    def rnet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reg, prob = self._run(self._rnet, patches)
        return reg, prob[:, 1]

    def onet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reg, points, prob = self._run(self._onet, patches)
        return reg, points, prob[:, 1]


def face_probability(logits: np.ndarray) -> np.ndarray:
    """Softmax's face probability from PNet's two logits (n, 2, h, w), computed as ONNX Runtime's Softmax does
    for the cells that can pass a threshold above 0.5 (face logit the larger: 1 / (exp(z0 - z1) + 1)). Its
    Softmax over the channel axis transposes the whole map twice: 10 % of PNet's time."""
    with np.errstate(over="ignore"):
        return 1.0 / (np.exp(logits[:, 0] - logits[:, 1]) + np.float32(1.0))


class OnnxEngine:
    """The same weights written into ONNX graphs in memory and run by ONNX Runtime."""

    name = "onnx"

    def __init__(self, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 1: the second core is used by FastMTCNN's worker thread instead
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._sessions = {name: ort.InferenceSession(build_onnx(name), options, providers=["CPUExecutionProvider"])
                          for name in ("pnet", "rnet", "onet")}

    crops = staticmethod(crop_and_resize)

    def _run(self, name: str, batch: np.ndarray) -> list[np.ndarray]:
        # ONNX graphs are NCHW; the arithmetic around them is NHWC like the package
        return self._sessions[name].run(None, {"x": np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})

    def pnet(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (heads,) = self._run("pnet", batch)  # 4 box offsets, then the 2 logits
        return heads[:, :4].transpose(0, 2, 3, 1), face_probability(heads[:, 4:])

    def rnet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reg, prob = self._run("rnet", patches)
        return reg, prob[:, 1]

    def onet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reg, points, prob = self._run("onet", patches)
        return reg, points, prob[:, 1]


# Each network as (kind, arguments) steps, mirroring the package's Keras definitions layer by layer.
ARCHITECTURES = {
    "pnet": [("conv", 1), ("prelu",), ("pool", 2, 2), ("conv", 1), ("prelu",), ("conv", 1), ("prelu",),
             ("conv_heads", 2)],
    "rnet": [("conv", 1), ("prelu",), ("pool", 3, 2), ("conv", 1), ("prelu",), ("pool_valid", 3, 2),
             ("conv", 1), ("prelu",), ("flatten",), ("dense",), ("prelu_dense",), ("heads", ["reg", "prob"])],
    "onet": [("conv", 1), ("prelu",), ("pool", 3, 2), ("conv", 1), ("prelu",), ("pool_valid", 3, 2),
             ("conv", 1), ("prelu",), ("pool", 2, 2), ("conv", 1), ("prelu",), ("flatten",), ("dense",),
             ("prelu_dense",), ("heads", ["reg", "points", "prob"])],
}


# RNet's first convolution has 28 filters; padded with 4 zero filters (and 4 zero input channels in the next
# convolution) its output fills ONNX Runtime's channel blocks: the same values, 20 % less time.
# (PNet's 10 gain nothing.)
PADDED_CHANNELS = {"rnet": 16}

OUTPUT_SHAPES = {"pnet": [["n", 6, "h", "w"]], "rnet": [["n", 4], ["n", 2]],
                 "onet": [["n", 4], ["n", 10], ["n", 2]]}


def build_onnx(name: str) -> bytes:
    """An ONNX model (NCHW) of one stage, built from the package's weight arrays."""
    from onnx import TensorProto, helper, numpy_helper

    weights = iter(load_stage_weights(name))
    nodes, inits = [], []
    state: dict = {"x": "x", "n": 0}

    def const(array: np.ndarray) -> str:
        state["n"] += 1
        tensor_name = f"w{state['n']}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), tensor_name))
        return tensor_name

    def add(op: str, inputs: list[str], **attrs) -> str:
        state["n"] += 1
        out = f"t{state['n']}"
        nodes.append(helper.make_node(op, [state["x"], *inputs], [out], **attrs))
        state["x"] = out
        return out

    def conv(kernel: np.ndarray, bias: np.ndarray, source: str) -> str:
        state["x"] = source
        return add("Conv", [const(kernel.transpose(3, 2, 0, 1)), const(bias)])  # HWIO -> OIHW

    def dense(kernel: np.ndarray, bias: np.ndarray, source: str) -> str:
        state["x"] = source
        add("MatMul", [const(kernel)])
        return add("Add", [const(bias)])

    def batch_norm(scale: np.ndarray) -> str:
        """x · scale per channel (mean 0, variance 1, epsilon 0: exact), which ONNX Runtime keeps in its fast
        blocked (NCHWc) layout as a depthwise convolution."""
        zeros, ones = np.zeros_like(scale), np.ones_like(scale)
        return add("BatchNormalization", [const(scale), const(zeros), const(zeros), const(ones)], epsilon=0.0)

    def prelu_as_relus(slope: np.ndarray) -> str:
        """PReLU(z) = Relu(z) + (-slope)·Relu(-z): bit for bit the same values (one term is always 0), but every
        op stays in ONNX Runtime's NCHWc layout; its PRelu with per-channel slopes broadcasts slowly and forces
        layout reorders (it was half of RNet's time)."""
        z = state["x"]
        positive = add("Relu", [])
        state["x"] = z
        batch_norm(-np.ones_like(slope))
        add("Relu", [])
        batch_norm(-slope)
        return add("Add", [positive])

    outputs = []
    for step in ARCHITECTURES[name]:
        kind = step[0]
        if kind == "conv":
            kernel, bias = next(weights), next(weights)
            kernel = np.pad(kernel, [(0, 0), (0, 0), (0, state.pop("zero_inputs", 0)), (0, 0)])
            extra = -kernel.shape[3] % PADDED_CHANNELS.get(name, 1)
            state["zero_inputs"] = extra
            conv(np.pad(kernel, [(0, 0)] * 3 + [(0, extra)]), np.pad(bias, (0, extra)), state["x"])
        elif kind == "prelu":
            prelu_as_relus(np.pad(next(weights).reshape(-1), (0, state["zero_inputs"])))
        elif kind == "prelu_dense":
            add("PRelu", [const(next(weights).reshape(-1))])
        elif kind == "pool":
            # Keras padding="same" (SAME_UPPER) pads one row/column at the end for every shape met here: kernel 2
            # stride 2 on any size, kernel 3 stride 2 on the even sizes RNet (22) and ONet (46) feed it. Explicit
            # pads keep MaxPool in ONNX Runtime's NCHWc layout; auto_pad did not.
            add("MaxPool", [], kernel_shape=[step[1]] * 2, strides=[step[2]] * 2, pads=[0, 0, 1, 1])
        elif kind == "pool_valid":
            add("MaxPool", [], kernel_shape=[step[1]] * 2, strides=[step[2]] * 2)
        elif kind == "flatten":  # Keras Permute((2, 1, 3)) then Flatten on NHWC = order (w, h, c)
            add("Transpose", [], perm=[0, 3, 2, 1])
            add("Flatten", [], axis=1)
        elif kind == "dense":
            dense(next(weights), next(weights), state["x"])
        elif kind == "conv_heads":  # PNet's 1x1 heads as one convolution: the trunk is read once
            kernels, biases = zip(*[(next(weights), next(weights)) for _ in range(step[1])])
            outputs.append(conv(np.concatenate(kernels, axis=3), np.concatenate(biases), state["x"]))
        elif kind == "heads":
            trunk = state["x"]
            for head in step[1]:
                kernel, bias = next(weights), next(weights)
                out = dense(kernel, bias, trunk)
                if head == "prob":
                    out = add("Softmax", [], axis=1)
                outputs.append(out)
    assert next(weights, None) is None, f"{name}: weights left over"
    size = {"pnet": [None, None], "rnet": [24, 24], "onet": [48, 48]}[name]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, *size])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o, shape in zip(outputs, OUTPUT_SHAPES[name])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def make_engine(engine: str = "auto"):
    if engine == "auto":
        engine = auto_engine()
    if engine == "onnx":
        return OnnxEngine()
    if engine == "tf":
        return TensorFlowEngine()
    raise ValueError(f"unknown MTCNN engine {engine!r}; choose from auto, {', '.join(ENGINES)}")


def auto_engine() -> str:
    """"tf" when TensorFlow runs on a GPU (detection stays there), else "onnx" when installed, else "tf"."""
    if gpu_likely():
        from facerec.device import tensorflow_device

        if tensorflow_device().startswith("GPU"):
            return "tf"
    from facerec.device import ONNX_MODULES, installed

    return "onnx" if installed(*ONNX_MODULES) else "tf"


def gpu_likely() -> bool:
    """Whether a GPU may be there, without importing TensorFlow (seconds) on machines that have none."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd"))


# ---------------------------------------------------------------- the detector

_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def worker() -> ThreadPoolExecutor:
    """One worker thread per process for the detector's second half of the work (created on first use)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtcnn")
        return _worker


def even_batches(count: int, at_least: int = 1, largest: int = STAGE_BATCH, smallest: int = 8) -> list[slice]:
    """count items as equal batches of at most `largest`, and `at_least` batches when each keeps `smallest`."""
    n = max(math.ceil(count / largest), min(at_least, count // smallest), 1)
    bounds = np.linspace(0, count, n + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def share_work(count: int, item, second_thread: bool = True) -> dict:
    """{k: item(k)} for k in range(count), the items taken in order, one at a time, by this thread and (with
    `second_thread`) the worker thread. When the worker has not started by the time this thread has run out
    of items (a busy CPU, or the worker busy for another detector), its share is nothing: a shared CPU never
    makes the call wait for a thread that does not get a core; at worst it waits for the one item the worker
    is on."""
    queue = iter(range(count))
    queue_lock = threading.Lock()

    def take_items() -> dict:
        done = {}
        while True:
            with queue_lock:
                k = next(queue, None)
            if k is None:
                return done
            done[k] = item(k)

    if not second_thread or count < 2:
        return take_items()
    later = worker().submit(take_items)
    done = take_items()
    if not later.cancel():
        done.update(later.result())
    return done


class FastMTCNN:
    """MTCNN over a batch of RGB images. Returns per image an array of rows
    x1, y1, x2, y2, confidence, lx1..lx5, ly1..ly5 (landmarks: left eye, right eye, nose, mouth left, right)."""

    def __init__(self, engine: str = "auto", second_thread: bool = True):
        self.engine = make_engine(engine)
        self.second_thread = second_thread
        self._lock = threading.Lock()  # the sessions are shared; one call at a time keeps threads predictable

    def detect(self, images: list[np.ndarray], min_face_size: int = 20,
               thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)) -> list[np.ndarray]:
        normalised = [normalise(img) for img in images]
        with self._lock:
            candidates = [self.proposals(img, min_face_size, thresholds[0]) for img in normalised]
            candidates = self.refine(normalised, candidates, thresholds[1])
            found = self.output(normalised, candidates, thresholds[2])
        return [fit_to_image(rows, *img.shape[:2]) for rows, img in zip(found, images)]

    def proposals(self, image: np.ndarray, min_face_size: int, threshold: float) -> np.ndarray:
        """PNet over the pyramid of one image: squared candidate boxes (x1, y1, x2, y2, score).

        With `second_thread`, this thread and a worker take the scales largest first, one at a time, until none
        is left (resize, PNet, boxes: code that mostly releases the GIL); at worst this thread waits for the one
        scale the worker is on, and when the worker gets no core it does them all itself."""
        h, w = image.shape[:2]
        scales = [s for s in pyramid_scales(h, w, min_face_size) if min(int(h * s), int(w * s)) >= PNET_CELL]
        if not scales:  # too small to hold a 12-pixel cell at any scale
            return np.empty((0, 5))
        pyramid = AreaPyramid(image, scales)

        def scale_boxes(k: int) -> np.ndarray:
            reg, prob = self.engine.pnet(pyramid[k][None])
            return nms(boxes_from_pnet(reg[0], prob[0], scales[k], threshold), NMS_PNET_PER_SCALE, sort=False)

        boxes = share_work(len(scales), scale_boxes, self.second_thread)
        rows = np.concatenate([boxes[k] for k in range(len(scales))])  # in scale order, as the package
        return to_square(nms(rows, NMS_PNET_ALL))

    def refine(self, images: list[np.ndarray], candidates: list[np.ndarray], threshold: float) -> list[np.ndarray]:
        """RNet on every candidate of every image at once."""
        scores_offsets = self._stage(images, candidates, 24, self.engine.rnet)
        out = []
        for rows, result in zip(candidates, scores_offsets):
            if result is None:
                out.append(rows)
                continue
            reg, prob = result
            rows = rows.copy()
            rows[:, 4] = prob
            rows = regress(rows, reg)
            rows = rows[rows[:, 4] > threshold]
            out.append(to_square(nms(rows, NMS_RNET)))
        return out

    def output(self, images: list[np.ndarray], candidates: list[np.ndarray], threshold: float) -> list[np.ndarray]:
        """ONet on every remaining candidate of every image at once: final boxes, scores and landmarks."""
        results = self._stage(images, candidates, 48, self.engine.onet)
        out = []
        for rows, result in zip(candidates, results):
            if result is None:
                out.append(np.empty((0, 15)))
                continue
            reg, points, prob = result
            landmarks = landmarks_in_box(rows, points)
            rows = rows.copy()
            rows[:, 4] = prob
            rows = np.concatenate([regress(rows, reg), landmarks], axis=1)
            rows = rows[rows[:, 4] > threshold]
            out.append(nms(rows, NMS_ONET, method="min"))
        return out

    def _stage(self, images, candidates, size, run):
        """Crops of all candidates of all images through the network, in even batches of up to STAGE_BATCH crops
        across images (two batches at least with `second_thread`) that this thread and the worker take in turn;
        results split back per image."""
        counts = [len(c) for c in candidates]
        if sum(counts) == 0:
            return [None] * len(candidates)
        starts = np.concatenate([[0], np.cumsum(counts)])
        batches = even_batches(int(starts[-1]), 2 if self.second_thread else 1)

        def batch_outputs(b: int) -> list[np.ndarray]:
            first, last = batches[b].start, batches[b].stop
            crops = [self.engine.crops(img, rows[max(first - start, 0):last - start], size)
                     for img, rows, start in zip(images, candidates, starts)
                     if start < last and start + len(rows) > first]
            return run(np.concatenate(crops) if len(crops) > 1 else crops[0])

        outputs = share_work(len(batches), batch_outputs, self.second_thread)
        joined = [np.concatenate(parts) for parts in zip(*(outputs[b] for b in range(len(batches))))]
        per_image = zip(*(np.split(o, starts[1:-1]) for o in joined))
        return [tuple(r) if n else None for r, n in zip(per_image, counts)]
