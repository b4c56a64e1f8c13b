#!/usr/bin/env python3
"""The tiny test model of the tensorflow plugin: a 4 -> 8 -> 3 MLP (ReLU, then Softmax) with
weights drawn from a fixed seed, written twice with the same weights:

- `tiny_mlp.onnx`: ONNX opset 13 (onnx.helper), input `x` float [batch, 4], output `probs`;
- `tiny_mlp.pb`: a TensorFlow frozen graph (GraphDef) with the same names. TensorFlow itself is
  a very large install, so the GraphDef is encoded here by hand: it is plain protobuf, and the
  handful of messages it needs (GraphDef, NodeDef, AttrValue, TensorProto, TensorShapeProto)
  are written field by field below.

    python3 build_tiny_mlp.py OUT_DIR

needs numpy and onnx. It prints the expected output for [1, 2, 3, 4], computed with numpy; the
plugin's tests hard-code it. The files it writes are committed as the tests' fixtures
(stdlib-plugins/tensorflow/tests/fixtures); scripts/models/build.sh checks that this script
still reproduces them byte for byte.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(42)
W1 = (0.3 * rng.normal(size=(4, 8))).astype(np.float32)
B1 = rng.normal(size=(8,)).astype(np.float32)
W2 = (0.3 * rng.normal(size=(8, 3))).astype(np.float32)
B2 = rng.normal(size=(3,)).astype(np.float32)


def onnx_model() -> bytes:
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(array, name) for array, name in ((W1, "W1"), (B1, "b1"), (W2, "W2"), (B2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tusk-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --- protobuf wire format, just what a GraphDef needs ---------------------------------------

def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 fields encode negatives as ten-byte varints
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


DT_FLOAT = 1  # tensorflow/core/framework/types.proto


def shape_proto(dims) -> bytes:  # TensorShapeProto { repeated Dim dim = 2; } Dim { int64 size = 1; }
    return b"".join(field_bytes(2, field_varint(1, d)) for d in dims)


def tensor_proto(array: np.ndarray) -> bytes:  # TensorProto { dtype = 1; tensor_shape = 2; tensor_content = 4; }
    little = array.astype("<f4")
    return field_varint(1, DT_FLOAT) + field_bytes(2, shape_proto(array.shape)) + field_bytes(4, little.tobytes())


# AttrValue { bytes s = 2; bool b = 5; DataType type = 6; TensorShapeProto shape = 7; TensorProto tensor = 8; }
def attr_type(dtype: int) -> bytes:
    return field_varint(6, dtype)


def attr_bool(value: bool) -> bytes:
    return field_varint(5, int(value))


def attr_shape(dims) -> bytes:
    return field_bytes(7, shape_proto(dims))


def attr_tensor(array) -> bytes:
    return field_bytes(8, tensor_proto(array))


def node(name: str, op: str, inputs=(), **attrs) -> bytes:
    # NodeDef { string name = 1; string op = 2; repeated string input = 3; map<string, AttrValue> attr = 5; }
    out = field_bytes(1, name.encode()) + field_bytes(2, op.encode())
    for i in inputs:
        out += field_bytes(3, i.encode())
    for key in sorted(attrs):  # map entries: { key = 1; value = 2; }, sorted for stable bytes
        out += field_bytes(5, field_bytes(1, key.encode()) + field_bytes(2, attrs[key]))
    return out


def tensorflow_graph() -> bytes:
    f = attr_type(DT_FLOAT)
    nodes = [
        node("x", "Placeholder", dtype=f, shape=attr_shape([-1, 4])),
        node("W1", "Const", dtype=f, value=attr_tensor(W1)),
        node("b1", "Const", dtype=f, value=attr_tensor(B1)),
        node("W2", "Const", dtype=f, value=attr_tensor(W2)),
        node("b2", "Const", dtype=f, value=attr_tensor(B2)),
        node("h0", "MatMul", ["x", "W1"], T=f, transpose_a=attr_bool(False), transpose_b=attr_bool(False)),
        node("h1", "Add", ["h0", "b1"], T=f),
        node("h2", "Relu", ["h1"], T=f),
        node("l0", "MatMul", ["h2", "W2"], T=f, transpose_a=attr_bool(False), transpose_b=attr_bool(False)),
        node("logits", "Add", ["l0", "b2"], T=f),
        node("probs", "Softmax", ["logits"], T=f),
    ]
    # GraphDef { repeated NodeDef node = 1; VersionDef versions = 4 { int32 producer = 1; } }
    return b"".join(field_bytes(1, n) for n in nodes) + field_bytes(4, field_varint(1, 27))


def expected(x) -> list:
    z = np.maximum(np.asarray(x, np.float32) @ W1 + B1, 0) @ W2 + B2
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)).tolist()


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiny_mlp.onnx").write_bytes(onnx_model())
    (out / "tiny_mlp.pb").write_bytes(tensorflow_graph())
    print("wrote", out / "tiny_mlp.onnx", "and", out / "tiny_mlp.pb")
    print("expected probs for [1, 2, 3, 4]:", expected([[1, 2, 3, 4]])[0])
    print("expected probs for [-1, 0.5, 2, 0]:", expected([[-1, 0.5, 2, 0]])[0])
