"""dlib's face ResNet run by ONNX Runtime: dlib's own descriptors, several times faster on a CPU.

The ONNX graph is built in memory from dlib's own weights file (read by `facerec.backbones.dlib_net`);
nothing is downloaded or converted ahead. dlib's semantics are those of `facerec.backbones.dlib_keras`:

- input: RGB uint8 chips (n, 150, 150, 3); (pixel - channel mean) / 256 inside the graph;
- convolutions pad kernel // 2 at stride 1 and not at all at stride 2; pools do not pad;
- `affine` (dlib's frozen batch norm, gamma * x + beta) is folded into the convolution before it
  (gamma * (W x + b) + beta = (gamma W) x + (gamma b + beta));
- `add_prev` zero-pads the smaller tensor at its end (channels, and rows/columns in the last two
  down-sampling blocks) before adding;
- global average pool, then the 128 x 128... fc without bias: the raw descriptor (not normalised).

`tests/backbones/test_dlib_keras.py` checks the descriptors against dlib's `compute_face_descriptor` on chips of
real photos. ONNX Runtime runs its kernels without Python's GIL, so other threads (decoding, MTCNN)
go on while it embeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from facerec.backbones.dlib_net import Op, read_dlib_network

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptor"


class _GraphBuilder:
    """Accumulates ONNX nodes and initialisers while tracking the running tensor's (channels, rows, cols)."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initialisers: list = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array: np.ndarray) -> str:
        from onnx import numpy_helper

        tensor_name = self.name("w")
        self.initialisers.append(numpy_helper.from_array(np.ascontiguousarray(array), tensor_name))
        return tensor_name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = self.name("t")
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _conv_output(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _folded_conv(op: Op, affine: Op | None) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's (filters, bias) with the following affine layer folded in (float64, then float32)."""
    filters = op.weights["filters"].astype(np.float64)  # (f, c, r, k): ONNX's OIHW already
    bias = op.weights["bias"].astype(np.float64) if op.config.get("use_bias", True) else np.zeros(len(filters))
    if affine is not None:
        gamma, beta = affine.weights["gamma"].astype(np.float64), affine.weights["beta"].astype(np.float64)
        filters = filters * gamma[:, None, None, None]
        bias = bias * gamma + beta
    return filters.astype(np.float32), bias.astype(np.float32)


def build_onnx(ops: list[Op]) -> bytes:
    """dlib's network `ops` (input first, as read_dlib_network returns it) as a serialized ONNX model."""
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    size = ops[0].config["size"]
    means = np.asarray(ops[0].config["means"], dtype=np.float32).reshape(1, 1, 1, 3)
    x = g.node("Cast", [INPUT_NAME], to=TensorProto.FLOAT)
    x = g.node("Sub", [x, g.const(means)])
    x = g.node("Mul", [x, g.const(np.asarray(1 / 256, dtype=np.float32))])  # exact: a power of two
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, size, size)
    tagged: dict[int, tuple[str, tuple[int, int, int]]] = {}
    body = ops[1:]
    i = 0
    while i < len(body):
        op = body[i]
        if op.kind == "con":
            affine = body[i + 1] if i + 1 < len(body) and body[i + 1].kind == "affine" else None
            x, shape = _add_conv(g, x, shape, op, affine)
            i += 2 if affine is not None else 1
            continue
        if op.kind == "affine":  # not after a convolution (dlib's face network has none such)
            gamma = op.weights["gamma"].reshape(1, -1, 1, 1).astype(np.float32)
            beta = op.weights["beta"].reshape(1, -1, 1, 1).astype(np.float32)
            x = g.node("Add", [g.node("Mul", [x, g.const(gamma)]), g.const(beta)])
        elif op.kind == "relu":
            x = g.node("Relu", [x])
        elif op.kind in ("max_pool", "avg_pool") and op.config["kernel"] == 0:
            x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
            shape = (shape[0], 1, 1)
        elif op.kind in ("max_pool", "avg_pool"):
            k, s = op.config["kernel"], op.config["stride"]
            x = g.node("MaxPool" if op.kind == "max_pool" else "AveragePool", [x], kernel_shape=[k, k], strides=[s, s])
            shape = (shape[0], _conv_output(shape[1], k, s, 0), _conv_output(shape[2], k, s, 0))
        elif op.kind == "fc":
            x = g.node("MatMul", [x, g.const(op.weights["kernel"].astype(np.float32))])
            shape = (op.config["outputs"], 1, 1)
        elif op.kind == "tag":
            tagged[op.config["tag"]] = (x, shape)
        elif op.kind == "skip":
            x, shape = tagged[op.config["tag"]]
        elif op.kind == "add_prev":
            x, shape = _add_zero_padded(g, (x, shape), tagged[op.config["tag"]])
        else:
            raise ValueError(f"dlib layer {op.kind!r} has no ONNX counterpart here")
        i += 1
    graph = helper.make_graph(
        g.nodes, "dlib_face_resnet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n", shape[0]])],
        g.initialisers)
    graph.output[0].name = x
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facerec")
    model.ir_version = 8  # readable by every ONNX Runtime facerec accepts (>= 1.17)
    return model.SerializeToString()


