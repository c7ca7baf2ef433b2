r"""Control-variate correction of an approximate dot product (Zervakis et al., DAC 2021).

One output of a layer is ``y_j = sum_k a_k b_kj`` (k = 1..K; a: the activation operands of one
output row, b: the weights of filter j). An approximate multiplier M computes

    ytilde_j = sum_k M(a_k, b_kj),      the error  ytilde_j - y_j = sum_k e(a_k, b_kj),
                                        e(a, b) = M(a, b) - a b.

Derivation. Take the a_k of a row as draws of one activation distribution A, the same for every
k (a independent of k), and independent of the weights. For Mitch-w (and any sign-magnitude
unit) e(a, b) = a b r(a, b) with a relative error r that depends on the operands' mantissas
only. Conditioned on the weights,

    E[ytilde_j - y_j | b] = sum_k E_A[e(A, b_kj)] = sum_k b_kj E_A[A r(A, b_kj)]
                          = (sum_k b_kj rbar(b_kj)) E[A]          rbar(b) = E_A[A r(A, b)] / E[A]
                          = kappa_j K E[A],          kappa_j = (1/K) sum_k b_kj rbar(b_kj).

rbar(b) is the activation-weighted mean relative error of M at weight b ("ratio of means":
E_A[e(A, b)] / (b E[A]), exact under the assumption above alone). If moreover r is independent
of |A| (its mantissa does not depend on its magnitude), rbar(b) = E_A[r(A, b)], the plain mean
of (M(a, b) - a b) / (a b) of issue #12: ``kappa_analytic(..., weighting="uniform")``.
K E[A] is unknown per row, but the variate S = sum_k a_k is its unbiased estimate from the same
row (E[S] = K E[A]), shared by every filter j (one exact running sum per row of an
output-stationary array). Subtracting the estimated error gives

    yhat_j = ytilde_j - kappa_j S,
    E[yhat_j - y_j | b] = kappa_j (K E[A] - E[S]) = 0.

So the correction removes the part of the error explained by the activations' sum (its mean and
its row-to-row variation); what is left is the fluctuation of the products' errors around it.

What S cannot see. Conditioned on the activations too, the error is sum_k a_k b_kj r(a_k, b_kj):
with a roughly constant relative error r0 that is r0 y_j, proportional to the output itself
(mitch_bf16 trunc, significands uniform: r <= 0, mean -31.7 / -18.7 / -11.4 / -7.4 / -3.9 % at
w = 2 / 3 / 4 / 5 / 8, a spread of the same size). S predicts it only
through the filter's mean weight (kappa_j ~ r0 mean_k b_kj); for filters with weights of both
signs the multiplicative part stays. A scale does see it: yhat = g ytilde. Hence the combined
estimator, least squares with both regressors per filter,

    yhat_j = g_j ytilde_j - kappa_j S,   (g_j, kappa_j) = argmin sum_m (g ytilde_mj - kappa S_m - y_mj)^2,

g_j folding into the per-channel batch-norm scale and kappa_j S the variate; comparing it with
the scale alone (``channel_scale``, ``layer_scale``) shows what the variate adds.

Estimators (float64 values; ``quantize_kappa`` makes the constants the hardware holds):

* ``kappa_analytic(product, b, a_samples)``: the formula above, rbar from the golden multiplier
  (``product``, e.g. ``cnn.mults.Mult.product``) on activation samples, computed once per
  distinct weight value; offline, needs no exact outputs.
* ``kappa_lstsq(ytilde, y, S)``: the least-squares fit on calibration rows m,
  kappa_j = argmin sum_m (ytilde_mj - y_mj - kappa S_m)^2 = sum_m S_m d_mj / sum_m S_m^2,
  d = ytilde - y. Needs no model of the error: the best kappa for this variate on data like the
  calibration data (it also absorbs what the model leaves out: signed activations, c1's -1 per
  sign mismatch, a dependence between a and r).
* ``scale_kappa_lstsq(normal_sums(ytilde, y, S))``: (g_j, kappa_j) of the combined estimator.
* ``channel_scale(normal_sums(...))``: g_j alone (kappa = 0), per filter.
* ``layer_scale(ytilde, y)``: the simplest alternative, one constant per layer and no variate:
  yhat = g ytilde with g = 1 / (1 + eps), eps = sum (ytilde - y) y / sum y^2 the layer's mean
  relative output error (the least-squares fit of ytilde ~ (1 + eps) y).

Arithmetic (what hardware has to match, bit for bit). The general form is
yhat_j = g_j ytilde_j - kappa_j S: the plain variate has g = 1, the scales kappa = 0.

* Float units (bf16 operands, fp32 outputs). ytilde is the unit's fp32 output and S the row's
  sum of its bf16 activation values accumulated the way that unit accumulates ytilde: the network
  emulator's float layers round the exact sum once (cnn/exactsum.py), so its S is
  S = R(sum_k a_k) (``variate_float``; R: nearest even, |E| < 2^-126 -> +0, beyond the range
  +-Inf); the systolic array accumulates in k order with fp32_add, so its S is that running sum
  (``variate_float_sequential``, golden.systolic). The correction is what one bf16 multiplier
  and one fp32 adder compute (hdl.systolic's drain, the PE's own units): kappa is a bf16
  constant (``quantize_kappa``: nearest even), S is rounded to bf16 (``fp32_to_bf16``: nearest
  even), their product is exact in fp32 (golden bf16_mul: 16 significant bits) and
  yhat = fp32_add(ytilde, -bf16_mul(kappa, bf16(S))) (``correct_float``). With a scale
  (g fp32, ``quantize_scale``; folded into batch norm, not built in hardware) the result is
  the single rounding yhat = R(g ytilde - bf16_mul(kappa, bf16(S))), the expression exact.
  Why not one fused multiply-subtract R(ytilde - kappa S) on fp32 kappa and S: it needs a
  24 x 24-bit product and a 3-operand alignment per output, where the array already has a bf16
  multiplier and an fp32 adder; the bf16 rounding of kappa and S changes the correction by at
  most 2^-8 of itself (two half-ulps of 2^-8), far below the error it corrects.
* Integer units (N-bit operands, exact integer accumulators). S = sum_k a_k exactly (an integer).
  kappa and g are signed fixed-point integers kq = round_half_even(kappa 2^F),
  gq = round_half_even(g 2^F), F = ``KAPPA_FRAC_BITS`` fractional bits (``quantize_kappa``,
  ``quantize_scale``); with ``sig_bits`` M, kappa is first rounded to M significant bits,
  kq = m 2^e (the systolic array's kappa port, golden.systolic.kappa_port). The correction, exact
  integer arithmetic: yhat = (gq ytilde - kq S + 2^(F-1)) >> F (arithmetic shift: the value
  divided by 2^F, rounded half up once) (``correct_int``).
  The result is an integer accumulator value; dequantization follows as without the correction.
"""

