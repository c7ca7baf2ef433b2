"""The ONNX executor (cnn.executor).

* per node type (Conv with strides / asymmetric pads / dilation / groups / depthwise / auto_pad /
  1x1, Gemm, MatMul 2-D and batched) and multiplier: the node's output equals the golden
  definition built here independently -- operands encoded here, windows gathered by index
  loops, products and exact sums by gemm.naive_matmul, MAC order by golden.mac.dot -- bit for bit;
* the fp32 path against onnxruntime: a CNN built here, the committed small CNN on its whole test
  split, and the real topologies shipped in the onnx wheel (light_*.onnx), plus one Mitch-w unit
  through each of those;
* calibration, preprocessing, exact nodes, operand hooks, accumulator bound;
* bad input: missing / non-ONNX files, unsupported operators, shapes that do not fit, unknown
  entries and nodes -> ParameterError naming the thing.
"""

from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cnn import executor as ex
from cnn import gemm
from cnn.mults import parse_entry
from golden.mac import dot
from golden.params import ParameterError

ROOT = Path(__file__).resolve().parent.parent
SMALLCNN = ROOT / "cnn" / "models" / "smallcnn_mnist5k.onnx"
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
ENTRIES = ["bf16", "mitch_bf16_w6_trunc", "mitch_int8_w4_trunc_c1", "int8",
           "mitch_bf16_w6_trunc+fp32_add"]


# ---------------------------------------------------------------- models built here
def single_node_model(op, x_shape, inits, attrs=None, opset=17, out="y", out_rank=None):
    """A graph with one node: data input x, the other inputs initializers (name -> array)."""
    out_rank = len(x_shape) if out_rank is None else out_rank
    node = helper.make_node(op, ["x", *inits], [out], name="node", **(attrs or {}))
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                       [f"d{i}" for i in range(out_rank)])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def activations(rng, shape):
    """Signed values with exact zeros and a wide range of magnitudes."""
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-6, 4, shape))
    x[rng.random(shape) < 0.2] = 0
    return x.astype(np.float32)


# ---------------------------------------------------------------- the definition, built here
def encode(mult, x, scale=None):
    """Operands as the unit takes them: bf16 patterns (RNE) or symmetric N-bit integers."""
    if mult.kind == "float":
        return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)
    q = (1 << (mult.n - 1)) - 1
    return np.clip(np.rint(np.asarray(x, np.float64) / scale), -q, q).astype(np.int64)


def windows_by_loops(x, kh, kw, strides, dilations, pads):
    """Rows (n, oh, ow), columns (c, u, v); outside the map: the encoded zero 0."""
    n, c, h, w = x.shape
    (sh, sw), (dh, dw), (t, l, b, r) = strides, dilations, pads
    oh = (h + t + b - (kh - 1) * dh - 1) // sh + 1
    ow = (w + l + r - (kw - 1) * dw - 1) // sw + 1
    rows = []
    for ni in range(n):
        for i in range(oh):
            for j in range(ow):
                row = []
                for ci in range(c):
                    for u in range(kh):
                        for v in range(kw):
                            yy, xx = i * sh - t + u * dh, j * sw - l + v * dw
                            row.append(x[ni, ci, yy, xx] if 0 <= yy < h and 0 <= xx < w else 0)
                rows.append(row)
    return np.array(rows, dtype=x.dtype), oh, ow


def golden_product(entry, a, b, s_a=None, s_b=None):
    """The definition of A (*) B for encoded operands: float32 (M, C)."""
    mult, add = parse_entry(entry)
    if add is not None:
        unit, params = mult.mac_params()
        return dot(a[:, None, :], b.T[None, :, :], unit, **params).view(np.float32)
    y = gemm.naive_matmul(a, b, mult)
    if mult.kind == "int":
        y = (y.astype(np.float64) * (s_a * s_b)).astype(np.float32)
    return y


def scales(mult, x, w_cols):
    """(s_a, s_b) of integer units: per tensor from |x|max, per column of w_cols (K, C)."""
    if mult.kind != "int":
        return None, None
    q = (1 << (mult.n - 1)) - 1
    m = np.abs(w_cols.astype(np.float64)).max(axis=0)
    return float(np.abs(x).max()) / q, np.where(m > 0, m, 1.0) / q


