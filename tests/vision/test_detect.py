"""MTCNN detection on real photos with known face counts."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from facerec.cli.main import main
from facerec.errors import EXIT_BAD_INPUT, EXIT_OK
from facerec.vision.imageio import load_image

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)


@pytest.mark.parametrize("name, count", [("group_3.jpg", 3), ("group_6.jpg", 6), ("noface_017.jpg", 0), ("kit_1.jpg", 1)])
def test_counts_on_core_photos(detector, core_images, name, count):
    faces = detector.detect(load_image(core_images / name))
    assert len(faces) == count
    for f in faces:
        x, y, w, h = f.box
        assert w > 0 and h > 0 and f.confidence >= 0.9
        lm = f.landmarks_array()
        # the eyes are above the mouth and inside (or near) the box
        assert lm[0, 1] < lm[3, 1] and lm[1, 1] < lm[4, 1]
        assert x - w * 0.2 <= lm[2, 0] <= x + w * 1.2


def test_batch_matches_single(detector, core_images):
    images = [load_image(core_images / n) for n in ("group_3.jpg", "kit_1.jpg", "noface_017.jpg")]
    batch = detector.detect_batch(images)
    assert [len(b) for b in batch] == [len(detector.detect(i)) for i in images]


@pytest.mark.parametrize("min_size", [13, 37, 45, 80, 150])
def test_min_face_size_never_raises_and_filters(core_images, min_size):
    from facerec.vision.detect import Detector

    image = load_image(core_images / "group_6.jpg")
    faces = Detector(min_face_size=min_size).detect(image)
    assert all(min(f.box[2], f.box[3]) >= 0.8 * min_size for f in faces)
    assert len(faces) <= 6


def test_large_photo_is_downscaled_and_boxes_mapped_back(detector, core_images):
    import cv2

    image = load_image(core_images / "kit_1.jpg")
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    small_face = detector.detect(image)[0]
    big_face = detector.detect(big)[0]
    assert np.allclose(np.array(big_face.box) / 4, small_face.box, atol=max(small_face.box[2:]) * 0.1)


def test_tiny_and_blank_images(detector):
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []
    assert detector.detect(np.full((300, 300, 3), 127, np.uint8)) == []


def shared_group_photos(root: Path) -> list[tuple[Path, int]]:
    rows = csv.DictReader((root / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
    return [(root / r["local_path"], int(r["identity"].split(":")[1])) for r in rows
            if r["identity"].startswith("group:") and r["local_path"].endswith(".jpg")]


def test_known_counts_on_shared_group_photos(detector, shared_faces):
    """All group and no-face photos of the shared set; a miss on crowded selfies is tolerated by one face."""
    results = []
    for path, count in shared_group_photos(shared_faces):
        found = len(detector.detect(load_image(path)))
        results.append((path.name, count, found))
    exact = [r for r in results if r[1] == r[2]]
    assert all(found == 0 for _, count, found in results if count == 0)
    assert len(exact) >= len(results) - 2, results


def test_cli_detect_json_and_annotate(core_images, tmp_path, capsys):
    assert main(["detect", "--json", "--annotate", str(tmp_path), str(core_images / "group_3.jpg"),
                 str(core_images / "noface_017.jpg")]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert [len(r["faces"]) for r in out] == [3, 0]
    assert set(out[0]["faces"][0]["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    assert load_image(tmp_path / "group_3.annotated.jpg").shape[:2] == (out[0]["height"], out[0]["width"])


def test_cli_detect_bad_file_is_reported_and_the_others_still_listed(core_images, tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    assert main(["detect", str(bad), str(core_images / "kit_1.jpg")]) == EXIT_OK  # the good photo answers
    captured = capsys.readouterr()
    assert "notes.jpg" in captured.err and "not an image" in captured.err
    assert "kit_1.jpg" in captured.out


def test_cli_detect_no_face_exit_code(core_images, capsys):
    assert main(["detect", str(core_images / "noface_017.jpg")]) == EXIT_BAD_INPUT  # no input gave a face
    assert "noface_017.jpg: no face found" in capsys.readouterr().err


# ---- the fast MTCNN (facerec.vision.mtcnn_fast) against the mtcnn package it replaces, on real photos

def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def best_iou(box, boxes) -> float:
    return max((iou(box, b) for b in boxes), default=0.0)


@pytest.fixture(scope="module")
def reference_detector():
    from facerec.vision.detect import Detector

    return Detector(engine="reference")


def voc_faces(folder: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """dlib's VOC-style annotations_testing.xml: file name -> face boxes (x, y, w, h)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(folder / "annotations_testing.xml").getroot()
    return {img.get("file"): [(int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
                              for b in img.iter("box")]
            for img in root.iter("image") if (folder / img.get("file")).is_file()}


def assert_same_or_closer_to_truth(fast, reference, truth=()):
    """Every box of one detector has a box of the other at IoU >= 0.9, or is at least as close to the truth."""
    for box in fast:
        assert best_iou(box, reference) >= 0.9 or best_iou(box, truth) >= best_iou(box, reference) > 0, (box, reference)
    for box in reference:
        assert best_iou(box, fast) >= 0.9 or best_iou(box, truth) < 0.5, (box, fast)  # a true face is never lost


@pytest.mark.parametrize("engine", ["auto", "onnx"])
def test_fast_engine_finds_the_packages_faces_on_core_photos(core_images, reference_detector, engine):
    from facerec.vision.detect import Detector

    if engine == "onnx":
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    fast = Detector(engine=engine)
    for path in sorted(core_images.glob("*.jpg")):
        image = load_image(path)
        ours, theirs = fast.detect(image), reference_detector.detect(image)
        assert len(ours) == len(theirs), path.name
        assert_same_or_closer_to_truth([f.box for f in ours], [f.box for f in theirs])
        for a, b in zip(ours, theirs):  # same reading order, so landmarks pair up
            assert np.abs(a.landmarks_array() - b.landmarks_array()).max() <= 0.1 * max(b.box[2:]) + 1


def test_fast_engine_batch_of_mixed_sizes_equals_one_by_one(core_images):
    from facerec.vision.detect import Detector

    fast = Detector()
    images = [load_image(core_images / n) for n in ("group_6.jpg", "kit_2.jpg", "noface_017.jpg", "group_3.jpg")]
    assert fast.detect_batch(images) == [fast.detect(i) for i in images]


def test_relaxed_stage_thresholds_find_at_least_as_much(core_images):
    from facerec.vision.detect import Detector

    image = load_image(core_images / "group_6.jpg")
    strict = Detector().detect(image)
    relaxed = Detector(min_confidence=0.7, stage_thresholds=(0.5, 0.6, 0.7)).detect(image)
    assert len(relaxed) >= len(strict)
    assert all(best_iou(f.box, [r.box for r in relaxed]) >= 0.9 for f in strict)


def test_fast_engine_on_voc_group_photos_keeps_recall_and_boxes(shared_faces, reference_detector):
    """dlib's VOC group photos: recall at IoU 0.4 not lower than the package's; boxes the same or closer to truth."""
    from facerec.vision.detect import Detector

    folder = shared_faces / "dlib" / "_group"
    if not (folder / "annotations_testing.xml").is_file():
        pytest.skip("no VOC annotations in the shared set")
    fast = Detector()
    found = {"fast": 0, "reference": 0}
    truth_total = 0
    for name, truth in voc_faces(folder).items():
        image = load_image(folder / name)
        ours = [f.box for f in fast.detect(image)]
        theirs = [f.box for f in reference_detector.detect(image)]
        assert_same_or_closer_to_truth(ours, theirs, truth)
        truth_total += len(truth)
        found["fast"] += sum(best_iou(t, ours) >= 0.4 for t in truth)
        found["reference"] += sum(best_iou(t, theirs) >= 0.4 for t in truth)
    assert truth_total > 0 and found["fast"] >= found["reference"], found


def test_auto_engine_keeps_detection_on_a_gpu_and_uses_onnx_on_a_cpu(monkeypatch):
    """With a GPU TensorFlow detects there (the `tf` engine); without one no TensorFlow import is needed."""
    pytest.importorskip("onnxruntime")
    import facerec.device
    from facerec.vision import mtcnn_fast

    monkeypatch.setattr(mtcnn_fast, "gpu_likely", lambda: True)
    monkeypatch.setattr(facerec.device, "tensorflow_device", lambda: "GPU:0")
    assert mtcnn_fast.auto_engine() == "tf"
    monkeypatch.setattr(facerec.device, "tensorflow_device", lambda: "CPU:0")  # e.g. CUDA_VISIBLE_DEVICES=""
    assert mtcnn_fast.auto_engine() == "onnx"
    monkeypatch.setattr(mtcnn_fast, "gpu_likely", lambda: False)
    monkeypatch.setattr(facerec.device, "tensorflow_device", lambda: pytest.fail("TensorFlow asked on a CPU box"))
    assert mtcnn_fast.auto_engine() == "onnx"


# ---- the ONNX graphs are the package's networks; speed-ups change no detection

def camera_frame(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """The photo scaled to cover width x height and centre-cropped, as scripts/bench_detect.py frames it."""
    import cv2

    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))), interpolation=cv2.INTER_AREA)
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def test_fast_engine_finds_the_packages_faces_in_640x480_frames(core_images, reference_detector):
    """The benchmark's case: camera frames of real photos, min face 20 px; same count, boxes, landmarks."""
    from facerec.vision.detect import Detector

    fast = Detector(engine="auto")
    photos = sorted(core_images.glob("*.jpg")) + sorted((core_images.parent / "webcam").glob("*.jpg"))
    found = 0
    for path in photos:
        frame = camera_frame(load_image(path))
        ours, theirs = fast.detect(frame), reference_detector.detect(frame)
        assert len(ours) == len(theirs), path.name
        assert all(best_iou(f.box, [g.box for g in theirs]) >= 0.9 for f in ours), path.name
        for a, b in zip(ours, theirs):
            assert np.abs(a.landmarks_array() - b.landmarks_array()).max() <= 0.05 * max(b.box[2:]) + 1, path.name
        found += len(ours)
    assert found >= len(photos)  # the frames hold faces: the comparison is not between two empty lists