from fractions import Fraction

import numpy as np

from .bf16_mul import bf16_mul
from .floats import BF16, FP32
from .fp32_add import fp32_add
from .mac import dot
from .params import ParameterError, check_int

KAPPA_FRAC_BITS = 16        # integer units: fractional bits of the fixed-point kappa
MIN_NORMAL = 2.0 ** -126


# ---------------------------------------------------------------- the variate
def variate_int(a):
    """S[m] = sum_k a[m, k] exactly (int64) of integer activation operands a (M, K)."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ParameterError(f"integer activation operands must be an integer array; got {a.dtype}")
    return a.astype(np.int64).sum(axis=-1)


def variate_float(a_values):
    """S[m] = R(sum_k a[m, k]) (float32) of bf16 activation values a (M, K) as float64.

    Exact: where a row's terms fit a 52-bit window (multiples of 2^q, sum of magnitudes below
    2^(52+q)) float64 adds them without rounding; the other rows are summed with Fractions."""
    a = np.asarray(a_values, dtype=np.float64)
    s = a.sum(axis=-1)
    nz = a != 0
    with np.errstate(divide="ignore"):
        mant, expo = np.frexp(np.where(nz, a, 1.0))
    # every bf16 value is a multiple of 2^(e - 8) with frexp's e (8 significant bits)
    big = 10 ** 6
    low = np.where(nz, expo.astype(np.int64) - 8, big).min(axis=-1, initial=big)
    total = np.abs(a).sum(axis=-1)
    # margin 1 bit: total itself is computed in float64
    exact = ~nz.any(axis=-1) | (total < np.ldexp(1.0, np.clip(low + 51, -1070, 1023)))
    out = round_fp32(s)
    for m in np.flatnonzero(~exact.reshape(-1)):
        idx = np.unravel_index(m, s.shape)
        out[idx] = round_fraction_fp32(sum(Fraction(float(v)) for v in a[idx]))
    return out


def variate_float_sequential(a):
    """S[m] (fp32 patterns) of bf16 patterns a (M, K): the running sum in k order from +0 with
    golden fp32_add, i.e. the dot product with 1.0 as a bf16_mac computes it (the systolic
    array's variate accumulator: subnormal activations count as zeros, NaN / Inf propagate)."""
    a = BF16.bits(a, "a")
    return dot(a, np.uint16(0x3F80), "bf16_mac")


# ---------------------------------------------------------------- rounding R
def round_fp32(v):
    """R of float64 values taken as exact (nearest even, |v| < 2^-126 -> +0, overflow -> Inf)."""
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):
        r = v.astype(np.float32)
    return np.where(np.abs(v) < MIN_NORMAL, np.float32(0), r).astype(np.float32)


