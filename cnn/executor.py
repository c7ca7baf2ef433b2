r"""Run any ONNX model with approxmac's golden arithmetic.

Every product of every ``Conv``, ``Gemm`` and ``MatMul`` node goes through the chosen golden
multiplier (cnn.mults) with exact accumulation -- or, for ``MULT+ADDER`` entries, accumulation in
MAC order with a golden adder -- computed by cnn.gemm (the class decomposition, bit-exact with
the naive product-by-product definition). All other operators run in fp32 in
``onnx.reference.ReferenceEvaluator``; the approximated ones are passed to it as ``new_ops``.

Products. A node's output is ``Y = A (*) B`` with A the activation operand and B the weight
operand, each product from the golden unit:

* Conv (X, W, B): A = im2col(X) (cnn.conv: any kernel, strides, pads incl. auto_pad, dilations),
  B = W reshaped to (C_in/group * kh * kw, C_out); ``group`` > 1 (depthwise included) is one
  such product per group. The bias is added afterwards in fp32. The padding is the encoded zero:
  it is fed to the unit like any operand (as a systolic array fed with zeros would). 1-D convs
  are 2-D convs with H = 1.
* Gemm (A, B, C): A' = A or A^T (transA), B' = B or B^T (transB); Y = alpha * (A' (*) B') +
  beta * C with alpha, beta and the C add in fp32.
* MatMul (A, B): 2-D, and batched with NumPy broadcasting (one product per batch matrix; a 2-D
  B with a batched A is one product of A reshaped to (-1, K)).

Operands. ``fp32``: float32 im2col and a NumPy (BLAS) matmul, no encoding. bf16 units: A and B
rounded fp32 -> bf16, round to nearest even (cnn.mults.to_bf16). Posit units: A and B rounded
fp32 -> posit<n, es> (nearest even, saturating: cnn.mults.to_posit); the product is the quire MAC
rounded to posit<n, es>, as float32. Integer units (int8, int16,
mitch_int*): symmetric quantization q = clip(rint(x / s), -(2^(N-1)-1), 2^(N-1)-1), the exact
integer dot product, then fp32(acc * s_a * s_b[c]) computed in float64; the weight operand B per
output channel (column c of B: s_b[c] = max_k |B[k, c]| / (2^(N-1)-1), over each batch matrix
separately for a batched MatMul), the activation operand A per tensor with
s_a = absmax / (2^(N-1)-1), absmax the largest |A| seen by ``calibrate`` in the fp32 path on the
calibration images (activations beyond it saturate). Nodes named in ``exact_nodes`` run the fp32
path.

Operators run in fp32 are the ones in ``FP32_OPS`` (element-wise, activations, normalization,
pooling, shape and index manipulation, reductions). Anything else is refused at load time: in
particular operators that hold products of their own (ConvTranspose, Einsum, LSTM, GRU, RNN,
the quantized and Attention ops) would silently escape the approximation, and control flow
(If, Loop, Scan) and other domains are not supported.

Models older than opset 15 are converted to opset 15 (onnx.version_converter) for the
reference evaluator, which applies the latest schemas' attribute defaults to old nodes: an
opset-9 Softmax would normalize the last axis instead of flattening from axis 1, and an
opset-9..13 BatchNormalization would take the default momentum as a request for training mode
(batch statistics).

MaxPool and AveragePool come from cnn.refops (vectorized): onnx.reference's loop over output
pixels takes 3.0 s (MaxPool) and 14.3 s (AveragePool) on one 64 x 112 x 112 map with a 3 x 3 /
2 window, cnn.refops 0.03 s and 0.09 s: more than the whole rest of a 224 x 224 network's fp32
path. LRN comes from cnn.refops too: onnx.reference's normalizes the wrong axis (see there).

Memory: a product's class table (cnn.gemm: K x n_classes x C float64) is built on blocks of at
most TABLE_ENTRIES entries of the weight columns (exact: each output column depends on its own
weight column only). Models with a fixed batch of 1 run a batch of N inputs one at a time.

Nodes without a name, or with a name another node has, get ``OPTYPE_INDEX`` (their position in
the graph); ``calibrate``, ``exact_nodes`` and ``on_operands`` use these names.
"""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from golden.params import ParameterError

