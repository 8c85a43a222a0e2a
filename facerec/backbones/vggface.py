"""VGGFace (vgg16) and VGGFace2 (resnet50, senet50) networks on Keras 3.

Architectures follow rcmalli/keras-vggface `models.py` layer for layer (same filters, strides,
bias flags, BatchNormalization epsilons, squeeze-excitation blocks and top layers), so its
published weights load into them. Layer names are the originals with '/' replaced by '__'
(`weights.keras_layer_name`), because Keras 3 rejects '/'.

Embeddings: vgg16 uses the fc7 activations (4096-d, after ReLU), the usual VGGFace descriptor;
resnet50/senet50 use the 2048-d average-pooled features of the network without its classifier.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import keras
import numpy as np
from keras import layers

from facerec.backbones.base import Backbone
from facerec.vectors import l2_normalise
from facerec.backbones.weights import (
    EMBEDDING_INCLUDES_TOP,
    NETWORKS,
    check_network,
    keras_layer_name,
    load_vggface_weights,
    original_layer_name,
    resolve_weights,
)

__all__ = [
    "NETWORKS", "CLASSES", "EMBEDDING_SIZE", "VGGFaceBackbone", "build_model", "vgg16", "resnet50", "senet50",
    "feature_model", "bottleneck_model", "embedding_model", "last_block_layers", "block_layer_names", "preprocess_input",
    "preprocess_version", "keras_layer_name", "original_layer_name",
]

Pooling = Literal["avg", "max"] | None

DEFAULT_INPUT_SHAPE = (224, 224, 3)
CLASSES: dict[str, int] = {"vgg16": 2622, "resnet50": 8631, "senet50": 8631}  # VGGFace: 2622 people, VGGFace2: 8631
EMBEDDING_SIZE: dict[str, int] = {"vgg16": 4096, "resnet50": 2048, "senet50": 2048}
VGG16_EMBEDDING_LAYER = keras_layer_name("fc7/relu")

# Mean pixel values in BGR order, subtracted after RGB -> BGR (keras-vggface utils.preprocess_input).
MEANS_BGR: dict[int, tuple[float, float, float]] = {
    1: (93.5940, 104.7624, 129.1863),  # VGGFace (vgg16)
    2: (91.4953, 103.8827, 131.0912),  # VGGFace2 (resnet50, senet50)
}
PREPROCESS_VERSION: dict[str, int] = {"vgg16": 1, "resnet50": 2, "senet50": 2}

# (stage, number of blocks, filters) of the ResNet-50 trunk shared by resnet50 and senet50.
RESNET_STAGES: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (2, 3, (64, 64, 256)),
    (3, 4, (128, 128, 512)),
    (4, 6, (256, 256, 1024)),
    (5, 3, (512, 512, 2048)),
)
VGG16_CONV_BLOCKS: tuple[tuple[int, int, int], ...] = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
SENET_BN_EPSILON = 1e-4  # senet50 overrides Keras' default 1e-3; resnet50 keeps the default
DEFAULT_BN_EPSILON = 1e-3


# ------------------------------------------------------------------------------------ preprocessing

def preprocess_version(name_or_version: str | int) -> int:
    if isinstance(name_or_version, str):
        return PREPROCESS_VERSION[check_network(name_or_version)]
    if name_or_version not in MEANS_BGR:
        raise ValueError(f"preprocessing version must be 1 (VGGFace) or 2 (VGGFace2), got {name_or_version!r}")
    return int(name_or_version)


def preprocess_input(x: np.ndarray, version: str | int) -> np.ndarray:
    """RGB images (..., 3), uint8 or float -> float32 BGR minus the training mean (version 1, 2 or a network name)."""
    means = np.asarray(MEANS_BGR[preprocess_version(version)], dtype=np.float32)
    bgr = np.asarray(x, dtype=np.float32)[..., ::-1]
    return bgr - means


# --------------------------------------------------------------------------------------- networks

def _name(original: str) -> str:
    return keras_layer_name(original)


def _conv_bn(x, filters: int, kernel: int, name: str, *, strides: int = 1, epsilon: float) -> keras.KerasTensor:
    """Bias-free convolution + BatchNormalization named `name` and `name/bn`, as in keras-vggface."""
    padding = "same" if kernel > 1 else "valid"
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=_name(name))(x)
    return layers.BatchNormalization(axis=3, epsilon=epsilon, name=_name(name + "/bn"))(x)


def _squeeze_excite(x, stage: int, block: int, compress_rate: int = 16) -> keras.KerasTensor:
    channels = int(x.shape[-1])
    se = layers.GlobalAveragePooling2D()(x)
    se = layers.Reshape((1, 1, channels))(se)
    se = layers.Conv2D(channels // compress_rate, 1, use_bias=True, name=f"conv{stage}_{block}_1x1_down")(se)
    se = layers.Activation("relu")(se)
    se = layers.Conv2D(channels, 1, use_bias=True, name=f"conv{stage}_{block}_1x1_up")(se)
    se = layers.Activation("sigmoid")(se)
    return layers.multiply([x, se])


def _bottleneck_block(x, filters: tuple[int, int, int], stage: int, block: int, *, strides: int,
                      projection: bool, squeeze_excite: bool, epsilon: float) -> keras.KerasTensor:
    """keras-vggface resnet/senet conv block (projection=True) or identity block; the stride sits on the 1x1 reduce."""
    f_reduce, f_3x3, f_increase = filters
    prefix = f"conv{stage}_{block}"
    y = _conv_bn(x, f_reduce, 1, f"{prefix}_1x1_reduce", strides=strides, epsilon=epsilon)
    y = layers.Activation("relu")(y)
    y = _conv_bn(y, f_3x3, 3, f"{prefix}_3x3", epsilon=epsilon)
    y = layers.Activation("relu")(y)
    y = _conv_bn(y, f_increase, 1, f"{prefix}_1x1_increase", epsilon=epsilon)
    if squeeze_excite:
        y = _squeeze_excite(y, stage, block)
    shortcut = x
    if projection:
        shortcut = _conv_bn(x, f_increase, 1, f"{prefix}_1x1_proj", strides=strides, epsilon=epsilon)
    y = layers.add([y, shortcut])
    return layers.Activation("relu")(y)


def _global_pooling(x, pooling: Pooling) -> keras.KerasTensor:
    if pooling == "avg":
        return layers.GlobalAveragePooling2D()(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D()(x)
    if pooling is not None:
        raise ValueError(f"pooling must be 'avg', 'max' or None, got {pooling!r}")
    return x


def vgg16(include_top: bool = True, pooling: Pooling = None, input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE,
          classes: int = CLASSES["vgg16"]) -> keras.Model:
    """VGGFace (v1) VGG-16: conv1_1..conv5_3, pool5, then fc6, fc7, fc8 (+ReLU/softmax) with the top."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for stage, n_convs, filters in VGG16_CONV_BLOCKS:
        for i in range(1, n_convs + 1):
            x = layers.Conv2D(filters, 3, activation="relu", padding="same", name=f"conv{stage}_{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{stage}")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, name="fc6")(x)
        x = layers.Activation("relu", name=_name("fc6/relu"))(x)
        x = layers.Dense(4096, name="fc7")(x)
        x = layers.Activation("relu", name=_name("fc7/relu"))(x)
        x = layers.Dense(classes, name="fc8")(x)
        x = layers.Activation("softmax", name=_name("fc8/softmax"))(x)
    else:
        x = _global_pooling(x, pooling)
    return keras.Model(inputs, x, name="vggface_vgg16")


