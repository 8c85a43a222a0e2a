"""YuNet's pre- and post-processing in facerec (scaling to the detection size, colour order, boxes and landmarks
back in the photo's pixels) on a synthetic ONNX graph with YuNet's inputs and outputs, run by OpenCV's own
FaceDetectorYN: the real model cannot be downloaded here.

The graph scores each 32-px cell of the input by its brightness (strides 8 and 16 score nothing) and puts a 64x64
box with fixed landmarks around it, so a white 32x32 block in a black frame is one face whose position is known."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx (the onnx extra) is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from facerec.detectors.yunet import YuNetDetector  # noqa: E402

STRIDES = (8, 16, 32)
# landmarks in cell units around the scored cell: image-left eye, image-right eye, nose, mouth left, mouth right
KPS = [0.2, 0.3, 0.8, 0.3, 0.5, 0.5, 0.3, 0.8, 0.7, 0.8]
BOX = [0.5, 0.5, math.log(2.0), math.log(2.0)]  # centre of the cell, 2 cells wide and high


def head(name: str, stride: int, channels: int, weight: float, bias: list[float]) -> list:
    """Conv (kernel = stride = `stride`) -> NHWC -> (1, cells, channels), named as YuNet's output."""
    w = numpy_helper.from_array(np.full((channels, 3, stride, stride), weight, np.float32), f"{name}_w")
    b = numpy_helper.from_array(np.asarray(bias, np.float32), f"{name}_b")
    shape = numpy_helper.from_array(np.asarray([1, -1, channels], np.int64), f"{name}_shape")
    nodes = [helper.make_node("Conv", ["input", w.name, b.name], [f"{name}_conv"], kernel_shape=[stride, stride],
                              strides=[stride, stride]),
             helper.make_node("Transpose", [f"{name}_conv"], [f"{name}_nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", [f"{name}_nhwc", shape.name], [name])]
    return [nodes, [w, b, shape]]


def synthetic_yunet(path) -> None:
    nodes, weights, outputs = [], [], []
    for kind in ("cls", "obj", "bbox", "kps"):
        for stride in STRIDES:
            name = f"{kind}_{stride}"
            if kind in ("cls", "obj"):  # brightness in 0..1 for stride 32, nothing elsewhere
                made = head(name, stride, 1, 1.0 / (3 * stride * stride * 255) if stride == 32 else 0.0, [0.0])
                channels = 1
            else:
                channels = 4 if kind == "bbox" else 10
                made = head(name, stride, channels, 0.0, BOX if kind == "bbox" else KPS)
            nodes += made[0]
            weights += made[1]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, channels]))
    graph = helper.make_graph(nodes, "synthetic_yunet",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, None, None])],
                              outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("yunet") / "synthetic_yunet.onnx"
    synthetic_yunet(path)
    return path


def frame_with_block(width: int, height: int, cell: tuple[int, int], side: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    row, col = cell
    image[row * side:(row + 1) * side, col * side:(col + 1) * side] = (255, 200, 230)  # not grey: RGB vs BGR alike
    return image


def test_opencvs_own_decoding_of_the_graph_is_what_the_test_expects(graph):
    """The reference: FaceDetectorYN itself on a 640x480 frame with the block in cell (5, 7)."""
    detector = cv2.FaceDetectorYN.create(str(graph), "", (640, 480), 0.5, 0.3, 100)
    _, rows = detector.detect(cv2.cvtColor(frame_with_block(640, 480, (5, 7), 32), cv2.COLOR_RGB2BGR))
    assert rows is not None and len(rows) == 1
    row = rows[0]
    np.testing.assert_allclose(row[:4], [7.5 * 32 - 32, 5.5 * 32 - 32, 64, 64], atol=1e-3)
    expected_points = [((7 + KPS[2 * n]) * 32, (5 + KPS[2 * n + 1]) * 32) for n in range(5)]
    np.testing.assert_allclose(row[4:14].reshape(5, 2), expected_points, atol=1e-3)
    assert row[14] == pytest.approx((255 + 200 + 230) / 765, abs=0.01)  # sqrt(cls * obj), both the brightness


def test_facerec_maps_the_face_back_to_the_photos_pixels(graph):
    """A 1280x960 photo: detection runs at half size (min face 20 px -> YuNet's 10 px), boxes come back doubled."""
    photo = frame_with_block(1280, 960, (5, 7), 64)
    faces = YuNetDetector(min_face_size=20, max_side=1280, score_threshold=0.5, model=graph).detect(photo)
    assert len(faces) == 1
    face = faces[0]
    assert face.box == (2 * (7.5 * 32 - 32), 2 * (5.5 * 32 - 32), 128, 128)
    expected_points = [(2 * (7 + KPS[2 * n]) * 32, 2 * (5 + KPS[2 * n + 1]) * 32) for n in range(5)]
    np.testing.assert_allclose(face.landmarks_array(), expected_points, atol=0.01)
    assert face.landmarks[0][0] < face.landmarks[1][0]  # MTCNN's order: image-left eye first


def test_the_score_threshold_and_its_relaxed_copy(graph):
    from facerec.detectors import relaxed

    dim = frame_with_block(640, 480, (5, 7), 32) // 2  # brightness ~0.45: under both thresholds
    strict = YuNetDetector(min_face_size=10, max_side=640, model=graph)
    assert strict.detect(dim) == []
    mid = (frame_with_block(640, 480, (5, 7), 32) * 0.75).astype(np.uint8)  # brightness ~0.67
    assert strict.detect(mid) == [] and len(relaxed(strict).detect(mid)) == 1
    assert strict.score_threshold == 0.9  # the original is untouched
