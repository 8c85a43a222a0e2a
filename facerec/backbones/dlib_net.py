"""A reader for dlib's serialized face network (`dlib_face_recognition_resnet_model_v1.dat`), in numpy.

dlib writes a network with `serialize(net, out)` (dlib/dnn/core.h): the loss layer first, then every
wrapper (add_layer / add_tag_layer / add_skip_layer) writes its version number and recurses into the
layer beneath it before writing its own details, so the file holds the wrapper versions from the top
of the network down to the input, then the input layer, then each layer's details from the bottom up.
Wrappers carry no name, so the reader walks a known architecture (`face_resnet_ops`, the template of
dlib's examples/dnn_face_recognition_ex.cpp) and checks every name, version and shape it reads against
it; anything else is refused with the byte offset where it went wrong.

Encodings (dlib/serialize.h, dlib/float_details.h, dlib/dnn/tensor.h):
- integers: one control byte (low nibble: number of bytes that follow, bit 7: negative), then the
  magnitude in little-endian bytes;
- floats and doubles: mantissa (int64) and exponent (int16) as two such integers, value = m * 2**e;
- bool: the character '1' or '0'; std::string: its length, then the bytes;
- resizable_tensor: version, num_samples, k, nr, nc, then the values (version 1: portable floats,
  version 2: raw little-endian float32). Layouts are dlib's: NCHW, convolution filters
  (filters, channels, rows, cols), fc weights (inputs, outputs).

The result is a list of `Op` from the input to the embedding; `forward_numpy` runs it as a plain
numpy reference (slow, for checking), `facerec.backbones.dlib_keras` turns it into a Keras model.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facerec.errors import WeightsError

# float_details' markers for the special values (dlib/float_details.h)
_EXPONENT_INF, _EXPONENT_NINF, _EXPONENT_NAN = 32000, 32001, 32002


class DlibFormatError(WeightsError):
    """The file is not the dlib network we expect (wrong layer, version or shape); says where."""


# --------------------------------------------------------------------------------------------------
# Primitive decoding
# --------------------------------------------------------------------------------------------------


class DlibStream:
    """Sequential decoder of dlib's serialization primitives over bytes."""

    def __init__(self, data: bytes, source: str = "<bytes>"):
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def error(self, message: str) -> DlibFormatError:
        return DlibFormatError(f"{self.source}: {message} (at byte {self.pos} of {len(self.data)})")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.error(f"file ends early: needed {n} more bytes")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise self.error(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa, exponent = self.read_int(), self.read_int()
        if exponent == _EXPONENT_INF:
            return float("inf")
        if exponent == _EXPONENT_NINF:
            return float("-inf")
        if exponent == _EXPONENT_NAN:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def read_bool(self) -> bool:
        ch = bytes(self.take(1))
        if ch not in (b"0", b"1"):
            raise self.error(f"bad bool {ch!r}")
        return ch == b"1"

    def read_string(self) -> str:
        length = self.read_int()
        if not 0 <= length <= 1 << 20:
            raise self.error(f"implausible string length {length}")
        return bytes(self.take(length)).decode("latin-1")

    def read_tensor(self) -> np.ndarray:
        """A resizable_tensor as a float32 array of shape (num_samples, k, nr, nc)."""
        version = self.read_int()
        shape = tuple(self.read_int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.error(f"negative tensor dimension {shape}")
        count = int(np.prod(shape))
        if version == 2:
            values = np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)
        elif version == 1:
            values = np.array([self.read_float() for _ in range(count)], dtype=np.float32)
        else:
            raise self.error(f"unknown tensor version {version}")
        return values.reshape(shape)

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        """An alias_tensor (a view into a layer's params): only its shape is written."""
        version = self.read_int()
        if version != 1:
            raise self.error(f"unknown alias_tensor version {version}")
        return tuple(self.read_int() for _ in range(4))  # type: ignore[return-value]

    def expect_string(self, allowed: tuple[str, ...], what: str) -> str:
        return self._expect(self.read_string, allowed, f"{what} ({' or '.join(allowed)})")

    def expect_int(self, allowed: tuple[int, ...], what: str) -> int:
        return self._expect(self.read_int, allowed, f"{what} in {allowed}")

    def _expect(self, read, allowed: tuple, what: str):
        """Read a value that must be one of `allowed`; on failure report the offset where it starts."""
        start = self.pos
        value = read()
        if value not in allowed:
            self.pos = start
            raise self.error(f"expected {what}, found {value!r}")
        return value


def float32_of(value: float) -> float:
    """A float as dlib stores it in a float variable (the portable format keeps every bit)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


# --------------------------------------------------------------------------------------------------
# The network as a list of operations
# --------------------------------------------------------------------------------------------------


@dataclass
class Op:
    """One step of the network, applied to the running output (dlib's layer stack, bottom up).

    kind: input | con | affine | relu | max_pool | avg_pool | fc | add_prev | tag | skip
    tag ops remember the running output under `tag`; skip makes the tagged output the running one;
    add_prev adds the tagged output to the running one (zero-padding the smaller, as dlib does).
    """

    kind: str
    config: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""

    def __repr__(self) -> str:
        shapes = {k: v.shape for k, v in self.weights.items()}
        return f"Op({self.name or self.kind}, {self.config}, {shapes})"


def _layer(kind: str, **config) -> Op:
    return Op(kind, dict(config))


def _block(filters: int, stride: int) -> list[Op]:
    """dlib's `block`: con(3x3, stride) affine relu con(3x3) affine."""
    return [_layer("con", filters=filters, kernel=3, stride=stride), _layer("affine"), _layer("relu"),
            _layer("con", filters=filters, kernel=3, stride=1), _layer("affine")]


def _ares(filters: int) -> list[Op]:
    """relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>"""
    return [_layer("tag", tag=1), *_block(filters, 1), _layer("add_prev", tag=1), _layer("relu")]


def _ares_down(filters: int) -> list[Op]:
    """relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>"""
    return [_layer("tag", tag=1), *_block(filters, 2), _layer("tag", tag=2), _layer("skip", tag=1),
            _layer("avg_pool", kernel=2, stride=2), _layer("add_prev", tag=2), _layer("relu")]


def face_resnet_ops() -> list[Op]:
    """dlib's face recognition ResNet (examples/dnn_face_recognition_ex.cpp, `anet_type`), input first.

    Names: stem_*, then res<i>_* for the 14 residual blocks (0-based, input to output), then fc.
    """
    stages = [(32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True)]
    ops = [_layer("input", size=150), _layer("con", filters=32, kernel=7, stride=2), _layer("affine"),
           _layer("relu"), _layer("max_pool", kernel=3, stride=2)]
    _name_ops(ops[1:], "stem")
    block = 0
    for filters, count, first_down in stages:
        for i in range(count):
            residual = _ares_down(filters) if first_down and i == 0 else _ares(filters)
            _name_ops(residual, f"res{block}")
            ops += residual
            block += 1
    ops += [_layer("avg_pool", kernel=0, stride=1), _layer("fc", outputs=128)]
    ops[-1].name = "fc"
    ops[-2].name = "avg_pool_everything"
    return ops


def _name_ops(ops: list[Op], prefix: str) -> None:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.kind] = counts.get(op.kind, 0) + 1
        op.name = f"{prefix}_{op.kind}{counts[op.kind]}"


NUM_RESIDUAL_BLOCKS = 14


# --------------------------------------------------------------------------------------------------
# Reading each layer's details
# --------------------------------------------------------------------------------------------------


def _read_input(s: DlibStream, op: Op) -> None:
    s.expect_string(("input_rgb_image_sized",), "the input layer")
    means = [float32_of(s.read_float()) for _ in range(3)]
    rows, cols = s.read_int(), s.read_int()
    if (rows, cols) != (op.config["size"], op.config["size"]):
        raise s.error(f"input size {rows}x{cols}, expected {op.config['size']}")
    op.config["means"] = tuple(means)  # red, green, blue


def _check_alias(s: DlibStream, shape: tuple, expected_shape: tuple, what: str) -> None:
    if int(np.prod(shape)) != int(np.prod(expected_shape)):
        raise s.error(f"{what}: a view of shape {shape}, expected {expected_shape}")


def _read_con(s: DlibStream, op: Op, in_channels: int) -> int:
    version = s.expect_string(("con_4", "con_5"), "a convolution")
    params = s.read_tensor().ravel()
    filters, rows, cols, stride_y, stride_x = (s.read_int() for _ in range(5))
    pad_y, pad_x = s.read_int(), s.read_int()
    expected = (op.config["filters"], op.config["kernel"], op.config["kernel"], op.config["stride"], op.config["stride"])
    if (filters, rows, cols, stride_y, stride_x) != expected:
        raise s.error(f"{op.name}: convolution {filters} filters {rows}x{cols} stride {stride_y},{stride_x}; "
                      f"expected {expected}")
    n_filter_values = filters * in_channels * rows * cols
    _check_alias(s, s.read_alias_tensor(), (filters, in_channels, rows, cols), f"{op.name} filters")
    _check_alias(s, s.read_alias_tensor(), (1, filters, 1, 1), f"{op.name} biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.read_float()
    use_bias = s.read_bool() if version == "con_5" else True
    if params.size != n_filter_values + filters:
        raise s.error(f"{op.name}: {params.size} parameters, expected {n_filter_values + filters}")
    op.config.update(padding=(pad_y, pad_x), use_bias=use_bias)
    op.weights["filters"] = params[:n_filter_values].reshape(filters, in_channels, rows, cols)
    op.weights["bias"] = params[n_filter_values:]
    return filters


def _read_affine(s: DlibStream, op: Op, channels: int) -> None:
    s.expect_string(("affine_",), "an affine layer")
    params = s.read_tensor().ravel()
    _check_alias(s, s.read_alias_tensor(), (1, channels, 1, 1), f"{op.name} gamma")
    _check_alias(s, s.read_alias_tensor(), (1, channels, 1, 1), f"{op.name} beta")
    mode = s.read_int()
    if mode != 0:  # CONV_MODE (dlib layer_mode 0): one gamma/beta per channel
        raise s.error(f"{op.name}: affine mode {mode}, expected 0 (per channel)")
    if params.size != 2 * channels:
        raise s.error(f"{op.name}: {params.size} parameters, expected {2 * channels}")
    op.weights["gamma"], op.weights["beta"] = params[:channels], params[channels:]


def _read_pool(s: DlibStream, op: Op, name: str) -> None:
    s.expect_string((name,), f"a {op.kind} layer")
    rows, cols, stride_y, stride_x, pad_y, pad_x = (s.read_int() for _ in range(6))
    k, st = op.config["kernel"], op.config["stride"]
    if (rows, cols, stride_y, stride_x) != (k, k, st, st):
        raise s.error(f"{op.name}: pool {rows}x{cols} stride {stride_y},{stride_x}; expected {k}x{k} stride {st}")
    op.config["padding"] = (pad_y, pad_x)


def _read_fc(s: DlibStream, op: Op, inputs: int) -> None:
    s.expect_string(("fc_2",), "a fully-connected layer")
    outputs, n_inputs = s.read_int(), s.read_int()
    if (outputs, n_inputs) != (op.config["outputs"], inputs):
        raise s.error(f"fc: {n_inputs} -> {outputs}, expected {inputs} -> {op.config['outputs']}")
    params = s.read_tensor().ravel()
    _check_alias(s, s.read_alias_tensor(), (inputs, outputs), "fc weights")
    s.read_alias_tensor()  # biases: an empty view without bias
    bias_mode = s.read_int()
    for _ in range(4):
        s.read_float()
    if bias_mode != 1 or params.size != inputs * outputs:  # dlib fc_bias_mode 1: FC_NO_BIAS
        raise s.error(f"fc: bias mode {bias_mode} with {params.size} parameters; expected fc_no_bias")
    op.weights["kernel"] = params.reshape(inputs, outputs)


def _read_loss(s: DlibStream) -> dict:
    s.expect_int((1,), "the add_loss_layer version")
    s.expect_string(("loss_metric_", "loss_metric_2"), "loss_metric")
    return {"margin": s.read_float(), "distance_threshold": s.read_float()}


# --------------------------------------------------------------------------------------------------
# Walking the architecture
# --------------------------------------------------------------------------------------------------

_WRAPPER_VERSIONS = {"tag": (1,), "skip": (1,)}  # add_layer: 1 or 2; add_layer on the input: 2 or 3


def _read_wrapper_versions(s: DlibStream, ops: list[Op]) -> list[int]:
    """The versions the wrappers wrote on the way down, top layer first (ops[0] is the input)."""
    versions = []
    for op in reversed(ops[1:]):
        above_input = op is ops[1]
        allowed = _WRAPPER_VERSIONS.get(op.kind, (2, 3) if above_input else (1, 2))
        versions.append(s.expect_int(allowed, f"the version of the wrapper of {op.name}"))
    return versions[::-1]


def _read_add_layer_tail(s: DlibStream, version: int, above_input: bool) -> None:
    """Training state every add_layer writes after its details (bools and tensors we do not need)."""
    for _ in range(3):
        s.read_bool()
    s.read_tensor()  # x_grad
    s.read_tensor()  # cached_output
    if above_input:
        s.read_tensor()  # grad_final
        if version >= 3:
            s.read_int()  # sample expansion factor
    elif version >= 2:
        s.read_tensor()  # params_grad


def _read_details(s: DlibStream, op: Op, channels: int) -> int:
    """Read one layer's details; returns the number of channels it outputs."""
    if op.kind == "con":
        return _read_con(s, op, channels)
    if op.kind == "affine":
        _read_affine(s, op, channels)
    elif op.kind == "relu":
        s.expect_string(("relu_",), "relu")
    elif op.kind == "max_pool":
        _read_pool(s, op, "max_pool_2")
    elif op.kind == "avg_pool":
        _read_pool(s, op, "avg_pool_2")
    elif op.kind == "add_prev":
        s.expect_string(("add_prev_",), "add_prev")
    elif op.kind == "fc":
        _read_fc(s, op, channels)
        return op.config["outputs"]
    return channels


def read_dlib_network(path: str | Path) -> tuple[list[Op], dict]:
    """The face ResNet in `path` as (ops from the input up, loss settings). Raises DlibFormatError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read dlib's network {path}: {e}") from e
    if data[:2] == b"BZ" or data[:2] == b"\x1f\x8b":
        raise DlibFormatError(f"{path} is compressed; decompress it first (bunzip2 / gunzip)")
    return parse_dlib_network(data, str(path))


def parse_dlib_network(data: bytes, source: str = "<bytes>") -> tuple[list[Op], dict]:
    s = DlibStream(data, source)
    loss = _read_loss(s)
    ops = face_resnet_ops()
    versions = _read_wrapper_versions(s, ops)
    _read_input(s, ops[0])
    channels = 3
    tagged: dict[int, int] = {}
    for op, version in zip(ops[1:], versions):
        if op.kind == "tag":
            tagged[op.config["tag"]] = channels
            continue
        if op.kind == "skip":
            channels = tagged[op.config["tag"]]
            continue
        out_channels = _read_details(s, op, channels)
        if op.kind == "add_prev":
            out_channels = max(channels, tagged[op.config["tag"]])
        _read_add_layer_tail(s, version, above_input=op is ops[1])
        channels = out_channels
    if s.pos != len(s.data):
        raise s.error(f"{len(s.data) - s.pos} bytes left over after the network")
    return ops, loss


# --------------------------------------------------------------------------------------------------
# A numpy reference forward pass (slow; for checking the Keras model layer by layer)
# --------------------------------------------------------------------------------------------------


def input_tensor(chips: np.ndarray, means: tuple[float, float, float]) -> np.ndarray:
    """RGB uint8 chips (n, h, w, 3) -> dlib's input tensor values (n, h, w, 3): (pixel - mean) / 256."""
    return (np.asarray(chips, dtype=np.float32) - np.asarray(means, dtype=np.float32)) / np.float32(256)


def _conv_numpy(x: np.ndarray, filters: np.ndarray, bias: np.ndarray, stride: int, padding: tuple[int, int]) -> np.ndarray:
    n, h, w, c = x.shape
    f, _, kr, kc = filters.shape
    x = np.pad(x, ((0, 0), (padding[0], padding[0]), (padding[1], padding[1]), (0, 0)))
    out_h = (x.shape[1] - kr) // stride + 1
    out_w = (x.shape[2] - kc) // stride + 1
    out = np.zeros((n, out_h, out_w, f), dtype=np.float64)
    kernel = filters.transpose(2, 3, 1, 0).astype(np.float64)  # (kr, kc, c, f)
    for i in range(kr):
        for j in range(kc):
            patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
            out += patch.astype(np.float64) @ kernel[i, j]
    return (out + bias).astype(np.float32)


def _pool_numpy(x: np.ndarray, kernel: int, stride: int, reduce) -> np.ndarray:
    if kernel == 0:  # avg_pool_everything
        return reduce(x, axis=(1, 2), keepdims=True)
    out_h = (x.shape[1] - kernel) // stride + 1
    out_w = (x.shape[2] - kernel) // stride + 1
    windows = [x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
               for i in range(kernel) for j in range(kernel)]
    return reduce(np.stack(windows), axis=0)


def add_zero_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: the sum over the larger shape, the smaller tensor zero-padded at the end."""
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
    out = np.zeros(shape, dtype=np.float32)
    out[tuple(slice(0, d) for d in a.shape)] += a
    out[tuple(slice(0, d) for d in b.shape)] += b
    return out


def forward_numpy(ops: list[Op], chips: np.ndarray, until: str | None = None) -> np.ndarray:
    """Run the network in numpy (NHWC); stops after the op named `until` when given."""
    x = input_tensor(chips, ops[0].config["means"])
    tagged: dict[int, np.ndarray] = {}
    for op in ops[1:]:
        if op.kind == "con":
            if any(op.config["padding"]) and op.config["padding"][0] != op.config["padding"][1]:
                raise NotImplementedError("unequal padding")
            x = _conv_numpy(x, op.weights["filters"], op.weights["bias"], op.config["stride"], op.config["padding"])
        elif op.kind == "affine":
            x = x * op.weights["gamma"] + op.weights["beta"]
        elif op.kind == "relu":
            x = np.maximum(x, 0)
        elif op.kind == "max_pool":
            x = _pool_numpy(x, op.config["kernel"], op.config["stride"], np.max)
        elif op.kind == "avg_pool":
            x = _pool_numpy(x, op.config["kernel"], op.config["stride"], np.mean)
        elif op.kind == "fc":
            x = x.reshape(len(x), -1) @ op.weights["kernel"]
        elif op.kind == "tag":
            tagged[op.config["tag"]] = x
        elif op.kind == "skip":
            x = tagged[op.config["tag"]]
        elif op.kind == "add_prev":
            x = add_zero_padded(x, tagged[op.config["tag"]])
        if until is not None and op.name == until:
            break
    return x