def golden_conv(entry, x, w, bias, strides, dilations, pads, group):
    mult, _ = parse_entry(entry)
    n, c = x.shape[:2]
    m, cg, kh, kw = w.shape
    mg = m // group
    s_a, s_b = scales(mult, x, w.reshape(m, -1).T)
    xe = encode(mult, x, s_a)
    ys = []
    for g in range(group):
        a, oh, ow = windows_by_loops(xe[:, g * cg:(g + 1) * cg], kh, kw, strides, dilations,
                                     pads)
        wg = w[g * mg:(g + 1) * mg].reshape(mg, -1).T
        sb = None if s_b is None else s_b[g * mg:(g + 1) * mg]
        ys.append(golden_product(entry, a, encode(mult, wg, sb), s_a, sb))
    y = np.concatenate(ys, axis=1).reshape(n, oh, ow, m).transpose(0, 3, 1, 2)
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y


def calib_of(x):
    return {"node": float(np.abs(x).max())}


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(np.asarray(a, np.float32).view(np.uint32),
                                                 np.asarray(b, np.float32).view(np.uint32))


# ---------------------------------------------------------------- per node: bit-exact
CONV_CASES = {
    # name: (x shape, w shape, attrs, bias?, pads (t, l, b, r) the definition uses)
    "stride2_asym_pads": ((2, 3, 7, 6), (4, 3, 3, 3),
                          {"strides": [2, 2], "pads": [1, 0, 2, 1]}, True, (1, 0, 2, 1)),
    "dilation2": ((1, 2, 8, 8), (3, 2, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
                  False, (2, 2, 2, 2)),
    "group2": ((2, 4, 5, 5), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}, True,
               (1, 1, 1, 1)),
    "depthwise_same_upper": ((2, 3, 6, 5), (3, 1, 3, 3),
                             {"group": 3, "strides": [2, 2], "auto_pad": "SAME_UPPER"}, True,
                             (0, 1, 1, 1)),
    "pointwise": ((2, 5, 4, 4), (3, 5, 1, 1), {}, True, (0, 0, 0, 0)),
}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_node_is_the_golden_definition(case, entry):
    xs, ws, attrs, has_bias, pads = CONV_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case + entry)))
    x, w = activations(rng, xs), activations(rng, ws)
    bias = rng.standard_normal(ws[0]).astype(np.float32) if has_bias else None
    inits = {"w": w, **({"b": bias} if has_bias else {})}
    model = single_node_model("Conv", list(xs), inits, attrs)
    seen = []
    sess = ex.Session(model, entry, calib=calib_of(x),
                      on_operands=lambda name, a, b: seen.append((name, a, b)))
    got = sess.run(x)
    want = golden_conv(entry, x, w, bias, attrs.get("strides", (1, 1)),
                       attrs.get("dilations", (1, 1)), pads, attrs.get("group", 1))
    assert same_bits(got, want)
    assert len(seen) == attrs.get("group", 1) and seen[0][0] == "node"


@pytest.mark.parametrize("entry", ["mitch_bf16_w6_trunc", "mitch_int8_w4_trunc_c1"])
def test_1d_conv_is_the_golden_definition(entry):
    rng = np.random.default_rng(3)
    x, w = activations(rng, (2, 3, 11)), activations(rng, (4, 3, 3))
    model = single_node_model("Conv", [2, 3, 11], {"w": w},
                              {"strides": [2], "pads": [2, 1], "dilations": [2]})
    got = ex.Session(model, entry, calib=calib_of(x)).run(x)
    want = golden_conv(entry, x[:, :, None], w[:, :, None], None, (1, 2), (1, 2), (0, 2, 0, 1), 1)
    assert same_bits(got, want[:, :, 0])