@pytest.fixture(scope="module")
def onnx_and_tf_engines():
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from facerec.vision.mtcnn_fast import OnnxEngine, TensorFlowEngine

    return OnnxEngine(), TensorFlowEngine()


def test_onnx_graphs_compute_the_packages_keras_networks(core_images, onnx_and_tf_engines):
    """PReLU rewritten as Relu/BatchNorm, explicit pool pads, RNet's padded channels: the same outputs as the
    package's own Keras networks, on PNet inputs of odd and even sizes and RNet/ONet crops of a real photo."""
    from facerec.vision import mtcnn_fast as mf

    onnx, tf = onnx_and_tf_engines
    image = mf.normalise(load_image(core_images / "group_6.jpg"))
    for scale in (0.6, 0.3016, 0.1):  # odd and even widths/heights reach the SAME-padded pool
        scaled = mf.resize_area(image, scale)[None]
        for ours, theirs in zip(onnx.pnet(scaled), tf.pnet(scaled)):
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() < 1e-4
    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, [w - 40, h - 40], (64, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(12, 120, (64, 1))], axis=1)
    for size, stage in ((24, "rnet"), (48, "onet")):
        patches = mf.crop_and_resize(image, boxes, size)
        assert np.abs(patches - tf.crops(image, boxes, size)).max() < 1e-4  # TensorFlow's crop_and_resize
        for ours, theirs in zip(getattr(onnx, stage)(patches), getattr(tf, stage)(patches)):
            assert np.abs(ours - theirs).max() < 1e-4, stage


