"""Weights: resolving files offline, the strict Keras-2-HDF5 -> Keras 3 name mapping, sha256 guard.

The .h5 files here are written with h5py exactly as Keras 2 `save_weights` lays them out, under the
ORIGINAL keras-vggface layer names (with '/'), so the mapping code sees what the published files hold.
Nothing here touches the network: conftest sets FACEREC_OFFLINE and a temporary FACEREC_HOME.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from facerec.backbones import vggface, weights
from facerec.errors import WeightsError

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)


@pytest.fixture(autouse=True)
def no_other_weights(tmp_path, monkeypatch):
    """Only the folders a test sets up may hold weights: not ~/.keras, not the repo's models/."""
    monkeypatch.setattr(weights, "REPO_MODELS_DIR", tmp_path / "repo_models")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("FACEREC_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("FACEREC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACEREC_OFFLINE", "1")


# ------------------------------------------------------------------------------ Keras 2 file writer

@dataclass
class Planted:
    """What a test writes into one dataset: small arrays in full; big ones as a unique fill value plus one
    random row (keeps files and runtime small, yet a weight landing in the wrong variable is caught)."""

    shape: tuple[int, ...]
    fill: float = 0.0
    data: np.ndarray | None = None  # the whole array (small arrays)
    row: np.ndarray | None = None  # written at index (0, ..., 0, :) of a big array

    def expected(self) -> np.ndarray:
        if self.data is not None:
            return self.data
        out = np.full(self.shape, self.fill, dtype=np.float32)
        if self.row is not None:
            out[(0,) * (len(self.shape) - 1)] = self.row
        return out


def plant(shape: tuple[int, ...], rng: np.random.Generator | None, fill: float) -> Planted:
    if rng is None:  # shape only: nothing is written (cheap, for loads that must fail before reading)
        return Planted(shape)
    if len(shape) < 2 or int(np.prod(shape)) <= 1 << 15:
        return Planted(shape, data=rng.standard_normal(shape, dtype=np.float32))
    return Planted(shape, fill=fill, row=rng.standard_normal(shape[-1], dtype=np.float32))


def keras2_layers_from_model(model: keras.Model, rng: np.random.Generator | None,
                             ) -> list[tuple[str, list[tuple[str, Planted]]]]:
    """(original layer name, [(Keras 2 weight name, Planted)]) for every layer, weightless ones included."""
    spec = []
    for layer in model.layers:
        original = weights.original_layer_name(layer.name)
        entries = []
        for variable in layer.weights:
            fill = 0.25 + 1e-3 * sum(len(e) for _, e in spec) + 1e-3 * len(entries)  # unique per dataset
            entries.append((f"{original}/{variable.name}:0", plant(tuple(variable.shape), rng, fill)))
        spec.append((original, entries))
    return spec


def write_keras2_h5(path: Path, spec, *, full_model: bool = False, chunk_names: int = 0) -> Path:
    """Write `spec` in Keras 2 HDF5 layout ('/' in a name makes nested groups, as h5py and Keras 2 did)."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        names = np.array([name.encode("utf8") for name, _ in spec])
        if chunk_names:  # Keras 2 splits attributes over 64 KiB into layer_names0, layer_names1, ...
            for i, part in enumerate(np.array_split(names, chunk_names)):
                root.attrs[f"layer_names{i}"] = part
        else:
            root.attrs["layer_names"] = names
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name, entries in spec:
            group = root.require_group(name)
            group.attrs["weight_names"] = np.array([w.encode("utf8") for w, _ in entries], dtype="S")
            for weight_name, planted in entries:
                if planted.data is not None:
                    group.create_dataset(weight_name, data=planted.data)
                    continue
                dataset = group.create_dataset(weight_name, shape=planted.shape, dtype="float32",
                                               chunks=planted.row is not None or None, fillvalue=planted.fill)
                if planted.row is not None:
                    dataset[(0,) * (len(planted.shape) - 1)] = planted.row
    return path


def file_values(spec) -> dict[str, np.ndarray]:
    """Our variable path ('conv1__7x7_s2__bn/gamma') -> the value written for it."""
    out = {}
    for name, entries in spec:
        for weight_name, planted in entries:
            out[f"{weights.keras_layer_name(name)}/{weights.short_weight_name(weight_name)}"] = planted.expected()
    return out


def assert_model_equals_file(model: keras.Model, spec) -> None:
    expected = file_values(spec)
    variables = [v for layer in model.layers for v in layer.weights]
    assert len(variables) == len(expected)
    for variable in variables:
        np.testing.assert_array_equal(variable.numpy(), expected[variable.path], err_msg=variable.path)


# ----------------------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def resnet50_top_small():
    """resnet50 with the top, 16 classes: every trunk layer plus the 'classifier' Dense."""
    return vggface.build_model("resnet50", include_top=True, classes=16)


# -------------------------------------------------------------------------------------- mapping

def test_vgg16_with_top_maps_every_layer(tmp_path):
    # 48x48 is the smallest input keras-vggface allows; fc6 then has 512 inputs instead of 25088.
    model = vggface.build_model("vgg16", include_top=True, input_shape=(48, 48, 3))
    spec = keras2_layers_from_model(model, np.random.default_rng(0))
    names = [name for name, entries in spec if entries]
    assert {"fc6", "fc7", "fc8", "conv5_3"} <= set(names)
    assert "fc7/relu" in [name for name, _ in spec]  # the '/' names really are in the file
    path = write_keras2_h5(tmp_path / "vgg16.h5", spec)
    weights.load_vggface_weights(model, path)
    assert_model_equals_file(model, spec)


def test_resnet50_full_model_save_maps_every_layer(tmp_path, resnet50_top_small):
    spec = keras2_layers_from_model(resnet50_top_small, np.random.default_rng(1))
    with h5py.File(write_keras2_h5(tmp_path / "resnet50.h5", spec, full_model=True), "r") as f:
        assert "conv1/7x7_s2/bn" in f["model_weights"]  # nested groups, as Keras 2 wrote them
    weights.load_vggface_weights(resnet50_top_small, tmp_path / "resnet50.h5")
    assert_model_equals_file(resnet50_top_small, spec)
    bn = resnet50_top_small.get_layer("conv2_1_1x1_proj__bn")
    assert [v.name for v in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_senet50_file_loads_through_bottleneck_model(tmp_path):
    """The published notop file's layout (here with chunked layer_names) into the embedding network."""
    spec = keras2_layers_from_model(vggface.feature_model("senet50"), np.random.default_rng(2))
    path = write_keras2_h5(tmp_path / "rcmalli_vggface_tf_notop_senet50.h5", spec, chunk_names=3)
    model = vggface.bottleneck_model("senet50", weights=path)
    assert model.output_shape == (None, 2048)
    assert_model_equals_file(model, spec)
    assert [w for w, _ in dict(spec)["conv5_3_1x1_up"]] == ["conv5_3_1x1_up/kernel:0", "conv5_3_1x1_up/bias:0"]


def test_weights_are_matched_by_name_not_file_order(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv1__7x7_s2")(inputs)
    x = keras.layers.BatchNormalization(name="conv1__7x7_s2__bn")(x)
    model = keras.Model(inputs, x)
    spec = keras2_layers_from_model(model, np.random.default_rng(3))
    bn_name, bn_entries = spec[-1]
    spec[-1] = (bn_name, bn_entries[::-1])  # moving_variance first
    weights.load_vggface_weights(model, write_keras2_h5(tmp_path / "w.h5", spec))
    assert_model_equals_file(model, spec)


# ---------------------------------------------------------------------------- mismatches refused

def failing_load(model, path) -> str:
    before = model.get_layer("conv1__7x7_s2").weights[0].numpy().copy()
    with pytest.raises(WeightsError) as info:
        weights.load_vggface_weights(model, path)
    np.testing.assert_array_equal(model.get_layer("conv1__7x7_s2").weights[0].numpy(), before)  # all or nothing
    message = str(info.value)
    assert str(path) in message
    return message


def test_file_missing_a_layer_is_refused(tmp_path, resnet50_top_small):
    spec = [(n, e) for n, e in keras2_layers_from_model(resnet50_top_small, None) if n != "conv4_2_3x3/bn"]
    message = failing_load(resnet50_top_small, write_keras2_h5(tmp_path / "missing.h5", spec))
    assert "has no weights for (1): conv4_2_3x3/bn" in message


def test_file_with_an_extra_layer_is_refused(tmp_path, resnet50_top_small):
    spec = keras2_layers_from_model(resnet50_top_small, None)
    spec.append(("fc9", [("fc9/kernel:0", Planted((2048, 3))), ("fc9/bias:0", Planted((3,)))]))
    message = failing_load(resnet50_top_small, write_keras2_h5(tmp_path / "extra.h5", spec))
    assert "the network does not have (1): fc9" in message


def test_file_with_a_wrong_shape_is_refused(tmp_path, resnet50_top_small):
    spec = keras2_layers_from_model(resnet50_top_small, None)
    spec = [(n, [(w, Planted((2048, 8631)) if n == "classifier" and w.endswith("kernel:0") else v) for w, v in e])
            for n, e in spec]
    message = failing_load(resnet50_top_small, write_keras2_h5(tmp_path / "shape.h5", spec))
    assert "classifier/kernel: file shape (2048, 8631), model classifier/kernel shape (2048, 16)" in message


def test_notop_file_in_a_top_model_names_the_classifier(tmp_path, resnet50_top_small):
    spec = [(n, e) for n, e in keras2_layers_from_model(resnet50_top_small, None) if n != "classifier"]
    message = failing_load(resnet50_top_small, write_keras2_h5(tmp_path / "notop.h5", spec))
    assert "has no weights for (1): classifier" in message


def test_not_a_keras2_file_is_refused(tmp_path, resnet50_top_small):
    keras3_style = tmp_path / "model.weights.h5"
    with h5py.File(keras3_style, "w") as f:
        f.create_group("layers/conv1__7x7_s2/vars").create_dataset("0", data=np.zeros(3, np.float32))
    assert "not a Keras 2 HDF5 weights file" in failing_load(resnet50_top_small, keras3_style)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert "truncated or corrupt" in failing_load(resnet50_top_small, truncated)


# ------------------------------------------------------------------------------------ resolving

def failing_download(filename, url, dest_dir):
    raise OSError("Temporary failure in name resolution")


def test_offline_error_says_what_to_download_and_where(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEREC_OFFLINE")
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights("senet50", include_top=False, download=failing_download)
    message = str(info.value)
    url = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/rcmalli_vggface_tf_notop_senet50.h5"
    assert url in message
    assert str(tmp_path / "home" / "weights" / "rcmalli_vggface_tf_notop_senet50.h5") in message
    assert "Temporary failure in name resolution" in message
    assert "--weights PATH" in message and "FACEREC_WEIGHTS_DIR" in message
    assert info.value.exit_code == 4


def test_offline_flag_prevents_any_download_attempt():
    def must_not_run(*args):
        raise AssertionError("download attempted although FACEREC_OFFLINE is set")

    with pytest.raises(WeightsError, match="rcmalli_vggface_tf_vgg16.h5"):
        weights.resolve_weights("vgg16", include_top=True, download=must_not_run)


def test_successful_download_goes_to_the_weights_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEREC_OFFLINE")
    calls = []

    def fake_download(filename, url, dest_dir):
        calls.append((filename, url, dest_dir))
        dest_dir.mkdir(parents=True)
        (dest_dir / filename).write_bytes(b"weights")
        return dest_dir / filename

    path = weights.resolve_weights("resnet50", include_top=True, download=fake_download)
    assert path == tmp_path / "home" / "weights" / "rcmalli_vggface_tf_resnet50.h5"
    assert calls == [("rcmalli_vggface_tf_resnet50.h5", weights.weights_url("resnet50", True), path.parent)]
    assert weights.resolve_weights("resnet50", include_top=True, download=failing_download) == path  # cached now


def test_explicit_path_and_weights_dir_are_honoured(monkeypatch, tmp_path):
    explicit = tmp_path / "my_weights.h5"
    explicit.write_bytes(b"x")
    assert weights.resolve_weights("senet50", False, explicit, download=failing_download) == explicit
    with pytest.raises(WeightsError, match="weights file not found"):
        weights.resolve_weights("senet50", False, tmp_path / "nope.h5", download=failing_download)

    folder = tmp_path / "offline_copy"
    folder.mkdir()
    placed = folder / "rcmalli_vggface_tf_notop_senet50.h5"
    placed.write_bytes(b"x")
    assert weights.resolve_weights("senet50", False, folder) == placed  # a folder as --weights
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(folder))
    assert weights.resolve_weights("senet50", False, download=failing_download) == placed
    with pytest.raises(WeightsError):  # the top file is a different file
        weights.resolve_weights("senet50", True, download=failing_download)


def test_repo_models_folder_and_keras_vggface_cache_are_searched(tmp_path):
    legacy = tmp_path / "keras_home" / "models" / "vggface" / "rcmalli_vggface_tf_notop_resnet50.h5"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"x")
    assert weights.resolve_weights("resnet50", False) == legacy
    in_repo = tmp_path / "repo_models" / "rcmalli_vggface_tf_notop_resnet50.h5"
    in_repo.parent.mkdir()
    in_repo.write_bytes(b"x")
    assert weights.resolve_weights("resnet50", False) == in_repo


def test_weights_status_lists_every_file(monkeypatch, tmp_path):
    rows = weights.weights_status()
    assert len(rows) == 6 and not any(r["present"] for r in rows)
    assert {r["file"] for r in rows} == weights.PUBLISHED_FILENAMES
    assert {(r["variant"], r["file"]) for r in rows if r["backbone"] == "senet50"} == {
        ("top", "rcmalli_vggface_tf_senet50.h5"), ("notop", "rcmalli_vggface_tf_notop_senet50.h5")}
    used = {(r["backbone"], r["include_top"]) for r in rows if r["used_for_embedding"]}
    assert used == {("vgg16", True), ("resnet50", False), ("senet50", False)}
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "rcmalli_vggface_tf_vgg16.h5").write_bytes(b"x")
    vgg = next(r for r in weights.weights_status() if r["file"] == "rcmalli_vggface_tf_vgg16.h5")
    assert vgg["present"] and vgg["path"] == str(tmp_path / "rcmalli_vggface_tf_vgg16.h5")


