r"""Approximation-aware training with golden products: multiple cyclic training (CTMQ).

    python -m cnn.train --ctmq --from cnn/models/smallcnn_mnist5k.onnx \
        --mult mitch_bf16_w2_trunc --start-w 8 --cycles 1 --epochs 0.5 --fp32-epochs 0.5 \
        -o build/ctmq/smallcnn_mnist5k_w2.onnx

Forward pass (``Product``). Every conv and FC product of the network is the golden multiplier's,
summed exactly and rounded once (float units) or summed as integers (integer units), as the ONNX
executor (cnn.executor, cnn.gemm) computes it: the evaluation forward's logits are the
emulator's, bit for bit (tested on batches of the small CNN for every form, and of ResNet-20):

* float operands (``bf16``, ``mitch_bf16``): fp32 -> bf16, round to nearest even (the bit
  pattern u of cnn.mults.to_bf16, here u = (x + 0x7FFF + lsb) >> 16 on the fp32 bits);
* integer operands (``intN``, N = 4..16; ``mitch_int{8|16}``): the executor's symmetric
  quantization q = clip(rint(x / s), +-(2^(N-1)-1)) in float64, activations per node with
  s_a = absmax / (2^(N-1)-1), absmax from cnn.executor.calibrate (``calibration``: the FP32
  path on the first 1000 train images, as approxmac accuracy), weights per output channel;
  the output fp32(acc * (s_a s_w)). XLA rewrites x / broadcast(s) as x * (1 / s) (two
  roundings); the divisor is broadcast behind an optimization barrier so the quotients are
  NumPy's;
* products: the class decomposition of cnn.mults, mul(a, b) = scale(a) scale(b) T[cls(a),
  cls(b)], with T = Mult.table() (golden products of the class representatives) and the
  scale / class fields of cnn.gemm.code_format (floats) or Mult.split (integers) -- the tables
  the emulator uses; no second implementation of the multiplier (intN: the integers' products,
  exact in float64; mitch_int c1 adds the executor's -1 per sign mismatch). The class is moved
  into the channels: input channel (c, i) of the expanded map holds scale(x_c) where
  cls(x_c) = i, else 0, and the expanded weight (c, i) -> o holds scale(b) T[i, cls(b)]; one
  float64 convolution (or matmul) of the expanded tensors, C 2^(w-1) input channels, sums the
  golden terms. (One convolution instead of one im2col matmul per class: 3x less CPU on
  ResNet-20's 28 x 28 x 16 layers, measured in STATUS.md; the im2col rows are never formed);
* sum: float64 (``jax_enable_x64``). Integer sums are exact (integers below 2^53). Float
  units: R(s), R: |s| < 2^-126 -> +0, else fp32 nearest even (cnn.exactsum). Every term is
  exact in float64; the float64 sum s is the exact sum E when a row's terms fit a 52-bit
  window, else within K 2^-53 sum |terms| of it, and R(s) can then differ from R(E) when E
  lies that close to an fp32 rounding point. Training takes R(s). The evaluation forward
  (``Product.exact_form``, used by Trainer.logits) decides every output as cnn.gemm does
  (window test, else the error bound) and sums the rare undecided ones exactly from golden
  products on the host (``exact_outputs``: 8 of ~29 M outputs on 200 ResNet-20 test images
  at Mitch-w3); it also covers products the golden unit flushes below 2^-126 (which the
  decomposition keeps). Float32 summation instead would round after every add (off by ulps
  in most outputs).
  (The ResNet-20 logits that differed before, 5 of the first 200 test images at Mitch-w3, were
  not float64 sums: the inference-form batch norm's division, which XLA computed as a
  multiplication by the reciprocal -- fixed in cnn.train.make_forward);
* backward: straight-through estimator -- the gradient of the exact fp32 conv / matmul at the
  same operands (``jax.custom_vjp``).

Schedule (after Kim, Shin, Del Barrio, "CTMQ: Cyclic Training of Convolutional Neural Networks
with Multiple Quantization Steps", 2022; there the bit depth of a binarized / quantized net is
stepped down, here Mitch-w's w or the integer width N):

    params <- the FP32 model (--from MODEL.onnx, or --continue-from CKPT.pkl)
    for w = start, start - 1, ..., target:                # each step starts from the last
        (integer units: activation scales of the step's start model, ``calibration``)
        repeat cycles times:
            train the Mitch-w model  `epochs` epochs       # low-precision model
            copy its weights into the accurate model; train it `fp32_epochs` epochs (FP32
            products); copy its weights back into the Mitch-w model
        train the Mitch-w model `epochs` epochs             # every step ends on the w model
    BN population statistics with the target-w products; export.

Every phase is SGD (Nesterov) with a fresh optimizer and a cosine decay from ``--lr`` to
``--lr`` / 1000, batch norm with batch statistics, the trainer's augmentation. ``--start-w`` =
target w and ``--cycles 0`` is plain fine-tuning at the target w (``epochs`` epochs): the
baseline. ``--steps`` / ``--fp32-steps`` give a phase's length in SGD steps instead (equal
budgets); ``--steps 0 --cycles 0`` only re-estimates the BN statistics with the target-w
products (no SGD step). The model records the SGD steps taken (``sgd_steps``) and the training
CPU time. Steps: ``mitch_bf16_w*`` from ``--start-w`` (<= 8) down to the target's w;
``intN`` from ``--start-bits`` (<= 16) down to N; ``mitch_int{8|16}_w*`` down in w (<= min(N,
10)); the exported model is evaluated with its own activation scales (approxmac accuracy's).
Group-1 convs only (smallcnn, resnet20).
"""