from . import gemm
from .conv import im2col, out_size, resolve_pads
from .mults import parse_entry
from .refops import LRN, AveragePool, MaxPool

APPROX_OPS = ("Conv", "Gemm", "MatMul")
FP32_OPS = tuple(sorted({
    # element-wise arithmetic and logic
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Sqrt", "Reciprocal", "Pow", "Exp", "Log", "Erf",
    "Floor", "Ceil", "Round", "Sign", "Max", "Min", "Sum", "Mean", "Mod", "Where", "Equal",
    "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN",
    "IsInf",
    # activations
    "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu",
    "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish", "ThresholdedRelu", "Softmax",
    "LogSoftmax", "Hardmax",
    # normalization
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN",
    "MeanVarianceNormalization",
    # pooling
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
    # shape, index and data movement
    "Identity", "Dropout", "Cast", "CastLike", "Constant", "ConstantOfShape", "Shape", "Size",
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad", "Range", "DepthToSpace",
    "SpaceToDepth", "Resize", "Upsample", "NonZero", "ArgMax", "ArgMin", "TopK", "OneHot",
    "ScatterElements", "ScatterND", "Trilu",
    # reductions
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceSumSquare", "ReduceLogSumExp",
}))
SUPPORTED_OPS = tuple(sorted(APPROX_OPS + FP32_OPS))
CALIB_BATCH = 500
REFERENCE_OPSET = 15
TABLE_ENTRIES = 1 << 24


