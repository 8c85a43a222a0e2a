"""dlib's serialized face network read in numpy: the format, the architecture, and the same descriptors as dlib."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.backbones import dlib_net
from facerec.backbones.dlib_net import DlibFormatError, DlibStream

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