import functools
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx

from golden.params import ParameterError

from . import data as cnn_data
from . import executor, gemm, nets, onnx_export
from .mults import INT_N, MAX_INT_CLASSES_LOG2, parse_mult

MIN_NORMAL = 2.0 ** -126
BITEXACT_IMAGES = 200


def enable_x64():
    import jax
    jax.config.update("jax_enable_x64", True)


class Product:
    """The conv / matmul products of one golden multiplier in JAX, with a straight-through
    gradient (see the module docstring).

    Parameters
    ----------
    mult : cnn.mults.Mult
        A float (``bf16``, ``mitch_bf16``) or integer (``intN``, ``mitch_int``) multiplier.
    calib : dict, optional
        Integer units: {node name: largest |activation operand|} of every conv / FC node, as
        cnn.executor.calibrate returns it (the activation scale s_a = absmax / (2^(N-1)-1)).

    Raises
    ------
    ParameterError
        for a posit multiplier, or an integer one without ``calib``.
    """

    def __init__(self, mult, calib=None, exact=False):
        if mult.kind not in ("float", "int"):
            raise ParameterError(f"--ctmq trains bf16-operand and integer multipliers "
                                 f"(mitch_bf16_w*, intN, mitch_int*); got {mult.name}")
        if mult.kind == "int" and calib is None:
            raise ParameterError(f"{mult.name}: integer products need activation scales "
                                 f"(cnn.executor.calibrate)")
        enable_x64()
        import jax
        import jax.numpy as jnp
        self.mult, self.calib, self.exact = mult, dict(calib or {}), exact
        classes = mult.n_classes
        # the lowest set bit of any golden table entry (cnn.gemm's low_b)
        self._low_table = float(gemm.lsb_exponent(mult.table()).min(initial=np.inf)) \
            if mult.kind == "float" else 0.0
        table = jnp.asarray(mult.table(), jnp.float64) if mult.w or mult.kind == "float" \
            else None                                              # golden products

        def conv64(x, w, stride, pad):
            return jax.lax.conv_general_dilated(
                x, w, (stride, stride), [(pad, pad), (pad, pad)],
                dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def expand(ca, sa):
            # (..., C) -> (..., C classes) float64: channel c classes + i holds scale(a[c])
            # where cls(a[c]) == i, else 0
            one_hot = jnp.where(ca[..., None] == jnp.arange(classes), sa[..., None], 0.0)
            return one_hot.reshape(*ca.shape[:-1], ca.shape[-1] * classes)

        def expand_weights(cb, sb):
            # (..., C, O) -> (..., C classes, O): row c classes + i holds scale(b) T[i, cls(b)]
            bt = jnp.moveaxis(table[:, cb] * sb[None], 0, -2)         # (..., C, classes, O)
            return bt.reshape(*cb.shape[:-2], cb.shape[-2] * classes, cb.shape[-1])

        if mult.kind == "float":
            tab, hi, lo_mask, cls_shift = gemm.code_format(mult)
            scales = jnp.asarray(tab, jnp.float64)

            def split(x):
                u = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
                u = (u + jnp.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16      # bf16, nearest even
                return ((u & lo_mask) >> cls_shift).astype(jnp.int32), scales[u >> hi]

            def to_fp32(y):
                return jnp.where(jnp.abs(y) < MIN_NORMAL, jnp.float32(0), y.astype(jnp.float32))

            def approx(a, b, name, prod, geometry=None):
                (ca, sa), (cb, sb) = split(a), split(b)
                ea, eb = expand(ca, sa), expand_weights(cb, sb)
                if not self.exact:
                    return to_fp32(prod(ea, eb))
                return self._decided(jax, jnp, prod, ea, eb, sa, sb, to_fp32, a, b, geometry)
        else:
            approx = self._integer(jax, jnp, expand, expand_weights)

        def approx_mm(a, b, name):
            return approx(a, b, name, jnp.matmul)

        def approx_conv(x, w, stride, pad, name):
            return approx(x, w, name, lambda a, b: conv64(a, b, stride, pad), (stride, pad))

        matmul = jax.custom_vjp(approx_mm, nondiff_argnums=(2,))
        matmul.defvjp(lambda a, b, name: (approx_mm(a, b, name), (a, b)),
                      lambda name, res, g: (g @ res[1].T, res[0].T @ g))
        self.matmul = matmul

        def conv_bwd(stride, pad, name, res, g):
            x, w = res
            return jax.vjp(lambda x_, w_: jax.lax.conv_general_dilated(
                x_, w_, (stride, stride), [(pad, pad), (pad, pad)],
                dimension_numbers=("NHWC", "HWIO", "NHWC")), x, w)[1](g)

        conv = jax.custom_vjp(approx_conv, nondiff_argnums=(2, 3, 4))
        conv.defvjp(lambda x, w, stride, pad, name: (approx_conv(x, w, stride, pad, name), (x, w)),
                    conv_bwd)
        self.conv = conv

    def exact_form(self):
        """This Product with ``exact`` on (the evaluation forward): float units check every
        float64 sum and sum the undecided ones exactly (``_decided``); integer sums are exact
        anyway."""
        return self if self.exact or self.mult.kind == "int" else Product(self.mult, exact=True)

    def _decided(self, jax, jnp, prod, ea, eb, sa, sb, to_fp32, a, b, geometry):
        """R(E) for every output: R(s) where the float64 sum s decides it, else the exact sum
        of the golden products (a host callback; see the module docstring).

        As cnn.gemm: where a row's terms are multiples of 2^q (q = log2 of the window's
        smallest nonzero activation scale + the lowest bit of any weight entry sb T) and
        bound = sum |t| (float64) < 2^(52 + q), s is the exact sum E (whatever the order);
        elsewhere s is within (K-1) 2^-53 sum |t| <= K 2^-53 bound of E (K nonzero terms,
        each exact; the computed bound >= sum |t| (1 - (K-1) 2^-53), covered by K vs K-1).
        The golden unit flushes products below 2^-126, which the decomposition keeps: K 2^-126
        more where q < -126. err, widened by |s| 2^-52 so that s -+ err rounded to float64
        still brackets E: R is monotone, so where R(s - err) == R(s + err), R(E_golden) is
        that value; the other outputs go to ``exact_outputs``."""
        s = prod(ea, eb)
        bound = prod(jnp.abs(ea), jnp.abs(eb))
        # nonzero terms per output: one class of each operand (the others are 0)
        k = b.shape[-2] * (b.shape[0] * b.shape[1] if geometry else 1)
        small = jnp.where(sa == 0, jnp.inf, jnp.abs(sa)).min(axis=-1, keepdims=True)
        if geometry:
            stride, pad = geometry
            small = jax.lax.reduce_window(
                small, jnp.inf, jax.lax.min, (1, b.shape[0], b.shape[1], 1),
                (1, stride, stride, 1), [(0, 0), (pad, pad), (pad, pad), (0, 0)])
        low_sb = jnp.where(sb == 0, jnp.inf, jnp.abs(sb)).min()
        low_b = jnp.where(jnp.isinf(low_sb), jnp.inf,
                          jnp.frexp(low_sb)[1] - 1.0) + self._low_table
        q = jnp.where(jnp.isinf(small), jnp.inf, jnp.frexp(small)[1] - 1.0) + low_b
        fits = bound < jnp.ldexp(1.0, jnp.clip(52 + q, -1000, 1000).astype(jnp.int32))
        flush = q < -126                       # nonzero terms are >= 2^q: none flushed if not
        err = (jnp.where(fits, 0.0, (k * 2.0 ** -53) * bound) + jnp.where(flush, k * 2.0 ** -126, 0)
               + jnp.abs(s) * 2.0 ** -52)
        y = to_fp32(s)
        # s is E itself where the terms fit and none is flushed (ties included)
        undecided = (~fits | flush) & (to_fp32(s - err) != to_fp32(s + err))
        fix = functools.partial(exact_outputs, self.mult, geometry)
        shape = jax.ShapeDtypeStruct(y.shape, jnp.float32)
        return jax.lax.cond(undecided.any(),
                            lambda: jax.pure_callback(fix, shape, y, a, b, undecided),
                            lambda: y)

    def _integer(self, jax, jnp, expand, expand_weights):
        """approx(a, b, name, prod) of an integer unit: the executor's quantization (cnn.mults:
        activations per node with the calibrated scale, weights per output channel), the exact
        integer sum of the golden products (intN: the integers' products; mitch_int: the class
        decomposition, plus the c1 correction), then fp32(acc s_a s_w) as cnn.executor.Session."""
        mult = self.mult
        qmax = mult.qmax
        tiny = float(np.finfo(np.float32).tiny)

        def div(a, s):
            # XLA turns a / broadcast(s) into a * (1 / s), which rounds twice; a full-shape
            # divisor behind a barrier keeps the quotient correctly rounded (NumPy's)
            return a / jax.lax.optimization_barrier(jnp.broadcast_to(s, a.shape))

        def quantize(x, s):
            return jnp.clip(jnp.rint(div(x.astype(jnp.float64), s)), -qmax, qmax)

        if mult.w:
            cls_tab, scale_tab = (jnp.asarray(t) for t in mult.split(np.arange(-qmax, qmax + 1)))
            if np.any(mult.table()[0] != 0):
                raise ValueError(f"{mult.name}: T[0, :] must be 0 (JAX pads the expanded map "
                                 f"with zeros)")

            def split(q):
                i = q.astype(jnp.int32) + qmax
                return cls_tab[i].astype(jnp.int32), scale_tab[i]

        def approx(a, b, name, prod, geometry=None):
            s_a = max(self.calib[name], tiny) / qmax                 # as cnn.executor.Session
            m = jnp.abs(b.astype(jnp.float64)).max(axis=tuple(range(b.ndim - 1)))
            s_w = div(jnp.where(m > 0, m, 1.0), jnp.float64(qmax))   # mults.weight_scale
            qa, qb = quantize(a, jnp.float64(s_a)), quantize(b, s_w)
            if not mult.w:
                acc = prod(qa, qb)
            else:
                acc = prod(expand(*split(qa)), expand_weights(*split(qb)))
                if mult.signed == "c1":
                    # c1 gives -p-1 where the signs differ: sum_k na (1 - nb) + (1 - na) nb
                    # = sum_k na (1 - 2 nb) + (negative weights of the column), the padding
                    # (an encoded zero) counting as non-negative
                    na, nb = (qa < 0).astype(jnp.float64), (qb < 0).astype(jnp.float64)
                    acc = acc - prod(na, 1 - 2 * nb) - nb.sum(axis=tuple(range(b.ndim - 1)))
            return (acc * (s_a * s_w)).astype(jnp.float32)

        return approx


EXACT_BLOCK = 4096
UNDECIDED = [0]             # outputs summed exactly by exact_outputs (a count, for the tests)


def exact_outputs(mult, geometry, y, a, b, undecided):
    """y with the outputs where ``undecided`` replaced by R of the exact sum of the golden
    products (cnn.mults.Mult.product, cnn.exactsum.exact_sum_fp32: the emulator's definition,
    cnn.gemm.naive_matmul) of the bf16 operands. a, b: a matmul's (M, K), (K, O), or a conv's
    NHWC map and HWIO weights with geometry = (stride, pad)."""
    from .kernels import exact_round_rows
    from .mults import to_bf16
    y = np.array(y)
    a, b = to_bf16(a), to_bf16(b)
    idx = np.argwhere(np.asarray(undecided))
    UNDECIDED[0] += len(idx)
    if geometry:
        stride, pad = geometry
        kh, kw = b.shape[:2]
        a = np.pad(a, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        b = b.reshape(-1, b.shape[-1])                               # (kh kw C, O)
    for i in range(0, len(idx), EXACT_BLOCK):
        blk = idx[i:i + EXACT_BLOCK]
        if geometry:
            n, oy, ox = blk[:, 0, None, None], blk[:, 1, None, None], blk[:, 2, None, None]
            rows = a[n, oy * stride + np.arange(kh)[:, None], ox * stride + np.arange(kw)]
            rows = rows.reshape(len(blk), -1)                        # (kh, kw, C) order
        else:
            rows = a[blk[:, 0]]
        terms = mult.product(rows, b[:, blk[:, -1]].T)               # golden, (block, K)
        y[tuple(blk.T)] = exact_round_rows(terms)
    return y


def family(mult_name, start):
    """The multipliers of the steps start, start - 1, ..., target: the bit depth stepped down is
    Mitch-w's w (``mitch_bf16_w*``: start up to 8; ``mitch_int{N}_w*``: up to min(N, 10)) or
    the integer width N (``intN``: start up to 16), the target's the one of ``mult_name``."""
    target = parse_mult(mult_name)
    if target.kind == "float" and target.w:
        depth, top, what = target.w, 8, "w"
    elif target.kind == "int":
        depth, top, what = ((target.w, min(target.n, MAX_INT_CLASSES_LOG2), "w") if target.w
                            else (target.n, INT_N[1], "N"))
    else:
        raise ParameterError(f"--mult must be mitch_bf16_w{{2..8}}_{{trunc|unbiased}}, "
                             f"int{{{INT_N[0]}..{INT_N[1]}}} or mitch_int{{8|16}}_w{{2..10}}_"
                             f"{{trunc|unbiased}}_{{exact|c1}} (CTMQ steps down Mitch-w's w or "
                             f"the integer width N); got {mult_name}")
    if isinstance(start, bool) or not isinstance(start, int) or not depth <= start <= top:
        raise ParameterError(f"--start-w / --start-bits (the first step's {what}) must be in "
                             f"{depth}..{top} ({what} = {depth} of the target {mult_name} up to "
                             f"{top}); got {start}")
    if what == "N":
        return [parse_mult(f"int{n}") for n in range(start, depth - 1, -1)]
    return [parse_mult(re.sub(r"_w\d+_", f"_w{w}_", mult_name))
            for w in range(start, depth - 1, -1)]


def calibration(model, ds):
    """The activation scales approxmac accuracy gives an integer unit on ``model``:
    cnn.executor.calibrate over the first cnn.accuracy.DEFAULT_CALIB_IMAGES train images."""
    from .accuracy import DEFAULT_CALIB_IMAGES
    x = ds.x_train[:DEFAULT_CALIB_IMAGES]
    x = np.asarray(x, np.float32) if ds.model_scale else executor.preprocess(model, x)
    return executor.calibrate(model, x)


def load_start(path, net):
    """(params, stats) of an FP32 model: an exported .onnx (initializers) or a trainer
    checkpoint .pkl (parameters and running BN statistics)."""
    import pickle
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"--from / --continue-from: {path} does not exist")
    if path.suffix == ".pkl":
        with open(path, "rb") as f:
            state = pickle.load(f)
        params = {k: np.asarray(v, np.float32) for k, v in state["params"].items()}
        stats = {k: tuple(np.asarray(t, np.float32) for t in v) for k, v in state["stats"].items()}
    else:
        inits = {t.name: onnx.numpy_helper.to_array(t)
                 for t in executor.load_model(path).graph.initializer}
        missing = sorted(set(net.param_shapes) - set(inits))
        if missing:
            raise ParameterError(f"{path} is not a {net.arch} model of cnn.nets: no "
                                 f"{', '.join(missing[:3])}")
        # the trainer keeps BN mean / var among the parameters too (unused there)
        params = {k: inits[k].astype(np.float32) for k in net.param_shapes}
        stats = {op.name: (inits[f"{op.name}.mean"], inits[f"{op.name}.var"])
                 for op in net.ops if op.kind == "bn"}
    for k, shape in net.param_shapes.items():
        layer, kind = k.rsplit(".", 1)
        v = stats[layer][kind == "var"] if kind in ("mean", "var") else params.get(k)
        if v is None or tuple(v.shape) != tuple(shape):
            raise ParameterError(f"{path}: parameter {k} has shape "
                                 f"{None if v is None else v.shape}, {net.arch} needs {shape}")
    return params, stats


def model_logits(path, mult_name, ds, x):
    """Logits of images x (N, C, H, W) in [0, 1] of an exported cnn.nets model (.onnx) whose
    conv / FC products are ``mult_name``'s (a float or integer unit of ``Product``, integer
    ones with ``calibration``'s scales; ``fp32``: float32 products), by the JAX forward in
    inference form (the model's BN statistics): the emulator's logits (``emulator_check``)."""
    import json
    from . import train
    enable_x64()
    model = executor.load_model(path)
    meta = onnx_export.metadata(model)
    if "architecture" not in meta:
        raise ParameterError(f"{path} has no 'architecture' metadata (not a cnn.nets model)")
    net = nets.build(meta["architecture"], ds.image_shape)
    params, stats = load_start(path, net)
    mult = None if mult_name == "fp32" else parse_mult(mult_name)
    calib = calibration(model, ds) if mult is not None and mult.kind == "int" else None
    product = None if mult is None else Product(mult, calib)
    tr = train.Trainer(meta["architecture"], ds, 1, 0, product=product)
    import jax.numpy as jnp
    tr.params = {k: jnp.asarray(v) for k, v in params.items()}
    if "preprocess_mean" in meta:
        tr.mean = json.loads(meta["preprocess_mean"])
        tr.std = json.loads(meta["preprocess_std"])
    return tr.logits(x, {k: tuple(jnp.asarray(t) for t in v) for k, v in stats.items()})


def emulator_check(model, mult_name, trainer, stats, x, calib=None):
    """(identical logits, identical predictions, images) of the JAX forward against the ONNX
    executor (cnn.executor.Session; integer units with the activation scales ``calib``) on
    images x."""
    ref = executor.Session(model, mult_name, calib=calib).run(executor.preprocess(model, x))
    got = trainer.logits(x, stats)
    same = np.array_equal(ref.view(np.uint32), got.astype(np.float32).view(np.uint32))
    return same, bool(np.array_equal(ref.argmax(1), got.argmax(1))), len(x)


def depth(mult):
    """The bit depth CTMQ steps: Mitch-w's w, else the integer width N."""
    return mult.w or mult.n


def run(args, log=print):
    """--ctmq: see the module docstring. Returns the exported model."""
    from . import train
    enable_x64()
    import jax
    import jax.numpy as jnp
    mults = family(args.mult, args.start_w)
    if args.cycles < 0 or args.fp32_epochs <= 0 and args.cycles > 0:
        raise ParameterError("--cycles must be >= 0 and --fp32-epochs > 0")
    for name in ("steps", "fp32_steps", "eval_images"):
        v = getattr(args, name)
        if v is not None and v < 0:
            raise ParameterError(f"--{name.replace('_', '-')} must be >= 0; got {v}")
    if args.steps == 0 and (args.cycles or len(mults) > 1):
        raise ParameterError("--steps 0 (BN statistics only) needs --cycles 0 and --start-w = "
                             "the target's w (or N)")
    if args.fp32_steps == 0 and args.cycles:
        raise ParameterError("--fp32-steps must be > 0 with --cycles > 0")
    src = args.continue_from or args.start_from
    if not src:
        raise ParameterError("--ctmq needs the FP32 model: --from MODEL.onnx or "
                             "--continue-from CKPT.pkl")
    meta0 = {}
    if not str(src).endswith(".pkl"):
        meta0 = onnx_export.metadata(executor.load_model(src))
    arch = meta0.get("architecture", args.arch)
    dataset = args.dataset or meta0.get("dataset")
    ds = cnn_data.load(dataset)
    out = Path(args.out or f"build/ctmq/{arch}_{dataset}_{mults[-1].name}.onnx")
    if out.suffix != ".onnx":
        raise ParameterError(f"-o must name an .onnx file; got {out}")
    net = nets.build(arch, ds.image_shape)
    spe = max(1, len(ds.x_train) // args.batch)
    # steps -> the Trainer's epochs (it takes round(epochs * steps per epoch) steps)
    epochs = args.epochs if args.steps is None else args.steps / spe
    fp32_epochs = args.fp32_epochs if args.fp32_steps is None else args.fp32_steps / spe
    x_eval, y_eval = ds.x_test[:args.eval_images], ds.y_test[:args.eval_images]
    if any(op.kind == "conv" and op.group > 1 for op in net.ops):
        raise ParameterError(f"--ctmq supports group-1 convolutions (smallcnn, resnet20); "
                             f"{arch} has grouped ones")
    params, stats = load_start(src, net)

    def trainer(product, epochs):
        tr = train.Trainer(arch, ds, epochs, args.seed, args.batch, args.lr, args.wd,
                           args.shift, warmup=False, product=product)
        tr.progress = args.progress
        if "preprocess_mean" in meta0:
            import json
            tr.mean = json.loads(meta0["preprocess_mean"])
            tr.std = json.loads(meta0["preprocess_std"])
        return tr

    exporter = trainer(None, 1)

    def product(mult, params, stats):
        """Product of a step: integer units get the scales of the step's start model."""
        if mult.kind != "int":
            return Product(mult)
        exporter.params = {k: jnp.asarray(v) for k, v in params.items()}
        return Product(mult, calibration(exporter.to_onnx(stats, {}), ds))

    def phase(tr, params, stats):
        tr.params = {k: jnp.asarray(v) for k, v in params.items()}
        tr.stats = {k: tuple(jnp.asarray(t, jnp.float32) for t in v) for k, v in stats.items()}
        tr.opt_state = tr.opt.init(tr.params)
        tr.epoch = 0
        loss = float("nan")
        while not tr.done and epochs_of[id(tr)] > 0:
            loss = tr.train_epoch()
        done[tr.product is None] += tr.step
        return jax.device_get(tr.params), jax.device_get(tr.stats), loss

    c0, t0 = time.process_time(), time.time()
    done = [0, 0]                     # SGD steps taken: [Mitch-w, FP32]
    epochs_of = {}
    accurate = trainer(None, fp32_epochs) if args.cycles else None
    epochs_of[id(accurate)] = fp32_epochs
    steps = []
    for mult in mults:
        tr = trainer(product(mult, params, stats), epochs)
        epochs_of[id(tr)] = epochs
        for c in range(args.cycles):
            params, stats, loss = phase(tr, params, stats)
            log(f"{mult.name} cycle {c + 1}: loss {loss:.4f}")
            params, stats, loss = phase(accurate, params, stats)
            log(f"{mult.name} cycle {c + 1}: FP32 loss {loss:.4f}")
        params, stats, loss = phase(tr, params, stats)
        acc = train.accuracy(tr.logits(x_eval, stats), y_eval) if len(x_eval) else None
        steps.append({"w": depth(mult), "loss": round(loss, 4), "test_acc_running_bn": acc,
                      "test_images": len(x_eval)})
        log(f"{mult.name}: loss {loss:.4f}, top-1 on {len(x_eval)} test images (JAX, "
            f"running BN) {acc}, {time.process_time() - c0:.0f} s CPU", flush=True)
    n_bn = min(args.bn_images or len(ds.x_train), len(ds.x_train))
    pop, change = tr.population_stats(args.bn_passes, images=n_bn)
    cpu, wall = time.process_time() - c0, time.time() - t0
    command = args.command or "python -m cnn.train " + " ".join(args.argv)
    meta = {"training_command": command, "start_model": str(src),
            "approx_mult": mults[-1].name,
            "ctmq": {"start_w": depth(mults[0]), "target_w": depth(mults[-1]),
                     "depth": "N" if mults[-1].kind == "int" and not mults[-1].w else "w",
                     "cycles": args.cycles,
                     "epochs_per_phase": epochs, "fp32_epochs": fp32_epochs,
                     "sgd_steps": {"mitch": done[0], "fp32": done[1]},
                     "lr": args.lr, "batch": args.batch, "steps": steps},
            "train_cpu_seconds": round(cpu, 1), "train_wall_seconds": round(wall, 1),
            "bn_statistics": f"population over {n_bn} train images with {mults[-1].name} "
                             f"products, {args.bn_passes} passes (last change {change:.2g})",
            "framework": f"jax {jax.__version__}",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    model = tr.to_onnx(pop, {**meta, "fp32_test_accuracy": 0.0})
    logits = onnx_export.onnxruntime_logits(model, executor.preprocess(model, ds.x_test))
    meta["fp32_test_accuracy"] = train.accuracy(logits, ds.y_test)
    calib = None
    if mults[-1].kind == "int":
        from .accuracy import DEFAULT_CALIB_IMAGES
        # the evaluation uses the exported model's own scales (approxmac accuracy's)
        calib = calibration(model, ds)
        params = tr.params
        tr = trainer(Product(mults[-1], calib), epochs)
        tr.params = params
        meta["activation_scales"] = (
            "each step trains with cnn.executor.calibrate's scales of its start model; the "
            "model is evaluated with its own (first "
            f"{len(ds.x_train[:DEFAULT_CALIB_IMAGES])} train images, as approxmac accuracy)")
    x = ds.x_test[:BITEXACT_IMAGES]
    same, same_pred, n = emulator_check(model, mults[-1].name, tr, pop, x, calib)
    meta["jax_vs_emulator"] = (f"{n} test images: logits {'bit-identical' if same else 'DIFFER'}"
                               f", predictions {'identical' if same_pred else 'DIFFER'}")
    acc = None
    if len(x_eval):
        acc = train.accuracy(tr.logits(x_eval, pop), y_eval)
        meta[f"{mults[-1].name}_test_accuracy"] = acc
        meta[f"{mults[-1].name}_test_images"] = len(x_eval)
    model = tr.to_onnx(pop, meta)
    onnx_export.save(model, out)
    log(f"wrote {out}: {mults[-1].name} top-1 on {len(x_eval)} test images {acc} (JAX = emulator: "
        f"{meta['jax_vs_emulator']}), FP32 top-1 {meta['fp32_test_accuracy']:.4f}; "
        f"{cpu:.0f} s CPU, {wall:.0f} s wall", flush=True)
    if not same_pred:
        raise AssertionError(f"JAX forward and emulator disagree: {meta['jax_vs_emulator']}")
    return model