# --------------------------------------------------------------------------------------- sha256

def tiny_model() -> keras.Model:
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 3, name="conv1_1")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="fc6")(keras.layers.Flatten(name="flatten")(x)))


def test_sha256_recorded_on_first_load_and_a_changed_file_refused(tmp_path):
    model = tiny_model()
    spec = keras2_layers_from_model(model, np.random.default_rng(4))
    path = write_keras2_h5(tmp_path / "rcmalli_vggface_tf_vgg16.h5", spec)
    weights.load_vggface_weights(model, path)
    registry = json.loads(weights.sha256_registry_path().read_text())
    assert registry == {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    assert weights.sha256_registry_path() == tmp_path / "home" / "weights" / "weights.sha256.json"

    weights.load_vggface_weights(model, path)  # unchanged: loads again
    with h5py.File(path, "r+") as f:
        f["fc6/fc6/bias:0"][0] += 1.0
    with pytest.raises(WeightsError) as info:
        weights.load_vggface_weights(model, path)
    assert "has changed since it was first loaded" in str(info.value)
    assert "Delete it and download it again" in str(info.value)
    assert registry[path.name] in str(info.value)


def test_own_files_are_not_hash_tracked(tmp_path):
    model = tiny_model()
    path = write_keras2_h5(tmp_path / "finetuned.h5", keras2_layers_from_model(model, np.random.default_rng(5)))
    weights.load_vggface_weights(model, path)
    assert not weights.sha256_registry_path().exists()


def test_backbone_without_weights_offline_is_a_weights_error():
    with pytest.raises(WeightsError, match="rcmalli_vggface_tf_notop_resnet50.h5"):
        vggface.VGGFaceBackbone("resnet50")  # nothing installed, downloads disabled


def test_nan_or_infinite_weights_are_refused_and_the_model_left_untouched(tmp_path):
    model = vggface.build_model("vgg16", include_top=True, input_shape=(48, 48, 3))
    before = [v.numpy().copy() for v in model.weights]
    for bad in (np.nan, np.inf):
        spec = keras2_layers_from_model(model, np.random.default_rng(0))
        planted = dict(next(entries for name, entries in spec if name == "conv1_1"))["conv1_1/bias:0"]
        planted.data[3] = bad
        path = write_keras2_h5(tmp_path / "broken.h5", spec)
        with pytest.raises(WeightsError, match="NaN or infinite weights.*conv1_1"):
            weights.load_vggface_weights(model, path)
        assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.weights))