# ---------------------------------------------------------------- loading and checking
def load_model(path):
    """The ONNX model at ``path``, checked: it parses, passes onnx.checker, has one data input
    and only supported operators (nodes named, see the module docstring).

    Raises
    ------
    ParameterError
        naming the file, or the node and its op type, and what is allowed.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"model file {path} does not exist (give an .onnx file)")
    try:
        model = onnx.load(str(path))
    except Exception as e:     # protobuf raises DecodeError, RuntimeWarning, ...
        raise ParameterError(f"{path} is not an ONNX model ({type(e).__name__}: {e})") from None
    if not model.graph.node:
        raise ParameterError(f"{path} is not an ONNX model (no graph nodes)")
    check_model(model, str(path))
    try:
        onnx.checker.check_model(model)
    except Exception as e:     # ValidationError
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParameterError(f"{path} is not a valid ONNX model: {msg}") from None
    return model


def check_model(model, where="model"):
    """ParameterError unless every node's op is supported and there is one data input; names
    the nodes (in place)."""
    _name_nodes(model)
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            dom = f" (domain {node.domain})" if node.domain not in ("", "ai.onnx") else ""
            raise ParameterError(
                f"{where}: node {node.name!r} has op type {node.op_type}{dom}, which the executor "
                f"does not support; approximated: {', '.join(APPROX_OPS)}; run in fp32: "
                f"{', '.join(FP32_OPS)}")
    data_inputs(model, where)
    return model


def data_inputs(model, where="model"):
    """The graph inputs that are not initializers; ParameterError unless there is one."""
    inits = {t.name for t in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    if len(ins) != 1:
        raise ParameterError(f"{where} has {len(ins)} data inputs "
                             f"({', '.join(i.name for i in ins)}); the executor takes exactly one")
    return ins


def _name_nodes(model):
    seen = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def input_shape(model):
    """(name, dims) of the data input; a dim is an int, or None where it is free (dims is None
    when the model gives no shape)."""
    inp = data_inputs(model)[0]
    if not inp.type.tensor_type.HasField("shape"):
        return inp.name, None
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


def check_input(model, x):
    """ParameterError unless x (N, ...) fits the model's data input (a fixed batch of 1 takes
    any N: Session runs such models one image at a time)."""
    name, dims = input_shape(model)
    if dims is None:
        return
    want = ["N" if i == 0 and d in (None, 1) else ("?" if d is None else d)
            for i, d in enumerate(dims)]
    ok = x.ndim == len(dims) and all(d is None or d == s for i, (d, s) in
                                     enumerate(zip(dims, x.shape)) if i > 0)
    if not ok:
        raise ParameterError(
            f"model {model.graph.name or '(unnamed)'} input {name!r} takes shape "
            f"({', '.join(map(str, want))}); got data of shape {tuple(x.shape)}")


# ---------------------------------------------------------------- preprocessing and baseline
def preprocess(model, x):
    """x (N, C, H, W) in [0, 1] -> (x - mean[c]) / std[c] (float32), with mean and std the
    JSON lists ``preprocess_mean`` / ``preprocess_std`` in the model's metadata_props (one
    value per channel, or one for all; absent: 0 and 1)."""
    x = np.asarray(x, dtype=np.float32)
    props = {p.key: p.value for p in model.metadata_props}
    out = x
    for key, op in (("preprocess_mean", np.subtract), ("preprocess_std", np.divide)):
        if key not in props:
            continue
        try:
            v = np.asarray(json.loads(props[key]), dtype=np.float32).reshape(-1)
        except (ValueError, TypeError):
            raise ParameterError(f"metadata {key} must be a JSON list of numbers; "
                                 f"got {props[key]!r}") from None
        if v.size not in (1, x.shape[1]) or (key == "preprocess_std" and (v == 0).any()):
            raise ParameterError(f"metadata {key} must hold 1 or {x.shape[1]} (nonzero for std) "
                                 f"values for {x.shape[1]}-channel data; got {props[key]}")
        out = op(out, v.reshape(1, -1, *([1] * (x.ndim - 2)))).astype(np.float32)
    return out


def _one_by_one(dims, x):
    """A model with a fixed batch of 1 runs a batch of N images one at a time."""
    return bool(dims) and dims[0] == 1 and len(x) != 1


def ort_session(model, threads=None):
    """onnxruntime (CPU, float32) on the model: a function x -> the model's first output (the
    exact FP32 baseline); ``threads`` sets its intra-op pool (default: onnxruntime's)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = opts.inter_op_num_threads = int(threads)
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    one_by_one = input_shape(model)[1]

    def run(x):
        x = np.asarray(x, dtype=np.float32)
        check_input(model, x)
        if _one_by_one(one_by_one, x):
            return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
        return sess.run(None, {name: x})[0]
    return run


def ort_run(model, x):
    """The model's first output from onnxruntime (CPU, float32): the exact FP32 baseline."""
    x = np.asarray(x, dtype=np.float32)
    check_input(model, x)
    return ort_session(model)(x)


def calibrate(model, x_calib, batch=CALIB_BATCH):
    """{node name: largest |activation operand|} of every Conv / Gemm / MatMul node over the
    images x_calib in the fp32 path: the integer units' per-tensor activation scales."""
    seen = {}

    def observe(name, a):
        seen[name] = max(seen.get(name, 0.0), float(np.abs(a).max(initial=0)))

    sess = Session(model, "fp32")
    sess._observe = observe
    sess.predict(x_calib, batch)
    return seen


def _for_reference(model):
    """The model in opset >= REFERENCE_OPSET: onnx.reference takes attribute defaults from the
    latest schemas (see the module docstring), so older models are converted by
    onnx.version_converter."""
    version = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                  default=REFERENCE_OPSET)
    if version >= REFERENCE_OPSET:
        return model
    try:
        return version_converter.convert_version(model, REFERENCE_OPSET)
    except Exception as e:
        raise ParameterError(f"model {model.graph.name or '(unnamed)'} has opset {version}; "
                             f"converting it to opset {REFERENCE_OPSET} failed: {e}") from None


