r"""Write a :class:`cnn.nets.Net` with its parameters as an ONNX model (opset ``OPSET``).

Graph: input ``"input"`` float32 (N, C, H, W) with a symbolic batch dimension ``N``, output
``"logits"`` float32 (N, classes). One ONNX node per op, named like the op: ``Conv`` (no bias,
``pads`` (k - 1) // 2 on every side, ``strides``, ``group``), ``BatchNormalization`` (a separate
node after every conv, inference form with the population mean / var, ``epsilon`` = nets.EPS),
``Relu``, ``Clip(0, 6)`` for ReLU6, ``MaxPool`` 2 x 2 stride 2, ``Add``, ``GlobalAveragePool``,
``Flatten`` (axis 1), ``Gemm`` (``x @ W + b``, W stored (F, classes), transB = 0). Weights are
initializers named ``<op>.<param>``.

``metadata_props`` (all strings): ``preprocess_mean`` / ``preprocess_std`` (JSON lists, one value
per input channel: the model expects x' = (x - mean) / std of the [0, 1] images), ``dataset``,
``fp32_test_accuracy``, ``training_command``, ``seed`` and whatever else the caller adds.
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from . import nets

OPSET = 17


def to_onnx(net, params, metadata=None):
    """The checked ONNX ModelProto of ``net`` with ``params`` (name -> array) and metadata."""
    missing = set(net.param_shapes) - set(params)
    if missing:
        raise ValueError(f"parameters missing: {', '.join(sorted(missing))}")
    inits, nodes = [], []

    def init(name):
        arr = np.asarray(params[name], dtype=np.float32)
        if arr.shape != tuple(net.param_shapes[name]):
            raise ValueError(f"{name}: shape {arr.shape}, the net needs {net.param_shapes[name]}")
        inits.append(numpy_helper.from_array(arr, name))
        return name

    for op in net.ops:
        ins, out = list(op.inputs), op.name
        if op.kind == "conv":
            p = (op.kernel - 1) // 2
            nodes.append(helper.make_node(
                "Conv", ins + [init(f"{out}.weight")], [out], name=out,
                kernel_shape=[op.kernel] * 2, strides=[op.stride] * 2, pads=[p] * 4,
                group=op.group))
        elif op.kind == "bn":
            nodes.append(helper.make_node(
                "BatchNormalization", ins + [init(f"{out}.{k}") for k in
                                             ("scale", "bias", "mean", "var")],
                [out], name=out, epsilon=nets.EPS))
        elif op.kind == "relu":
            nodes.append(helper.make_node("Relu", ins, [out], name=out))
        elif op.kind == "relu6":
            lo, hi = f"{out}.min", f"{out}.max"
            inits += [numpy_helper.from_array(np.array(0, np.float32), lo),
                      numpy_helper.from_array(np.array(6, np.float32), hi)]
            nodes.append(helper.make_node("Clip", ins + [lo, hi], [out], name=out))
        elif op.kind == "maxpool":
            nodes.append(helper.make_node("MaxPool", ins, [out], name=out,
                                          kernel_shape=[2, 2], strides=[2, 2]))
        elif op.kind == "add":
            nodes.append(helper.make_node("Add", ins, [out], name=out))
        elif op.kind == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", ins, [out], name=out))
        elif op.kind == "flatten":
            nodes.append(helper.make_node("Flatten", ins, [out], name=out, axis=1))
        elif op.kind == "fc":
            nodes.append(helper.make_node(
                "Gemm", ins + [init(f"{out}.weight"), init(f"{out}.bias")], [out], name=out))
        else:
            raise ValueError(f"op {op.name}: unknown kind {op.kind!r}")
    # the graph output is "logits": rename the last node's output
    nodes[-1].output[0] = "logits"
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *net.in_shape])
    outp = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", net.classes])
    graph = helper.make_graph(nodes, net.arch, [inp], [outp], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="approxmac cnn.onnx_export")
    model.ir_version = 8          # readable by onnxruntime builds older than onnx 1.23
    meta = {"preprocess_mean": [0.0] * net.in_shape[0], "preprocess_std": [1.0] * net.in_shape[0],
            "architecture": net.arch, **(metadata or {})}
    helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in meta.items()})
    model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def save(model, path):
    """Write ``model`` to ``path`` (parent directories created)."""
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def metadata(model):
    """``metadata_props`` as a dict of strings."""
    return {p.key: p.value for p in model.metadata_props}


def _dims(vi):
    return [d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim]


def count(model):
    """(parameters, MACs per image) of an ONNX model. Parameters: the trained elements -- the
    weights and biases of Conv / Gemm / MatMul and the scale / bias of BatchNormalization (not
    its population mean / var). MACs: one multiply per product of every Conv (output elements x
    C_in / group x kH x kW), Gemm and MatMul (output elements x K), batch dimension 1."""
    model = shape_inference.infer_shapes(model)
    g = model.graph
    shapes = {vi.name: _dims(vi) for vi in list(g.input) + list(g.value_info) + list(g.output)}
    sizes = {t.name: int(np.prod(t.dims)) for t in g.initializer}
    shapes.update({t.name: list(t.dims) for t in g.initializer})
    trained = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "BatchNormalization": (1, 2)}
    params = sum(sizes.get(node.input[i], 0) for node in g.node
                 for i in trained.get(node.op_type, ()) if i < len(node.input))
    macs = 0
    for node in g.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            macs += int(np.prod(shapes[node.output[0]])) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            attrs = {at.name: helper.get_attribute_value(at) for at in node.attribute}
            k = a[-2] if attrs.get("transA", 0) else a[-1]
            macs += int(np.prod(shapes[node.output[0]])) * k
    return params, macs


def onnxruntime_logits(model, x, batch=1000, threads=2):
    """Logits of images ``x`` (already preprocessed) under onnxruntime's CPU provider."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([sess.run(["logits"], {"input": x[i:i + batch]})[0]
                           for i in range(0, len(x), batch)])