def _add_conv(g: _GraphBuilder, x: str, shape: tuple[int, int, int], op: Op,
              affine: Op | None) -> tuple[str, tuple[int, int, int]]:
    kernel, stride = op.config["kernel"], op.config["stride"]
    pad_y, pad_x = op.config.get("padding", (kernel // 2 if stride == 1 else 0,) * 2)
    filters, bias = _folded_conv(op, affine)
    out = g.node("Conv", [x, g.const(filters), g.const(bias)], kernel_shape=[kernel, kernel], strides=[stride, stride],
                 pads=[pad_y, pad_x, pad_y, pad_x])
    return out, (len(filters), _conv_output(shape[1], kernel, stride, pad_y), _conv_output(shape[2], kernel, stride, pad_x))


def _add_zero_padded(g: _GraphBuilder, a: tuple[str, tuple[int, int, int]],
                     b: tuple[str, tuple[int, int, int]]) -> tuple[str, tuple[int, int, int]]:
    """dlib's add_prev: a + b over the larger shape, each zero-padded after its end where smaller."""
    target = tuple(max(p, q) for p, q in zip(a[1], b[1]))

    def padded(name: str, shape: tuple[int, int, int]) -> str:
        if shape == target:
            return name
        pads = np.asarray([0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape))], dtype=np.int64)
        return g.node("Pad", [name, g.const(pads)], mode="constant")

    return g.node("Add", [padded(*a), padded(*b)]), target  # type: ignore[return-value]


DEFAULT_THREADS = 1


def session_options(threads: int | None = None):
    """ONNX Runtime options: `threads` intra-op threads (None: FACEREC_EMBED_THREADS, else DEFAULT_THREADS).

    One thread by default: facerec embeds beside detection (album tagging: MTCNN in worker threads; video:
    the next frame), so a second embedding thread would only fight the detector for the other core, and
    ONNX Runtime's spinning workers burn a core while they wait. Measured here (2 cores, one of them
    busy with another job): 5.7-7.1 ms per face on one thread, 8.2-13.9 ms on two."""
    import onnxruntime as ort

    if threads is None:
        from facerec.paths import embed_threads_from_env

        threads = int(embed_threads_from_env() or DEFAULT_THREADS)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class DlibOnnxNetwork:
    """dlib's network in an ONNX Runtime session: descriptors(chips) -> (n, 128) float32, raw (not normalised)."""

    def __init__(self, weights_path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        ops, _ = read_dlib_network(weights_path)
        self.session = ort.InferenceSession(build_onnx(ops), sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.output = self.session.get_outputs()[0].name

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        chips = np.ascontiguousarray(chips, dtype=np.uint8)
        return self.session.run([self.output], {INPUT_NAME: chips})[0]


def onnxruntime_available() -> bool:
    from facerec.device import ONNX_MODULES, installed

    return installed(*ONNX_MODULES)