def _resnet_trunk(name: str, include_top: bool, pooling: Pooling, input_shape: tuple[int, int, int],
                  classes: int, squeeze_excite: bool) -> keras.Model:
    epsilon = SENET_BN_EPSILON if squeeze_excite else DEFAULT_BN_EPSILON
    inputs = keras.Input(shape=input_shape)
    x = _conv_bn(inputs, 64, 7, "conv1/7x7_s2", strides=2, epsilon=epsilon)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    for stage, n_blocks, filters in RESNET_STAGES:
        for block in range(1, n_blocks + 1):
            first = block == 1
            strides = 2 if first and stage > 2 else 1  # stage 2 follows the max-pool and keeps its size
            x = _bottleneck_block(x, filters, stage, block, strides=strides, projection=first,
                                  squeeze_excite=squeeze_excite, epsilon=epsilon)
    x = layers.AveragePooling2D(7, name="avg_pool")(x)
    if include_top:
        x = layers.Flatten()(x)
        x = layers.Dense(classes, activation="softmax", name="classifier")(x)
    else:
        x = _global_pooling(x, pooling)
    return keras.Model(inputs, x, name=f"vggface_{name}")


def resnet50(include_top: bool = True, pooling: Pooling = None,
             input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE, classes: int = CLASSES["resnet50"]) -> keras.Model:
    """VGGFace2 ResNet-50 (bias-free convolutions, 8631 classes with the top)."""
    return _resnet_trunk("resnet50", include_top, pooling, input_shape, classes, squeeze_excite=False)