def test_conv_operand_hook_sees_the_encoded_windows():
    xs, ws, attrs, _, pads = CONV_CASES["stride2_asym_pads"]
    rng = np.random.default_rng(5)
    x, w = activations(rng, xs), activations(rng, ws)
    seen = []
    sess = ex.Session(single_node_model("Conv", list(xs), {"w": w}, attrs), "mitch_bf16_w6_trunc",
                      on_operands=lambda name, a, b: seen.append((a, b)))
    sess.run(x)
    mult, _ = parse_entry("bf16")
    a, _, _ = windows_by_loops(encode(mult, x), 3, 3, (2, 2), (1, 1), pads)
    assert np.array_equal(seen[0][0], a)
    assert np.array_equal(seen[0][1], encode(mult, w.reshape(4, -1).T))


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_node_is_the_golden_definition(entry, trans_a):
    rng = np.random.default_rng(11 + trans_a)
    a = activations(rng, (6, 9) if not trans_a else (9, 6))
    b = activations(rng, (5, 9))                    # transB = 1: B is (N, K)
    c = rng.standard_normal(5).astype(np.float32)
    model = single_node_model("Gemm", list(a.shape), {"b": b, "c": c},
                              {"transA": trans_a, "transB": 1, "alpha": 0.75, "beta": 1.5})
    got = ex.Session(model, entry, calib=calib_of(a)).run(a)
    mult, _ = parse_entry(entry)
    a2, bk = (a.T if trans_a else a), b.T
    s_a, s_b = scales(mult, a2, bk)
    prod = golden_product(entry, encode(mult, a2, s_a), encode(mult, bk, s_b), s_a, s_b)
    want = prod * np.float32(0.75) + np.float32(1.5) * c
    assert same_bits(got, want)


@pytest.mark.parametrize("entry", ENTRIES)
def test_matmul_node_is_the_golden_definition(entry):
    rng = np.random.default_rng(21)
    mult, _ = parse_entry(entry)
    a, b = activations(rng, (3, 4, 7)), activations(rng, (7, 5))       # batched A, 2-D B
    got = ex.Session(single_node_model("MatMul", list(a.shape), {"b": b}), entry,
                     calib=calib_of(a)).run(a)
    s_a, s_b = scales(mult, a, b)
    want = golden_product(entry, encode(mult, a.reshape(-1, 7), s_a), encode(mult, b, s_b),
                          s_a, s_b).reshape(3, 4, 5)
    assert same_bits(got, want)


@pytest.mark.parametrize("entry", ["mitch_bf16_w6_trunc", "mitch_int8_w4_trunc_c1"])
def test_batched_matmul_is_one_product_per_batch_matrix(entry):
    rng = np.random.default_rng(22)
    mult, _ = parse_entry(entry)
    a, b = activations(rng, (2, 3, 6)), activations(rng, (2, 6, 4))
    got = ex.Session(single_node_model("MatMul", list(a.shape), {"b": b}), entry,
                     calib=calib_of(a)).run(a)
    s_a = scales(mult, a, b[0])[0]
    for i in range(2):
        s_b = scales(mult, a, b[i])[1]
        want = golden_product(entry, encode(mult, a[i], s_a), encode(mult, b[i], s_b), s_a, s_b)
        assert same_bits(got[i], want)


def test_fixed_batch_of_one_runs_images_one_at_a_time():
    rng = np.random.default_rng(23)
    a, b = activations(rng, (3, 1, 6)), activations(rng, (6, 2))
    model = single_node_model("MatMul", [1, 1, 6], {"b": b})
    sess = ex.Session(model, "mitch_bf16_w6_trunc")
    got = sess.run(a)
    assert same_bits(got, np.concatenate([sess.run(a[i:i + 1]) for i in range(3)]))
    assert np.allclose(ex.ort_run(model, a), a @ b, rtol=1e-5, atol=0)


def test_integer_accumulator_bound_is_recorded():
    rng = np.random.default_rng(31)
    a, b = activations(rng, (4, 8)), activations(rng, (8, 3))
    sess = ex.Session(single_node_model("MatMul", [4, 8], {"b": b}), "int8", calib=calib_of(a))
    sess.run(a)
    mult, _ = parse_entry("int8")
    s_a, s_b = scales(mult, a, b)
    acc = encode(mult, a, s_a) @ encode(mult, b, s_b)
    assert sess.max_abs_acc == np.abs(acc).max() > 0