def test_second_thread_changes_nothing(core_images):
    """PNet's scales split between two threads: the same rows, bit for bit, as one thread."""
    from facerec.vision.mtcnn_fast import FastMTCNN

    images = [load_image(core_images / n) for n in ("group_3.jpg", "kit_2.jpg")]
    two, one = FastMTCNN(second_thread=True), FastMTCNN(second_thread=False)
    for a, b in zip(two.detect(images), one.detect(images)):
        assert len(a) > 0 and np.array_equal(a, b)


@pytest.mark.parametrize("height, width", [(480, 640), (301, 257), (37, 53)])
def test_sparse_area_pyramid_equals_opencv_inter_area(core_images, height, width):
    """One sparse vertical pass for every scale + OpenCV's horizontal pass = OpenCV's INTER_AREA per scale."""
    import cv2

    from facerec.vision import mtcnn_fast as mf

    image = mf.normalise(cv2.resize(load_image(core_images / "group_3.jpg"), (width, height), interpolation=cv2.INTER_AREA))
    scales = [s for s in mf.pyramid_scales(height, width) if min(int(height * s), int(width * s)) >= mf.PNET_CELL]
    assert len(scales) >= 2
    pyramid = mf.AreaPyramid(image, scales)
    assert len(pyramid) == len(scales)
    for k, scale in enumerate(scales):
        level, expected = pyramid[k], mf.resize_area(image, scale)
        assert level.shape == expected.shape
        assert np.abs(level - expected).max() < 1e-5