def round_fraction_fp32(x):
    """R of one exact rational ``x`` (a Fraction): float32."""
    x = Fraction(x)
    if abs(x) < Fraction(MIN_NORMAL):
        return np.float32(0)
    with np.errstate(over="ignore"):
        f = np.float32(float(x))            # within one fp32 ulp of x: check the neighbours
    if np.isinf(f):
        big = Fraction(float.fromhex("0x1.ffffffp+127"))     # ties to Inf
        if abs(x) < big:
            return np.float32(np.copysign(np.finfo(np.float32).max, float(x)))
        return f
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    cands = [c for c in cands if np.isfinite(c)]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - x),
                                     int(np.array(c, np.float32).view(np.uint32)) & 1))
    return np.float32(best)


def _round_to_odd_sum(x, y):
    """x + y (float64) rounded to odd: the float64 neighbour of the exact sum with an odd last
    bit when the sum is inexact. Rounding that to fp32 (24 bits <= 53 - 2) gives the correctly
    rounded fp32 sum (Boldo & Melquiond, 2008)."""
    s = x + y
    bb = s - x
    e = (x - (s - bb)) + (y - bb)           # TwoSum: s + e == x + y exactly
    e = np.where(np.isfinite(s), e, 0.0)
    odd = (np.asarray(s, np.float64).view(np.int64) & 1) == 1
    toward = np.nextafter(s, np.where(e > 0, np.inf, -np.inf))
    return np.where((e == 0) | odd, s, toward)


# ---------------------------------------------------------------- kappa as a constant
def round_bf16(v):
    """float64 values rounded to bf16 values (float64): 8 significant bits, nearest even,
    |v| < 2^-126 after rounding -> +0; beyond the bf16 range +-Inf."""
    v = np.asarray(v, dtype=np.float64)
    mant, expo = np.frexp(v)
    r = np.ldexp(np.rint(np.ldexp(mant, 8)), expo - 8)
    big = np.ldexp(255.0, 120)                       # the largest finite bf16 value
    r = np.where(np.abs(r) > big, np.copysign(np.inf, v), r)
    return np.where(np.abs(r) < MIN_NORMAL, 0.0, r)


def fp32_to_bf16(x):
    """fp32 patterns -> bf16 patterns (np.uint16), rounded to nearest even: subnormals flush to
    the zero of their sign, overflow gives +-Inf, every NaN gives the canonical 0x7FC0.
    On the bits: (x + 0x7FFF + bit 16 of x) >> 16, the carry running into the exponent."""
    x = FP32.ftz(FP32.bits(x, "x")).astype(np.int64)
    r = (x + 0x7FFF + ((x >> 16) & 1)) >> 16
    return np.where(FP32.is_nan(x.astype(np.uint32)), 0x7FC0, r).astype(np.uint16)


