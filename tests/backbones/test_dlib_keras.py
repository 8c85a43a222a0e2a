"""dlib's face network read in numpy (format, architecture) and run in Keras and in ONNX Runtime: the same
descriptors as dlib itself."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.backbones import dlib_net
from facerec.backbones.dlib_net import DlibFormatError, DlibStream

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

CHIP_PHOTOS = ("biden_2.jpg", "kit_1.jpg", "rose_1.jpg")


@pytest.fixture(scope="session")
def dlib_models():
    dlib = pytest.importorskip("dlib", reason="the dlib extra is not installed")
    models = pytest.importorskip("face_recognition_models", reason="the dlib extra is not installed")
    return dlib, models


@pytest.fixture(scope="session")
def network_file(dlib_models):
    return dlib_models[1].face_recognition_model_location()


@pytest.fixture(scope="session")
def parsed(network_file):
    return dlib_net.read_dlib_network(network_file)


@pytest.fixture(scope="session")
def dlib_chips(dlib_models, core_images):
    """150x150 chips of three real photos made by dlib alone (HOG detector, 5-point predictor, get_face_chip),
    and dlib's own descriptors of them."""
    from PIL import Image

    dlib, models = dlib_models
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    chips = []
    for name in CHIP_PHOTOS:
        image = np.asarray(Image.open(core_images / name).convert("RGB"))
        box = max(detector(image, 1), key=lambda r: r.area())
        chips.append(np.asarray(dlib.get_face_chip(image, predictor(image, box), size=150, padding=0.25)))
    chips = np.stack(chips)
    network = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    descriptors = np.asarray([np.asarray(v) for v in network.compute_face_descriptor(list(chips))], dtype=np.float32)
    return chips, descriptors


def encode_int(value: int) -> bytes:
    """dlib's integer encoding, written independently of the reader: control byte, little-endian magnitude."""
    magnitude = abs(value)
    body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little") if magnitude else b""
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def test_integers_floats_bools_and_strings_decode():
    data = (encode_int(0) + encode_int(300) + encode_int(-5) + encode_int(3 << 40)
            + encode_int(10737418) + encode_int(-28)  # 0.04 as dlib writes a float: mantissa, exponent
            + encode_int(1) + encode_int(32002)  # NaN marker
            + b"1" + encode_int(5) + b"relu_")
    s = DlibStream(data)
    assert [s.read_int() for _ in range(4)] == [0, 300, -5, 3 << 40]
    assert s.read_float() == pytest.approx(0.04, rel=1e-7)
    assert np.isnan(s.read_float())
    assert s.read_bool() is True
    assert s.read_string() == "relu_"
    with pytest.raises(DlibFormatError, match="ends early"):
        s.read_int()


def test_tensor_versions_1_and_2_decode():
    shape = b"".join(encode_int(d) for d in (1, 2, 1, 1))
    raw = encode_int(2) + shape + np.asarray([1.5, -2.0], dtype="<f4").tobytes()
    portable = encode_int(1) + shape + encode_int(3) + encode_int(-1) + encode_int(-1) + encode_int(1)
    assert DlibStream(raw).read_tensor().ravel().tolist() == [1.5, -2.0]
    assert DlibStream(portable).read_tensor().ravel().tolist() == [1.5, -2.0]


def test_architecture_layers_and_parameter_count(parsed):
    ops, loss = parsed
    assert loss["distance_threshold"] == pytest.approx(0.6)
    assert ops[0].config["means"] == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    convs = [op for op in ops if op.kind == "con"]
    assert len(convs) == 1 + 2 * dlib_net.NUM_RESIDUAL_BLOCKS
    assert [c.config["padding"] for c in convs[:3]] == [(0, 0), (1, 1), (1, 1)]  # dlib pads only stride-1 convs
    assert ops[-1].weights["kernel"].shape == (256, 128)
    # 29 convolutions with biases, 29 affine layers, fc 256x128: dlib reports 5,614,592 parameters
    assert sum(w.size for op in ops for w in op.weights.values()) == 5_614_592


def test_damaged_files_are_refused_with_the_place(network_file, tmp_path):
    data = open(network_file, "rb").read()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match="truncated.dat.*byte"):
        dlib_net.read_dlib_network(truncated)
    other = tmp_path / "other.dat"
    other.write_bytes(data.replace(b"loss_metric_2", b"loss_mmod_xx2", 1))
    with pytest.raises(DlibFormatError, match="loss_metric"):
        dlib_net.read_dlib_network(other)


def test_numpy_forward_pass_gives_dlibs_descriptors(parsed, dlib_chips):
    chips, expected = dlib_chips
    ops, _ = parsed
    ours = dlib_net.forward_numpy(ops, chips)
    assert ours.shape == (3, 128)
    assert np.abs(ours - expected).max() <= 1e-4


# ------------------------------------------------------------------------------------------ ONNX Runtime

def test_onnx_graph_gives_dlibs_descriptors_of_faces_and_their_mirror_images(parsed, dlib_chips, dlib_models):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from facerec.backbones.dlib_onnx import DlibOnnxNetwork

    chips, expected = dlib_chips
    network = DlibOnnxNetwork(dlib_models[1].face_recognition_model_location())
    assert np.abs(network.descriptors(chips) - expected).max() <= 1e-5
    mirrored = np.ascontiguousarray(chips[:, :, ::-1])
    dlib_network = dlib_models[0].face_recognition_model_v1(dlib_models[1].face_recognition_model_location())
    dlib_mirrored = np.asarray([np.asarray(v) for v in dlib_network.compute_face_descriptor(list(mirrored))])
    both = network.descriptors(np.concatenate([chips, mirrored]))  # one batch, as test-time flip runs it
    assert np.abs(both - np.concatenate([expected, dlib_mirrored])).max() <= 1e-5