# ---------------------------------------------------------------- a CNN built here vs onnxruntime
def tiny_cnn(rng, opset=17):
    """conv(pads) - BN - ReLU - maxpool(pads) - depthwise conv - Clip - avgpool - GAP - flatten
    - Gemm - Softmax, random weights."""
    def init(name, *shape, scale=0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32),
                                       name)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["n1"], name="bn"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="dw", group=6, pads=[1, 1, 1, 1]),
        (helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6") if opset >= 11 else
         helper.make_node("Clip", ["c2"], ["r2"], name="relu6", min=0.0, max=6.0)),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="avg", kernel_shape=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["p2"], ["p3"], name="gap"),
        helper.make_node("Flatten", ["p3"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], name="softmax"),
    ]
    var = numpy_helper.from_array((rng.random(6) + 0.5).astype(np.float32), "var")
    inits = [init("w1", 6, 1, 3, 3), init("b1", 6), init("g", 6), init("be", 6), init("mu", 6),
             var, init("w2", 6, 1, 3, 3), init("w3", 10, 6), init("b3", 10),
             numpy_helper.from_array(np.float32(0), "lo"),
             numpy_helper.from_array(np.float32(6), "hi")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 12, 12])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10]),
         helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def assert_like_onnxruntime(model, x, batch=None):
    """Same top-1 everywhere and logits within 1e-4 max |logit| of onnxruntime's."""
    want = ex.ort_run(model, x)
    sess = ex.Session(model, "fp32")
    got = sess.predict(x, batch) if batch else sess.run(x)
    assert got.shape == want.shape
    tol = 1e-4 * np.abs(want).max()
    assert np.abs(got - want).max() <= tol
    flat_w, flat_g = want.reshape(len(want), -1), got.reshape(len(got), -1)
    top2 = np.sort(flat_w, axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 2 * tol       # ties within the tolerance: no top-1
    assert (flat_g.argmax(1) == flat_w.argmax(1))[decided].all()
    return got, want, decided


def test_fp32_path_matches_onnxruntime_on_a_cnn_built_here():
    rng = np.random.default_rng(41)
    model = tiny_cnn(rng)
    x = rng.random((64, 1, 12, 12), dtype=np.float32)
    _, _, decided = assert_like_onnxruntime(model, x)
    assert decided.mean() > 0.9


def test_mitch_path_runs_the_cnn_built_here():
    rng = np.random.default_rng(42)
    model = tiny_cnn(rng)
    x = rng.random((8, 1, 12, 12), dtype=np.float32)
    calib = ex.calibrate(model, x)
    fp32 = ex.Session(model, "fp32").run(x)
    for entry in ("mitch_bf16_w6_trunc", "mitch_int8_w6_trunc_c1"):
        y = ex.Session(model, entry, calib=calib).run(x)
        assert y.shape == fp32.shape and np.isfinite(y).all()
        assert 0 < np.abs(y - fp32).max() < 0.2 * np.abs(fp32).max()


@pytest.mark.parametrize("entry", ["bf16", "mitch_bf16_w3_unbiased", "int16",
                                   "mitch_int8_w6_trunc_c1", "mitch_int16_w8_unbiased_exact"])
def test_whole_network_fast_path_equals_naive_path(entry):
    rng = np.random.default_rng(48)
    model = tiny_cnn(rng)
    x = rng.random((2, 1, 12, 12), dtype=np.float32)
    calib = ex.calibrate(model, x)
    fast = ex.Session(model, entry, calib=calib).run(x)
    naive = ex.Session(model, entry, calib=calib, path="naive").run(x)
    assert same_bits(fast, naive)


def test_calibrate_gives_each_nodes_activation_absmax():
    rng = np.random.default_rng(43)
    model = tiny_cnn(rng)
    x = rng.random((5, 1, 12, 12), dtype=np.float32)
    calib = ex.calibrate(model, x, batch=2)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in ("p1", "f"):
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    import onnxruntime as ort
    outs = ort.InferenceSession(probe.SerializeToString()).run(["p1", "f"], {"x": x})
    assert calib["conv1"] == float(np.abs(x).max())
    assert calib["dw"] == pytest.approx(float(np.abs(outs[0]).max()), rel=1e-5)
    assert calib["fc"] == pytest.approx(float(np.abs(outs[1]).max()), rel=1e-5)


def test_exact_nodes_stay_fp32():
    rng = np.random.default_rng(44)
    model = tiny_cnn(rng)
    x = rng.random((4, 1, 12, 12), dtype=np.float32)
    fp32 = ex.Session(model, "fp32").run(x)
    keep = ex.Session(model, "mitch_bf16_w2_trunc", exact_nodes=["conv1", "dw", "fc"]).run(x)
    assert same_bits(keep, fp32)
    assert not same_bits(ex.Session(model, "mitch_bf16_w2_trunc", exact_nodes=["conv1"]).run(x),
                         fp32)


def test_preprocess_applies_the_models_mean_and_std():
    model = tiny_cnn(np.random.default_rng(45))
    x = np.random.default_rng(46).random((2, 1, 12, 12), dtype=np.float32)
    assert np.array_equal(ex.preprocess(model, x), x)
    helper.set_model_props(model, {"preprocess_mean": "[0.25]", "preprocess_std": "[0.5]"})
    assert np.array_equal(ex.preprocess(model, x), (x - np.float32(0.25)) / np.float32(0.5))
    helper.set_model_props(model, {"preprocess_mean": "[0.1, 0.2]"})
    with pytest.raises(ParameterError, match="preprocess_mean"):
        ex.preprocess(model, x)


def test_old_opset_models_keep_their_semantics():
    """An opset-9 model: Softmax flattens from axis 1, BatchNormalization uses running stats."""
    rng = np.random.default_rng(47)
    model = tiny_cnn(rng, opset=9)
    model.graph.output.pop(0)                       # only the 2-D softmax, whose axis matters
    x = rng.random((3, 1, 12, 12), dtype=np.float32)
    assert_like_onnxruntime(model, x)


# ---------------------------------------------------------------- the committed small CNN
@pytest.mark.skipif(not SMALLCNN.is_file(), reason="cnn/models/smallcnn_mnist5k.onnx not merged")
def test_fp32_path_matches_onnxruntime_on_the_whole_mnist5k_test_split():
    from cnn import data
    model = ex.load_model(SMALLCNN)
    ds = data.load("mnist5k")
    x = ex.preprocess(model, ds.x_test)
    _, want, decided = assert_like_onnxruntime(model, x, batch=500)
    assert decided.all() and len(x) == 1000
    assert (want.argmax(1) == ds.y_test).mean() >= 0.98


# ---------------------------------------------------------------- real topologies (onnx wheel)
LIGHT = {name: LIGHT_DIR / f"light_{name}.onnx" for name in (
    "squeezenet", "inception_v1", "bvlc_alexnet", "inception_v2", "resnet50", "densenet121",
    "shufflenet", "zfnet512", "vgg19")}
LIGHT_FP32_FAST = ("squeezenet", "inception_v1")                    # a few seconds each
LIGHT_MITCH_FAST = ("squeezenet",)                                  # ~10 s; the rest 1-8 min


def logits_model(path):
    """The model with the input of its final Softmax (if any) as first output: softmax of
    near-equal logits is ill-conditioned, the logits are what the 1e-4 criterion is about."""
    model = ex.load_model(path)
    last = model.graph.node[-1]
    if last.op_type == "Softmax":
        model.graph.output.insert(0, helper.make_tensor_value_info(last.input[0],
                                                                   TensorProto.FLOAT, None))
    return model


def light_input(model):
    return np.random.default_rng(51).random(ex.input_shape(model)[1], dtype=np.float32)


def marked(names, fast):
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("name", marked(LIGHT, LIGHT_FP32_FAST))
def test_light_model_fp32_path_matches_onnxruntime(name):
    model = logits_model(LIGHT[name])
    assert_like_onnxruntime(model, light_input(model))


@pytest.mark.parametrize("name", marked(LIGHT, LIGHT_MITCH_FAST))
def test_light_model_runs_with_a_mitch_unit(name):
    model = logits_model(LIGHT[name])
    x = light_input(model)
    y = ex.Session(model, "mitch_bf16_w6_trunc").run(x)
    assert y.shape == ex.ort_run(model, x).shape and np.isfinite(y).all()


# ---------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    with pytest.raises(ParameterError, match=r"nope\.onnx does not exist"):
        ex.load_model(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"not a model at all\n", bytes(range(256)) * 4, b""])