def quantize_kappa(kappa, kind, frac_bits=KAPPA_FRAC_BITS, sig_bits=None):
    """The constant the datapath holds: bf16 values as float32 (kind 'float', nearest even,
    ``round_bf16``) or the fixed-point integers kq ~ kappa 2^frac_bits (kind 'int', int64).

    Integer kind: kq = round_half_even(kappa 2^frac_bits); with ``sig_bits`` M, kappa is rounded
    once to a signed M-bit significand and a shift, kq = m 2^e with |m| <= 2^(M-1) - 1 and the
    smallest e >= 0 (m = round_half_even(kappa 2^(frac_bits - e)); a |m| that rounds up to
    2^(M-1) becomes 2^(M-2) with e + 1): below 2^(M-1) kq is the plain fixed-point value, above
    it keeps M - 1 magnitude bits (relative error <= 2^-(M-1)). That is what a kappa port of M
    significand and E shift bits holds (golden.systolic.kappa_port: e must also fit E bits).

    Raises
    ------
    ParameterError
        for an unknown kind, a kappa that is not finite or beyond the bf16 range (float),
        frac_bits outside 0..30, sig_bits outside 2..62, or a kq of 62 bits or more.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    if kind not in ("float", "int"):
        raise ParameterError(f"kind must be float or int; got {kind!r}")
    if not np.isfinite(kappa).all():
        raise ParameterError("kappa must be finite")
    if kind == "float":
        kb = round_bf16(kappa)
        if not np.isfinite(kb).all():
            raise ParameterError(f"kappa {np.abs(kappa).max():g} is beyond the bf16 range "
                                 f"(the kappa port holds bf16 values)")
        return kb.astype(np.float32)
    check_int("frac_bits", frac_bits, 0, 30)
    v = np.ldexp(kappa, frac_bits)                      # exact
    if sig_bits is None:
        kq = np.rint(v)
    else:
        check_int("sig_bits", sig_bits, 2, 62)
        _, x = np.frexp(v)                              # |v| < 2^x
        e = np.maximum(x.astype(np.int64) - (sig_bits - 1), 0)
        m = np.rint(np.ldexp(v, -e))                    # exact scaling, one rounding
        up = np.abs(m) >= 2.0 ** (sig_bits - 1)         # rounded up to 2^(M-1)
        m, e = np.where(up, m / 2, m), np.where(up, e + 1, e)
        kq = np.ldexp(m, e)
    if np.abs(kq).max(initial=0) >= 2.0 ** 62:
        raise ParameterError(f"kappa {np.abs(kappa).max():g} does not fit 62 bits with "
                             f"{frac_bits} fractional bits")
    return kq.astype(np.int64)


def quantize_scale(g, kind, frac_bits=KAPPA_FRAC_BITS):
    """The scale constant g: fp32 values (kind 'float', nearest even) or fixed-point integers
    gq = round_half_even(g 2^frac_bits) (kind 'int', as ``quantize_kappa``)."""
    if kind == "float":
        g = np.asarray(g, dtype=np.float64)
        if not np.isfinite(g).all():
            raise ParameterError("g must be finite")
        return g.astype(np.float32)
    return quantize_kappa(g, kind, frac_bits)


# ---------------------------------------------------------------- the correction
def kappa_bf16(kappa):
    """bf16 patterns of kappa values (float32 or float64) that are bf16 values."""
    k = np.asarray(kappa, dtype=np.float32)
    bits = k.view(np.uint32)
    if (bits & 0xFFFF).any():
        raise ParameterError("kappa must hold bf16 values (golden.control_variate.quantize_kappa)")
    return (bits >> 16).astype(np.uint16)


def correct_float(ytilde, S, kappa, g=None):
    """yhat[m, j] = fp32_add(ytilde[m, j], -bf16_mul(kappa[j], fp32_to_bf16(S[m]))) (float32).

    ytilde (M, C) and S (M,) are fp32 values, kappa (C,) bf16 values (``quantize_kappa``).
    With g (C,) fp32 values (``quantize_scale``): yhat = R(g[j] ytilde[m, j] - p[m, j]), p the
    same exact product, the expression exact (one rounding)."""
    yt = np.asarray(ytilde, dtype=np.float32)
    sb = fp32_to_bf16(np.asarray(S, dtype=np.float32).view(np.uint32))
    p = bf16_mul(kappa_bf16(kappa)[None, :], sb[:, None])        # exact, fp32 patterns
    if g is None:
        return fp32_add(yt.view(np.uint32), p ^ np.uint32(FP32.sign_bit)).view(np.float32)
    # exact: g ytilde has 48 significant bits; p is an fp32 value
    gy = yt.astype(np.float64) * np.asarray(g, dtype=np.float32).astype(np.float64)[None, :]
    return round_fp32(_round_to_odd_sum(gy, -p.view(np.float32).astype(np.float64)))


def correct_int(ytilde, S, kq, gq=None, frac_bits=KAPPA_FRAC_BITS):
    """yhat[m, j] = (gq[j] ytilde[m, j] - kq[j] S[m] + 2^(F-1)) >> F (int64, exact), F =
    frac_bits; gq None is 2^F (the plain control variate: ytilde - round(kq S / 2^F)).

    Raises
    ------
    OverflowError
        when a term could leave int64."""
    yt = np.asarray(ytilde, dtype=np.int64)
    s = np.asarray(S, dtype=np.int64)
    kq = np.asarray(kq, dtype=np.int64)
    gq = np.full(yt.shape[-1], 1 << frac_bits, np.int64) if gq is None else np.asarray(gq, np.int64)
    bound = (float(np.abs(kq).max(initial=0)) * float(np.abs(s).max(initial=0))
             + float(np.abs(gq).max(initial=0)) * float(np.abs(yt).max(initial=0)))
    if bound >= 2.0 ** 62:
        raise OverflowError("gq ytilde - kq S could exceed int64")
    c = gq[None, :] * yt - kq[None, :] * s[:, None]
    if frac_bits:
        c = (c + (1 << (frac_bits - 1))) >> frac_bits
    return c


def correction(products_sum, S, kappa, kind, g=None, frac_bits=KAPPA_FRAC_BITS):
    """yhat = g products_sum - kappa S in the arithmetic of ``kind`` ('float' or 'int'), with
    kappa and g (float64 estimates, per column; g None: 1) made the datapath constants by
    ``quantize_kappa``."""
    kq = quantize_kappa(kappa, kind, frac_bits)
    gq = None if g is None else quantize_scale(np.broadcast_to(g, np.shape(kappa)), kind, frac_bits)
    if kind == "float":
        return correct_float(products_sum, S, kq, gq)
    return correct_int(products_sum, S, kq, gq, frac_bits)


# ---------------------------------------------------------------- estimators
def kappa_analytic(product, b, a_samples, value=None, weighting="activation"):
    """kappa_j = (1/K) sum_k b_kj rbar(b_kj) from the golden multiplier.

    Parameters
    ----------
    product : callable
        ``product(a, b)``: the golden products of encoded operands as exact values (float64 or
        int64), broadcasting (``cnn.mults.Mult.product``).
    b : array (K, C)
        Encoded weights.
    a_samples : array (S,)
        Encoded activation operands drawn from the activation distribution.
    value : callable, optional
        Encoded operand -> its value (float64); None: the operands are their values (integers).
    weighting : {'activation', 'uniform'}
        rbar(b) = sum_s e(a_s, b) / (b sum_s a_s) (the derivation's, see the module docstring)
        or the plain mean of e(a_s, b) / (a_s b) over samples with a_s b != 0 (issue #12's).

    Returns
    -------
    ndarray (C,) float64
    """
    if weighting not in ("activation", "uniform"):
        raise ParameterError(f"weighting must be activation or uniform; got {weighting!r}")
    value = value or (lambda x: np.asarray(x, dtype=np.float64))
    b = np.asarray(b)
    a = np.asarray(a_samples).reshape(-1)
    if b.ndim != 2 or a.size == 0:
        raise ParameterError(f"b must be (K, C) and a_samples non-empty; got {b.shape}, {a.size}")
    uniq, inv = np.unique(b, return_inverse=True)
    av, bv = value(a), value(uniq)
    # e for every (distinct weight, sample): exact (a product has at most 24 significant bits)
    e = (np.asarray(product(a[None, :], uniq[:, None]), dtype=np.float64)
         - bv[:, None] * av[None, :])
    if weighting == "activation":
        den = av.sum()
        br = e.sum(axis=1) / den if den != 0 else np.zeros(len(uniq))   # = b rbar(b)
    else:
        ab = bv[:, None] * av[None, :]
        nz = ab != 0
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(nz, e / np.where(nz, ab, 1.0), 0.0)
        cnt = nz.sum(axis=1)
        br = bv * np.where(cnt > 0, r.sum(axis=1) / np.maximum(cnt, 1), 0.0)
    return br[inv.reshape(b.shape)].mean(axis=0)


def kappa_lstsq(ytilde, y, S):
    """kappa_j = sum_m S_m (ytilde_mj - y_mj) / sum_m S_m^2 (float64; 0 when every S_m is 0).

    ytilde, y (M, C) outputs without / with exact products on calibration rows; S (M,)."""
    d = np.asarray(ytilde, np.float64) - np.asarray(y, np.float64)
    s = np.asarray(S, np.float64).reshape(-1)
    den = float(s @ s)
    if den == 0:
        return np.zeros(d.shape[1])
    return (s @ d) / den


def normal_sums(ytilde, y, S):
    """The sums the least-squares fits need, per column (float64 arrays, adding over batches):
    tt = sum ytilde^2, ts = sum ytilde S, ss = sum S^2, ty = sum ytilde y, sy = sum S y,
    yy = sum y^2."""
    yt, yy = np.asarray(ytilde, np.float64), np.asarray(y, np.float64)
    s = np.asarray(S, np.float64).reshape(-1)
    return {"tt": (yt * yt).sum(0), "ts": s @ yt, "ss": np.full(yt.shape[1], s @ s),
            "ty": (yt * yy).sum(0), "sy": s @ yy, "yy": (yy * yy).sum(0)}


def scale_kappa_lstsq(sums):
    """(g_j, kappa_j) = argmin sum_m (g ytilde_mj - kappa S_m - y_mj)^2 from ``normal_sums``
    (the 2 x 2 normal equations, float64); where they are singular (S or ytilde all zero, or
    proportional) kappa = 0 and g = ty / tt (1 where tt = 0)."""
    tt, ts, ss, ty, sy = (np.asarray(sums[k], np.float64) for k in ("tt", "ts", "ss", "ty", "sy"))
    det = tt * ss - ts * ts
    ok = det > 1e-12 * tt * ss
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(ok, (ty * ss - sy * ts) / det, np.where(tt > 0, ty / tt, 1.0))
        kappa = np.where(ok, (ty * ts - sy * tt) / det, 0.0)
    return g, kappa


def channel_scale(sums):
    """g_j = argmin sum_m (g ytilde_mj - y_mj)^2 = ty / tt per column (1 where tt = 0)."""
    tt, ty = np.asarray(sums["tt"], np.float64), np.asarray(sums["ty"], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tt > 0, ty / tt, 1.0)


def layer_scale(ytilde, y):
    """g = 1 / (1 + eps), eps = sum (ytilde - y) y / sum y^2 (float64; 1 when y is all 0)."""
    yt = np.asarray(ytilde, np.float64).reshape(-1)
    yy = np.asarray(y, np.float64).reshape(-1)
    return layer_scale_from_sums(float(yt @ yy), float(yy @ yy))


def layer_scale_from_sums(ty, yy):
    """``layer_scale`` from ty = sum ytilde y and yy = sum y^2 over the layer's outputs."""
    if yy == 0:
        return 1.0
    eps = (ty - yy) / yy
    if eps <= -1:
        raise ParameterError(f"layer scale undefined: mean relative error {eps:g} <= -1")
    return 1.0 / (1.0 + eps)