def senet50(include_top: bool = True, pooling: Pooling = None,
            input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE, classes: int = CLASSES["senet50"]) -> keras.Model:
    """VGGFace2 SE-ResNet-50: resnet50 plus a squeeze-excitation block per residual block."""
    return _resnet_trunk("senet50", include_top, pooling, input_shape, classes, squeeze_excite=True)


BUILDERS = {"vgg16": vgg16, "resnet50": resnet50, "senet50": senet50}


def build_model(name: str, include_top: bool = True, pooling: Pooling = None,
                input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE, classes: int | None = None) -> keras.Model:
    """A randomly initialised keras-vggface network by name ('vgg16', 'resnet50', 'senet50')."""
    builder = BUILDERS[check_network(name)]
    return builder(include_top=include_top, pooling=pooling, input_shape=tuple(input_shape),
                   classes=CLASSES[name] if classes is None else classes)


# ------------------------------------------------------------------------------ embedding models

def _embedding_source_model(name: str, input_shape: tuple[int, int, int]) -> keras.Model:
    """The network whose weights file the embedding uses (see weights.EMBEDDING_INCLUDES_TOP)."""
    if EMBEDDING_INCLUDES_TOP[name]:
        return build_model(name, include_top=True, input_shape=input_shape)
    return build_model(name, include_top=False, pooling="avg", input_shape=input_shape)


def embedding_model(name: str, model: keras.Model) -> keras.Model:
    """The embedding part of a built network: vgg16 with its top is cut after fc7/relu; the resnet50 and
    senet50 networks built without top and with pooling='avg' already end in their embedding."""
    check_network(name)
    if name == "vgg16":
        return keras.Model(model.inputs, model.get_layer(VGG16_EMBEDDING_LAYER).output, name="vggface_vgg16_fc7")
    return model


def feature_model(name: str, input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE) -> keras.Model:
    """Randomly initialised network that outputs the embedding (vgg16: fc7/relu 4096-d; others: 2048-d avg pool)."""
    check_network(name)
    return embedding_model(name, _embedding_source_model(name, tuple(input_shape)))


def bottleneck_model(name: str, weights: str | Path | None = None,
                     input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE) -> keras.Model:
    """Embedding network with weights: a path, None (find or download the published file) or "random".

    Its output is the embedding layer, for transfer-learning heads; `last_block_layers` names the
    layers fine-tuning may unfreeze.
    """
    check_network(name)
    source = _embedding_source_model(name, tuple(input_shape))
    if not (isinstance(weights, str) and weights == "random"):
        path = resolve_weights(name, include_top=EMBEDDING_INCLUDES_TOP[name], weights_path=weights)
        load_vggface_weights(source, path)
    return embedding_model(name, source)


def block_layer_names(name: str) -> list[list[str]]:
    """Layer names (ours) of the embedding network grouped in blocks, from the input to the embedding.

    vgg16: conv1..conv5 (each with its pool), then fc6 and fc7. resnet50/senet50: the conv1 stem,
    then every residual block conv{stage}_{block} (convolutions, their BatchNormalization and, for
    senet50, the squeeze-excitation convolutions). Unnamed weightless layers (ReLU, add) are left out.
    """
    check_network(name)
    if name == "vgg16":
        blocks = [[f"conv{stage}_{i}" for i in range(1, n + 1)] + [f"pool{stage}"] for stage, n, _ in VGG16_CONV_BLOCKS]
        blocks.append(["flatten", "fc6", _name("fc6/relu")])
        blocks.append(["fc7", _name("fc7/relu")])
        return blocks
    blocks = [[_name("conv1/7x7_s2"), _name("conv1/7x7_s2/bn")]]
    for stage, n_blocks, _ in RESNET_STAGES:
        for block in range(1, n_blocks + 1):
            prefix = f"conv{stage}_{block}"
            convs = [f"{prefix}_1x1_reduce", f"{prefix}_3x3", f"{prefix}_1x1_increase"]
            if block == 1:
                convs.append(f"{prefix}_1x1_proj")
            names = [n for conv in convs for n in (conv, _name(conv + "/bn"))]
            if name == "senet50":
                names += [f"{prefix}_1x1_down", f"{prefix}_1x1_up"]
            blocks.append(names)
    return blocks