def test_non_onnx_file(tmp_path, content):
    path = tmp_path / "weights.onnx"
    path.write_bytes(content)
    with pytest.raises(ParameterError, match=r"weights\.onnx is not (a valid )?(an )?ONNX model"):
        ex.load_model(path)


@pytest.mark.parametrize("op, domain", [("LSTM", ""), ("ConvTranspose", ""), ("Einsum", ""),
                                        ("MyConv", "com.example")])
def test_unsupported_operator_names_node_and_op(tmp_path, op, domain):
    node = helper.make_node(op, ["x"], ["y"], name="the_node", domain=domain)
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)             # the op is refused before onnx.checker looks at it
    with pytest.raises(ParameterError, match=rf"node 'the_node' has op type {op}.*approximated: "
                                             r"Conv, Gemm, MatMul"):
        ex.check_model(model)
    with pytest.raises(ParameterError, match=rf"m\.onnx.*{op}"):
        ex.load_model(path)


def test_input_shape_mismatch():
    model = tiny_cnn(np.random.default_rng(61))
    for bad in (np.zeros((2, 1, 28, 28), np.float32), np.zeros((2, 12, 12), np.float32)):
        with pytest.raises(ParameterError, match=r"input 'x' takes shape \(N, 1, 12, 12\); "
                                                 r"got data of shape"):
            ex.Session(model, "bf16").run(bad)
        with pytest.raises(ParameterError, match="input 'x' takes shape"):
            ex.ort_run(model, bad)