# ---------------------------------------------------------------- the session
class Session:
    """A model ready to run with one entry (multiplier, or MULT+ADDER).

    Parameters
    ----------
    model : onnx.ModelProto
    entry : str
        ``fp32``, a multiplier name (cnn.mults.parse_mult) or ``MULT+ADDER`` (parse_entry).
    calib : dict, optional
        ``calibrate``'s result; needed for integer units.
    exact_nodes : iterable of str
        Conv / Gemm / MatMul nodes kept in fp32.
    path : {'fast', 'naive', 'sequential'}
        cnn.gemm's class decomposition, the golden product-by-product loop, or MAC order
        (chosen automatically for MULT+ADDER entries).
    on_operands : callable, optional
        ``on_operands(node_name, a, b)`` sees every approximated product's encoded operand
        matrices (one call per group of a grouped Conv, per batch matrix of a batched MatMul).
    on_product : callable, optional
        ``on_product(node_name, a, b, y) -> y`` post-corrects each approximated product's raw
        result y (fp32 for float units; the integer accumulator, before dequantization, for
        integer units) given its encoded operands; same calls as on_operands
        (cnn.control_variate).

    Attributes
    ----------
    max_abs_acc : int
        Integer units: the largest |integer accumulator| over every run so far.

    Raises
    ------
    ParameterError
        for an unknown entry, path, exact node, unsupported operator, or missing calibration.
    """

    def __init__(self, model, entry, *, calib=None, exact_nodes=(), path="fast",
                 on_operands=None, on_product=None):
        check_model(model)
        self.model = model
        self.entry = entry
        self.mult, self.add = parse_entry(entry)
        if self.add is not None and path == "fast":
            path = "sequential"
        if path not in ("fast", "naive", "sequential"):
            raise ParameterError(f"path must be one of fast, naive, sequential; got {path!r}")
        if path == "sequential" and self.add is None:
            raise ParameterError("path 'sequential' needs an entry MULT+ADDER with a bf16 MULT")
        if path != "sequential" and self.add is not None:
            raise ParameterError(f"entry {entry} (with an adder) runs in MAC order only")
        self.path = path
        approx = [n.name for n in model.graph.node if n.op_type in APPROX_OPS]
        self.exact_nodes = set(exact_nodes)
        unknown = sorted(self.exact_nodes - set(approx))
        if unknown:
            raise ParameterError(f"exact nodes {', '.join(unknown)} are not Conv / Gemm / MatMul "
                                 f"nodes of the model; those are: {', '.join(approx)}")
        self.calib = dict(calib or {})
        if self.mult.kind == "int":
            missing = [n for n in approx if n not in self.exact_nodes and n not in self.calib]
            if missing:
                raise ParameterError(f"{entry} needs activation scales (calibrate) for nodes "
                                     f"{', '.join(missing)}")
        self.on_operands = on_operands
        self.on_product = on_product
        self.max_abs_acc = 0
        self._observe = None
        self.input_name, self.input_dims = input_shape(model)
        ops = [type(name, (cls,), {"op_domain": "", "session": self})
               for name, cls in (("Conv", _Conv), ("Gemm", _Gemm), ("MatMul", _MatMul))]
        self._ref = ReferenceEvaluator(_for_reference(model), new_ops=ops + [MaxPool, AveragePool, LRN])
        self._output = model.graph.output[0].name

    def run(self, x):
        """The model's first output (float32) for inputs x (N, ...)."""
        x = np.asarray(x, dtype=np.float32)
        check_input(self.model, x)
        if _one_by_one(self.input_dims, x):
            return np.concatenate([self.run(x[i:i + 1]) for i in range(len(x))])
        out = self._ref.run([self._output], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)

    def predict(self, x, batch=250):
        """``run`` on ``batch`` inputs at a time (bounds the im2col memory)."""
        return np.concatenate([self.run(x[i:i + batch]) for i in range(0, len(x), batch)])

    # ------------------------------------------------------------ one product
    def product(self, name, x, wmats, patches=None):
        """Y = A (*) B of one node: float32 (M, C), groups side by side.

        x is the activation operand (float32): a map (N, C_in, H, W) whose windows
        ``patches(map, pad)`` are A, or A itself when patches is None. wmats is the weight
        operand B (K, C) float32, or a list of G of them for a grouped conv: group g takes
        channels g C_in/G .. (g+1) C_in/G of the map. The map is encoded once for all groups.
        ``patches.square`` = (k, stride, pad, dilation), when set, lets gemm.fast_conv read
        the windows from the map itself."""
        if self._observe is not None:
            self._observe(name, x)
        mult = self.mult
        wmats = [wmats] if isinstance(wmats, np.ndarray) else list(wmats)
        cg = x.shape[1] // len(wmats)

        def chan(v, g):
            return v[:, g * cg:(g + 1) * cg] if len(wmats) > 1 else v

        def matrix(v, pad=0):
            return patches(v, pad) if patches else v

        if mult.kind == "fp32" or name in self.exact_nodes:
            if len(wmats) == 1:
                return matrix(x) @ wmats[0]
            # group g's columns of the whole map's window matrix are block g: one batched
            # BLAS call for all groups
            a = matrix(x)
            g, kg = len(wmats), wmats[0].shape[0]
            y = np.matmul(a.reshape(len(a), g, kg).transpose(1, 0, 2), np.stack(wmats))
            return y.transpose(1, 0, 2).reshape(len(a), -1)
        if mult.kind != "int":
            xc, s_a = mult.encode(x), None
        else:
            s_a = max(self.calib[name], np.finfo(np.float32).tiny) / mult.qmax
            xc = mult.quantize(x, s_a)
        split = None
        ys = []
        for g, w in enumerate(wmats):
            if mult.kind != "int":
                b, scale = mult.encode(w), None
            else:
                s_w = mult.weight_scale(w)
                b, scale = mult.quantize(w, s_w), s_a * s_w
            xg = chan(xc, g)
            if self.on_operands is not None:
                self.on_operands(name, matrix(xg), b)
            refused = mult.check_fast(xg, b)
            if refused is not None and self.path == "sequential":
                raise ValueError(f"node {name}: class decomposition does not hold: {refused}")
            if self.path == "naive" or refused is not None:
                y = gemm.naive_matmul(matrix(xg), b, mult)
            elif self.path == "sequential":
                # split the feature map once, then im2col the (class, scale) maps: k*k times
                # fewer element operations than splitting the patch matrix; the padding is the
                # split of the encoded zero
                if split is None:
                    ca, sa = mult.split(xc)
                    c0, s0 = mult.split(np.zeros((), dtype=xc.dtype))
                    split = ca.astype(np.int32), sa, int(c0), float(s0)
                ca, sa, c0, s0 = split
                cag, sag = matrix(chan(ca, g), c0), matrix(chan(sa, g), s0)
                y = _by_columns(lambda bc: gemm.sequential_from_split(
                    cag, sag, bc, mult, self.add).view(np.float32), b, mult.n_classes)
            elif getattr(patches, "square", None) is not None:
                # gemm.fast_conv reads the windows from the padded map (no patch matrix)
                k, stride, pad, dil = patches.square
                y = _by_columns(lambda bc: gemm.fast_conv(xg, bc, mult, k, stride, pad, dil),
                                b, mult.n_classes)
            else:
                a = matrix(xg)
                y = _by_columns(lambda bc: gemm.fast_matmul(a, bc, mult), b, mult.n_classes)
            if self.on_product is not None:
                y = self.on_product(name, matrix(xg), b, y)
            if scale is not None:
                self.max_abs_acc = max(self.max_abs_acc, int(np.abs(y).max(initial=0)))
                y = (y.astype(np.float64) * scale).astype(np.float32)
            ys.append(y)
        return np.concatenate(ys, axis=1) if len(ys) > 1 else ys[0]