def last_block_layers(name: str, n_blocks: int) -> list[str]:
    """Names of the layers in the last `n_blocks` blocks of the embedding network (for fine-tuning)."""
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    blocks = block_layer_names(name)
    chosen = blocks[len(blocks) - min(n_blocks, len(blocks)):]
    return [layer for block in chosen for layer in block]


# ------------------------------------------------------------------------------------- backbone

class VGGFaceBackbone(Backbone):
    """A keras-vggface network as a facerec Backbone: 224x224 RGB chips -> L2-normalised embeddings.

    Chips are the loose, unaligned crops the networks were trained on (facerec.vision.align.loose_crop: the MTCNN
    box extended by 30 %, centre 224/256), not landmark-aligned ones: VGGFace2 never saw aligned faces."""

    input_size = 224

    def align(self, image: np.ndarray, face) -> np.ndarray:
        from facerec.vision.align import loose_crop

        return loose_crop(image, face.box, size=self.input_size)

    def __init__(self, name: str, weights: str | Path | None = None, batch_size: int = 16):
        check_network(name)
        self.name = name
        self.embedding_size = EMBEDDING_SIZE[name]
        self.batch_size = batch_size
        self.weights_path: Path | None = None  # None: random weights
        if not (isinstance(weights, str) and weights == "random"):
            self.weights_path = resolve_weights(name, include_top=EMBEDDING_INCLUDES_TOP[name], weights_path=weights)
        self.model = bottleneck_model(name, self.weights_path if self.weights_path else "random")
        self._predict = None

    def embed(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[np.newaxis]
        if chips.ndim != 4 or chips.shape[-1] != 3:
            raise ValueError(f"expected RGB chips of shape (n, {self.input_size}, {self.input_size}, 3), got {chips.shape}")
        if chips.shape[0] == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        chips = self._resize(chips)
        outputs = []
        for start in range(0, len(chips), self.batch_size):
            batch = preprocess_input(chips[start:start + self.batch_size], self.name)
            outputs.append(np.asarray(self.predict(batch), dtype=np.float32))
        return l2_normalise(np.concatenate(outputs).reshape(len(chips), -1))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Forward pass on preprocessed float32 images.

        On TensorFlow one graph with a free batch dimension is traced once, so batches of every size
        (the last one is usually smaller) reuse it instead of retracing the network.
        """
        if self._predict is None:
            self._predict = self._make_predict()
        return self._predict(batch)

    def _make_predict(self):
        if keras.backend.backend() != "tensorflow":
            return self.model.predict_on_batch
        import tensorflow as tf

        size = self.input_size
        spec = tf.TensorSpec((None, size, size, 3), tf.float32)
        forward = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        return lambda batch: forward(tf.convert_to_tensor(batch, tf.float32)).numpy()

    def _resize(self, chips: np.ndarray) -> np.ndarray:
        """Chips from `align` already have the right size; others are resized rather than rejected."""
        size = self.input_size
        if chips.shape[1:3] == (size, size):
            return chips
        import cv2

        return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in chips])

    def describe(self) -> dict:
        info = super().describe()
        info["weights"] = str(self.weights_path) if self.weights_path else "random"
        return info


def keras_base(name: str):
    """The registry's fine-tuning hook for vgg16, resnet50 and senet50."""
    from facerec.backbones.base import KerasBase

    return KerasBase(lambda weights: bottleneck_model(name, weights), lambda n: last_block_layers(name, n),
                     lambda chips: preprocess_input(chips, name), lambda model, n: (None, model))
