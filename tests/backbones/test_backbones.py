"""VGGFace / VGGFace2 networks on Keras 3: architecture, names, preprocessing and the Backbone wrapper.

The published weights cannot be downloaded here, so networks are built with random weights; the
parameter counts below are those of keras-vggface's models (vgg16's is worked out in the test).
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerec.backbones import vggface
from facerec.backbones.weights import keras_layer_name, original_layer_name

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)


@pytest.fixture(scope="module")
def models():
    """Each architecture built once per module: (name, include_top) -> model (notop with pooling='avg')."""
    built = {}
    for name in vggface.NETWORKS:
        for include_top in (True, False):
            built[name, include_top] = vggface.build_model(name, include_top=include_top,
                                                           pooling=None if include_top else "avg")
    return built


def vgg16_parameter_count(classes: int) -> int:
    conv_in_out = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                   (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    convs = sum(3 * 3 * cin * cout + cout for cin, cout in conv_in_out)
    dense = (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * classes + classes)
    return convs + dense


@pytest.mark.parametrize("name, include_top, output_shape, parameters", [
    ("vgg16", True, (None, 2622), vgg16_parameter_count(2622)),  # 145,002,878
    ("vgg16", False, (None, 512), 14_714_688),
    ("resnet50", True, (None, 8631), 41_246_071),
    ("resnet50", False, (None, 2048), 23_561_152),
    ("senet50", True, (None, 8631), 43_777_063),
    ("senet50", False, (None, 2048), 26_092_144),
])
def test_architecture_shapes_and_sizes(models, name, include_top, output_shape, parameters):
    model = models[name, include_top]
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == output_shape
    assert model.count_params() == parameters


def test_top_and_notop_differ_only_by_the_classifier(models):
    for name, top_layers in [("vgg16", {"fc6", "fc7", "fc8"}), ("resnet50", {"classifier"}),
                             ("senet50", {"classifier"})]:
        with_top = {layer.name for layer in models[name, True].layers if layer.weights}
        without = {layer.name for layer in models[name, False].layers if layer.weights}
        assert with_top - without == top_layers
        assert without <= with_top


def test_layer_details_follow_keras_vggface(models):
    resnet, senet = models["resnet50", False], models["senet50", False]
    assert resnet.get_layer("conv1__7x7_s2__bn").epsilon == pytest.approx(1e-3)
    assert senet.get_layer("conv1__7x7_s2__bn").epsilon == pytest.approx(1e-4)
    assert not resnet.get_layer("conv3_1_1x1_reduce").use_bias
    assert resnet.get_layer("conv3_1_1x1_reduce").strides == (2, 2)  # stride on the 1x1 reduce, not the 3x3
    assert resnet.get_layer("conv2_1_1x1_reduce").strides == (1, 1)
    assert resnet.get_layer("conv3_1_3x3").strides == (1, 1)
    assert senet.get_layer("conv5_3_1x1_down").use_bias and senet.get_layer("conv5_3_1x1_down").filters == 128
    assert models["vgg16", True].get_layer("fc7__relu").output.shape == (None, 4096)
    resnet_convs = [layer.name for layer in models["resnet50", True].layers if layer.__class__.__name__ == "Conv2D"]
    senet_convs = [layer.name for layer in models["senet50", True].layers if layer.__class__.__name__ == "Conv2D"]
    assert len(resnet_convs) == 53 and len(senet_convs) == 53 + 2 * 16  # 16 residual blocks, one SE block each


def test_no_slash_in_names_and_mapping_round_trips(models):
    for model in models.values():
        for layer in model.layers:
            assert "/" not in layer.name
            assert keras_layer_name(original_layer_name(layer.name)) == layer.name
    assert keras_layer_name("conv2_1_1x1_reduce/bn") == "conv2_1_1x1_reduce__bn"
    assert original_layer_name("fc7__relu") == "fc7/relu"
    assert "conv2_1_1x1_reduce__bn" in {layer.name for layer in models["resnet50", False].layers}


def test_pooling_options():
    small = (48, 48, 3)
    assert vggface.build_model("vgg16", include_top=False, pooling="max", input_shape=small).output_shape == (None, 512)
    assert vggface.build_model("vgg16", include_top=False, pooling=None, input_shape=small).output_shape == (None, 1, 1, 512)
    with pytest.raises(ValueError, match="pooling"):
        vggface.build_model("vgg16", include_top=False, pooling="sum", input_shape=small)
    with pytest.raises(ValueError, match="unknown VGGFace network"):
        vggface.build_model("vgg19")


def test_blocks_name_real_layers_and_last_blocks_come_last(models):
    for name in vggface.NETWORKS:
        model = models[name, True]
        names = [layer.name for layer in model.layers]
        blocks = vggface.block_layer_names(name)
        assert set().union(*blocks) <= set(names)
        weighted = {layer.name for layer in model.layers if layer.weights} - {"fc8", "classifier"}
        assert weighted == {n for b in blocks for n in b if model.get_layer(n).weights}  # the embedding net, all of it
        assert vggface.last_block_layers(name, 0) == []
        assert vggface.last_block_layers(name, len(blocks) + 5) == [n for b in blocks for n in b]
    assert vggface.last_block_layers("vgg16", 1) == ["fc7", "fc7__relu"]
    assert vggface.last_block_layers("vgg16", 3)[:4] == ["conv5_1", "conv5_2", "conv5_3", "pool5"]
    last = vggface.last_block_layers("senet50", 1)
    assert last[0] == "conv5_3_1x1_reduce" and "conv5_3_1x1_up" in last and "conv5_2_3x3" not in last
    assert "conv5_1_1x1_proj__bn" in vggface.last_block_layers("resnet50", 3)


def test_preprocess_input_exact_numbers():
    rgb = np.array([[[10, 20, 30]], [[255, 0, 128]]], dtype=np.uint8)  # (2, 1, 3)
    v1 = vggface.preprocess_input(rgb, 1)
    np.testing.assert_allclose(v1[0, 0], [30 - 93.5940, 20 - 104.7624, 10 - 129.1863], rtol=0, atol=1e-4)
    np.testing.assert_allclose(v1[1, 0], [128 - 93.5940, 0 - 104.7624, 255 - 129.1863], rtol=0, atol=1e-4)
    v2 = vggface.preprocess_input(rgb, "resnet50")
    np.testing.assert_allclose(v2[0, 0], [30 - 91.4953, 20 - 103.8827, 10 - 131.0912], rtol=0, atol=1e-4)
    assert v1.dtype == np.float32 and rgb[0, 0, 0] == 10  # input untouched
    np.testing.assert_array_equal(vggface.preprocess_input(rgb, "vgg16"), v1)
    np.testing.assert_array_equal(vggface.preprocess_input(rgb, "senet50"), v2)
    with pytest.raises(ValueError):
        vggface.preprocess_input(rgb, 3)


def face_chips(core_images, size: int = 224) -> np.ndarray:
    """Real photos, centre-cropped to a square and resized: stand-ins for aligned chips."""
    chips = []
    for file in ["kit_1.jpg", "kit_2.jpg", "rose_1.jpg"]:
        image = Image.open(core_images / file).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        chips.append(np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size))))
    return np.stack(chips)


def test_backbone_embeds_unit_vectors_with_random_weights(core_images):
    backbone = vggface.VGGFaceBackbone("resnet50", weights="random", batch_size=2)
    assert (backbone.name, backbone.input_size, backbone.embedding_size) == ("resnet50", 224, 2048)
    assert backbone.describe()["weights"] == "random"
    assert backbone.model.output_shape == (None, 2048)
    chips = face_chips(core_images)
    embeddings = backbone.embed(chips)
    assert embeddings.shape == (3, 2048) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(embeddings[0], embeddings[2])  # different photos, different vectors
    np.testing.assert_allclose(backbone.embed(chips[2]), embeddings[2:], atol=1e-5)  # batching changes nothing
    assert backbone.embed(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 2048)
    resized = backbone.embed(face_chips(core_images, size=160)[:1])
    assert resized.shape == (1, 2048)
    with pytest.raises(ValueError, match="RGB chips"):
        backbone.embed(np.zeros((1, 224, 224), np.uint8))


def test_vgg16_embedding_model_is_fc7(models):
    feature = vggface.embedding_model("vgg16", models["vgg16", True])
    assert feature.output_shape == (None, 4096)
    assert feature.layers[-1].name == "fc7__relu"
    assert "fc8" not in {layer.name for layer in feature.layers}
    assert vggface.embedding_model("resnet50", models["resnet50", False]) is models["resnet50", False]