def _by_columns(f, b, n_classes):
    """f(b) computed on blocks of b's columns (each output column depends on its own column
    only, so this is exact): bounds the class table (K x n_classes x columns float64) to
    TABLE_ENTRIES entries -- a 9216 x 4096 FC's whole table would take 10 GB at w = 6."""
    k, c = b.shape
    blk = max(1, TABLE_ENTRIES // max(1, k * n_classes))
    if blk >= c:
        return f(b)
    return np.concatenate([f(np.ascontiguousarray(b[:, i:i + blk]))
                           for i in range(0, c, blk)], axis=1)


# ---------------------------------------------------------------- the approximated operators
class _Approx(OpRun):
    session = None          # bound by Session to a subclass per session

    def _fail(self, what):
        raise ParameterError(f"node {self.onnx_node.name!r} ({self.onnx_node.op_type}): {what}")


class _Conv(_Approx):
    def _run(self, X, W, B=None, auto_pad=None, dilations=None, group=None, kernel_shape=None,
             pads=None, strides=None, **_):
        X = np.asarray(X, dtype=np.float32)
        W = np.asarray(W, dtype=np.float32)
        if X.ndim == 3:            # 1-D conv: H = 1
            y = self._run(X[:, :, None], W[:, :, None], B, auto_pad, _expand(dilations),
                          group, _expand(kernel_shape, 1), _expand(pads, 0, 2),
                          _expand(strides))[0]
            return (y[:, :, 0],)
        if X.ndim != 4:
            self._fail(f"{X.ndim - 2}-D convolutions are not supported (1-D and 2-D are)")
        n, c, h, wd = X.shape
        m, cg, kh, kw = W.shape
        group = int(group or 1)
        if c != cg * group or m % group:
            self._fail(f"input has {c} channels, weights {W.shape}, group {group}: inconsistent")
        kernel = (kh, kw)
        strides = tuple(int(s) for s in strides) if strides else (1, 1)
        dilations = tuple(int(d) for d in dilations) if dilations else (1, 1)
        pp = resolve_pads((h, wd), kernel, strides, dilations, pads, auto_pad)
        oh, ow = (out_size(s, k, st, d, p)
                  for s, k, st, d, p in zip((h, wd), kernel, strides, dilations, pp))

        def patches(v, pad):
            return im2col(v, kernel, strides, dilations, pp, pad)

        # gemm.fast_conv takes square kernels, one stride, one dilation, equal pads
        same = (kh == kw and strides[0] == strides[1] and dilations[0] == dilations[1]
                and len({p for q in pp for p in q}) == 1)
        patches.square = (kh, strides[0], pp[0][0], dilations[0]) if same else None

        mg = m // group
        wmats = [np.ascontiguousarray(W[g * mg:(g + 1) * mg].reshape(mg, -1).T)
                 for g in range(group)]
        y = self.session.product(self.onnx_node.name, X, wmats, patches)
        y = y.reshape(n, oh, ow, m).transpose(0, 3, 1, 2)
        if B is not None:
            y = y + np.asarray(B, dtype=np.float32)[None, :, None, None]
        return (np.ascontiguousarray(y, dtype=np.float32),)


def _expand(v, fill=1, times=1):
    """A 1-D attribute list as 2-D (H axis first, of size 1 / no pad)."""
    if v is None:
        return None
    v = list(v)
    if times == 2:
        return [0, v[0], 0, v[1]]
    return [fill] + v


class _Gemm(_Approx):
    def _run(self, A, B, C=None, alpha=None, beta=None, transA=None, transB=None, **_):
        a = np.asarray(A, dtype=np.float32)
        b = np.asarray(B, dtype=np.float32)
        a = a.T if transA else a
        b = b.T if transB else b
        y = self.session.product(self.onnx_node.name, np.ascontiguousarray(a),
                                 np.ascontiguousarray(b))
        alpha = 1.0 if alpha is None else alpha
        beta = 1.0 if beta is None else beta
        if alpha != 1.0:
            y = y * np.float32(alpha)
        if C is not None:
            y = y + np.float32(beta) * np.asarray(C, dtype=np.float32)
        return (y.astype(np.float32),)


class _MatMul(_Approx):
    def _run(self, A, B, **_):
        a = np.asarray(A, dtype=np.float32)
        b = np.asarray(B, dtype=np.float32)
        name = self.onnx_node.name
        vec_a, vec_b = a.ndim == 1, b.ndim == 1
        if vec_a:
            a = a[None]
        if vec_b:
            b = b[:, None]
        if b.ndim == 2:
            y = self.session.product(name, np.ascontiguousarray(a.reshape(-1, a.shape[-1])), b)
            y = y.reshape(*a.shape[:-1], b.shape[1])
        else:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            a = np.broadcast_to(a, batch + a.shape[-2:])
            b = np.broadcast_to(b, batch + b.shape[-2:])
            y = np.empty(batch + (a.shape[-2], b.shape[-1]), dtype=np.float32)
            for idx in np.ndindex(*batch):
                y[idx] = self.session.product(name, np.ascontiguousarray(a[idx]),
                                              np.ascontiguousarray(b[idx]))
        if vec_b:
            y = y[..., 0]
        if vec_a:
            y = y[..., 0, :] if not vec_b else y[0]
        return (np.asarray(y, dtype=np.float32),)