def test_dlib_backbone_engines_embed_mtcnn_faces_of_a_group_photo_alike(dlib_models, detector, core_images):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from facerec.backbones.dlib_backbone import DlibBackbone
    from facerec.album.embed_process import holds_the_gil
    from facerec.vision.imageio import load_image
    from facerec.recognition.pipeline import FacePipeline

    onnx, own = DlibBackbone(engine="onnx"), DlibBackbone(engine="dlib")
    image = load_image(core_images / "group_6.jpg")
    faces = detector.detect(image)
    assert len(faces) >= 4
    chips = np.stack([onnx.align(image, f) for f in faces])
    assert np.abs(onnx.embed(chips) - own.embed(chips)).max() <= 1e-5
    assert (onnx.engine, own.engine, onnx.describe()["engine"]) == ("onnx", "dlib", "onnx")
    # ONNX Runtime lets other threads run while it embeds; dlib's own code needs a child process for that
    assert not holds_the_gil(FacePipeline(onnx, detector=detector))
    assert holds_the_gil(FacePipeline(own, detector=detector))


def test_dlib_engine_setting_is_checked(dlib_models, monkeypatch):
    from facerec.backbones.dlib_backbone import choose_dlib_engine
    from facerec.errors import FacerecError, MissingExtraError

    monkeypatch.setenv("FACEREC_DLIB_ENGINE", "tensorrt")
    with pytest.raises(FacerecError, match="tensorrt"):
        choose_dlib_engine()
    monkeypatch.setenv("FACEREC_DLIB_ENGINE", "dlib")
    assert choose_dlib_engine() == "dlib" and choose_dlib_engine("auto") in ("onnx", "dlib")
    monkeypatch.setattr("facerec.backbones.dlib_onnx.onnxruntime_available", lambda: False)  # no `onnx` extra
    assert choose_dlib_engine("auto") == "dlib"
    with pytest.raises(MissingExtraError, match="onnx"):
        choose_dlib_engine("onnx")


# ------------------------------------------------------------------------------------------ Keras

@pytest.fixture(scope="session")
def keras_backbone(dlib_models):
    from facerec.backbones import get_backbone

    return get_backbone("dlib-keras")


def test_keras_model_loads_every_layer_and_gives_dlibs_descriptors(keras_backbone, dlib_chips):
    chips, expected = dlib_chips
    model = keras_backbone.model
    assert model.count_params() == 5_614_592
    assert model.output_shape == (None, 128)
    assert model.get_layer("res13_add_prev1").output.shape == (None, 2, 2, 256)  # 1x1 main branch + 2x2 shortcut
    ours = keras_backbone.descriptors(chips)
    assert np.abs(ours - expected).max() <= 1e-4


def test_a_wrong_shape_is_refused(parsed):
    from facerec.backbones import dlib_keras
    from facerec.errors import WeightsError

    ops, _ = parsed
    model = dlib_keras.build_model(ops)
    broken = [dlib_net.Op(op.kind, dict(op.config), dict(op.weights), op.name) for op in ops]
    fc = broken[-1]
    fc.weights["kernel"] = fc.weights["kernel"][:, :64]
    with pytest.raises(WeightsError, match="fc"):
        dlib_keras.load_dlib_weights(model, broken)


def test_backbone_uses_dlibs_chips_and_embeds_in_batches(keras_backbone, detector, core_images):
    from facerec.backbones import get_backbone
    from facerec.vision.imageio import load_image

    reference = get_backbone("dlib")
    image = load_image(core_images / "group_3.jpg")
    faces = detector.detect(image)
    assert len(faces) >= 2
    chips = np.stack([keras_backbone.align(image, f) for f in faces])
    assert np.array_equal(chips, np.stack([reference.align(image, f) for f in faces]))
    keras_backbone.batch_size = 2  # more faces than one batch holds
    batched = keras_backbone.embed(chips)
    assert np.abs(batched - reference.embed(chips)).max() <= 1e-4
    assert np.allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    assert np.abs(keras_backbone.embed(chips[-1]) - batched[-1:]).max() <= 1e-5
    assert keras_backbone.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    assert keras_backbone.describe()["device"] in ("CPU:0", "GPU:0")


def test_fine_tuning_blocks_end_with_the_descriptor_layer():
    from facerec.backbones import dlib_keras

    assert dlib_keras.last_block_layers(0) == ["fc"]
    assert dlib_keras.last_block_layers(1) == ["res13_con1", "res13_affine1", "res13_con2", "res13_affine2", "fc"]
    assert len(dlib_keras.last_block_layers(99)) == 2 * 2 * dlib_net.NUM_RESIDUAL_BLOCKS + 1


def test_info_says_where_dlib_keras_runs(dlib_models):
    from facerec.cli.commands.info import backbone_status
    from facerec.device import tensorflow_device

    rows = {row["name"]: row for row in backbone_status() if not row["variant"]}
    assert rows["dlib-keras"]["present"] and rows["dlib-keras"]["device"] == tensorflow_device()
    assert rows["dlib"]["device"] in ("CPU (ONNX Runtime)", "CPU (dlib)", "CUDA (dlib)")
