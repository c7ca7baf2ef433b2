"""cnn.refops: the vectorized pools and LRN equal onnxruntime's on every attribute combination
used here (MaxPool bit for bit; averages and LRN within float32 rounding), and hand the cases they
do not cover (ceil_mode windows in the padding, Indices output, 1-D) to onnx.reference."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from cnn.refops import LRN, AveragePool, MaxPool

POOLS = [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2]},
    {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [0, 1, 2, 0]},
    {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 0, 0, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},           # last window in pad
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [0, 0, 1, 1]},
]


def run_both(op, attrs, x, outputs=("y",)):
    node = helper.make_node(op, ["x"], list(outputs), **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT if o == "y" else TensorProto.INT64,
                                       None) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    ours = ReferenceEvaluator(model, new_ops=[MaxPool, AveragePool, LRN]).run(None, {"x": x})
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    return ours, want


@pytest.mark.parametrize("attrs", POOLS)
def test_maxpool_is_onnxruntimes_bit_for_bit(attrs):
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8)).astype(np.float32)
    (got,), (want,) = run_both("MaxPool", attrs, x)
    assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("attrs", POOLS)
def test_averagepool_matches_onnxruntime(attrs, include):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8)).astype(np.float32)
    (got,), (want,) = run_both("AveragePool", {**attrs, "count_include_pad": include}, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 4e-7 * np.abs(want).max()


def test_maxpool_indices_and_1d_go_to_the_reference():
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32)
    (got, idx), (want, widx) = run_both("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]},
                                        x, outputs=("y", "i"))
    assert np.array_equal(got, want) and np.array_equal(idx, widx)
    x1 = x.reshape(1, 2, 36)
    (got,), (want,) = run_both("MaxPool", {"kernel_shape": [3], "strides": [2]}, x1)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_lrn_normalizes_across_channels(size):
    """onnx.reference's LRN (onnx 1.23) only normalizes the first N channels; ours all of them,
    as onnxruntime and the definition (the window c - floor((size-1)/2) .. c + ceil((size-1)/2))."""
    x = np.random.default_rng(4).standard_normal((2, 7, 4, 3)).astype(np.float32) * 3
    attrs = {"size": size, "alpha": 0.1, "beta": 0.75, "bias": 1.5}
    if size % 2:                                  # onnxruntime takes odd sizes only
        (got,), (want,) = run_both("LRN", attrs, x)
        assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
    else:
        got = LRN(helper.make_node("LRN", ["x"], ["y"], **attrs),
                  {"opsets": {"": 19}, "new_ops": {}, "log": print})._run(x, **attrs)[0]
    x64 = x.astype(np.float64)
    sq = np.pad(x64 ** 2, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    total = sum(sq[:, i:i + 7] for i in range(size))
    assert np.abs(got - x64 / (1.5 + 0.1 / size * total) ** 0.75).max() <= 1e-6 * np.abs(x).max()