def test_bad_entry_exact_node_and_missing_calibration():
    model = tiny_cnn(np.random.default_rng(62))
    with pytest.raises(ParameterError, match="mult must be"):
        ex.Session(model, "mitch_bf99")
    with pytest.raises(ParameterError, match="adder must be"):
        ex.Session(model, "bf16+nope_add")
    with pytest.raises(ParameterError, match=r"exact nodes relu are not Conv / Gemm / MatMul "
                                             r"nodes of the model; those are: conv1, dw, fc"):
        ex.Session(model, "bf16", exact_nodes=["relu"])
    with pytest.raises(ParameterError, match="int8 needs activation scales"):
        ex.Session(model, "int8")


# ---------------------------------------------------------------- posit units
POSIT_ENTRIES = ["posit_n8_es0", "posit_n8_es1", "posit_n16_es1", "plam_n8_es0", "plam_n8_es1",
                 "plam_n16_es1"]


def posit_mac_product(entry, x, w):
    """The definition for posit units: operands fp32 -> posit (golden float64_to_posit), every
    dot product by golden.mac.dot (the quire MAC, rounded once to posit), as float32."""
    from golden.posit import float64_to_posit, posit_to_float64
    mult, _ = parse_entry(entry)
    n, es = mult.n, mult.es
    a, b = (float64_to_posit(np.asarray(v, np.float64), n=n, es=es) for v in (x, w))
    acc = dot(a[:, None, :], b.T[None, :, :], mult.unit, n=n, es=es)
    return posit_to_float64(acc, n=n, es=es).astype(np.float32)


@pytest.mark.parametrize("entry", POSIT_ENTRIES)
def test_posit_conv_and_gemm_nodes_are_the_golden_quire_mac(entry):
    xs, ws, attrs, _, pads = CONV_CASES["stride2_asym_pads"]
    rng = np.random.default_rng(sum(map(ord, entry)))
    x, w = activations(rng, xs), activations(rng, ws)
    bias = rng.standard_normal(ws[0]).astype(np.float32)
    got = ex.Session(single_node_model("Conv", list(xs), {"w": w, "b": bias}, attrs), entry).run(x)
    # windows of the fp32 map (the padding 0 is the posit zero), encoded in posit_mac_product
    a, oh, ow = windows_by_loops(x, 3, 3, attrs["strides"], (1, 1), pads)
    y = posit_mac_product(entry, a, w.reshape(ws[0], -1).T)
    want = y.reshape(xs[0], oh, ow, ws[0]).transpose(0, 3, 1, 2) + bias[None, :, None, None]
    assert same_bits(got, want)
    a, b = activations(rng, (6, 9)), activations(rng, (5, 9))
    got = ex.Session(single_node_model("Gemm", [6, 9], {"b": b}, {"transB": 1}), entry).run(a)
    assert same_bits(got, posit_mac_product(entry, a, b.T))


@pytest.mark.parametrize("entry", POSIT_ENTRIES)
def test_posit_units_whole_network_fast_path_equals_naive_path(entry):
    """The committed digits CNN (2 convs, BN, pools, FC) on 3 test images."""
    from cnn.data import load
    model = ex.load_model(ROOT / "cnn" / "models" / "smallcnn_digits.onnx")
    x = ex.preprocess(model, load("digits").x_test[:3])
    fast = ex.Session(model, entry).run(x)
    naive = ex.Session(model, entry, path="naive").run(x)
    assert same_bits(fast, naive) and np.isfinite(fast).all()