def test_blocked_nms_keeps_what_all_pairs_keep(core_images, onnx_and_tf_engines):
    """PNet's boxes of a real group photo (hundreds): the x-windowed NMS equals the package's all-pairs rule."""
    from facerec.vision import mtcnn_fast as mf

    onnx, _ = onnx_and_tf_engines
    image = mf.normalise(load_image(core_images / "group_6.jpg"))
    reg, prob = onnx.pnet(mf.resize_area(image, 0.6)[None])
    rows = mf.boxes_from_pnet(reg[0], prob[0], 0.6, 0.5)
    assert len(rows) > mf.NMS_BLOCK  # several blocks
    for threshold, method in ((0.5, "union"), (0.7, "union"), (0.7, "min")):
        all_pairs = np.triu(mf.overlap_matrix(rows[:, :4], rows[:, :4], method) > threshold, k=1)
        expected = rows[~all_pairs.any(axis=0)]
        assert 0 < len(expected) < len(rows)
        assert np.array_equal(mf.nms(rows, threshold, method, sort=False), expected)


def test_detectors_used_from_several_threads_at_once_find_the_same_faces(core_images):
    """The shared networks and the process-wide worker thread, under concurrent callers."""
    from concurrent.futures import ThreadPoolExecutor

    from facerec.vision.detect import Detector

    images = [load_image(core_images / n) for n in ("group_6.jpg", "kit_1.jpg", "group_3.jpg", "noface_017.jpg")]
    one_by_one = [Detector().detect(i) for i in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        at_once = list(pool.map(lambda i: Detector().detect(i), images * 2))
    assert at_once == one_by_one * 2
    assert [len(f) for f in one_by_one] == [6, 1, 3, 0]


@pytest.mark.parametrize("count", [0, 1, 7, 16, 65, 158, 1000])
def test_even_batches_cover_every_crop_once(count):
    from facerec.vision.mtcnn_fast import STAGE_BATCH, even_batches

    for at_least in (1, 2):
        batches = even_batches(count, at_least)
        covered = [i for b in batches for i in range(count)[b]]
        assert covered == list(range(count))
        sizes = [b.stop - b.start for b in batches]
        assert all(s <= STAGE_BATCH for s in sizes) and (not sizes or max(sizes) - min(sizes) <= 1)
        assert len(batches) >= min(at_least, count // 8)


@pytest.mark.parametrize("height, width", [(12, 12), (13, 30), (20, 20), (24, 24), (12, 400)])
def test_images_too_small_for_the_pyramid_find_nothing(height, width):
    """Images with no (or one) pyramid scale that holds PNet's 12-pixel cell: no faces, no error."""
    from facerec.vision.mtcnn_fast import FastMTCNN

    image = np.full((height, width, 3), 100, np.uint8)
    assert [len(rows) for rows in FastMTCNN().detect([image, image])] == [0, 0]
