r"""Matrix products Y[m, c] = sum_k mul(A[m, k], B[k, c]) with golden products, three ways.

* ``naive_matmul``      -- every product from the golden function, then the exact sum: float
  units R(sum) (cnn.exactsum), integer units the exact integer sum, posit units golden/mac.py's
  quire MAC (golden.mac.dot: unrounded products summed in the quire, rounded once to posit). The
  definition.
* ``fast_matmul``       -- the same numbers, fast (``fast_conv``: the same for a convolution,
  reading the patches straight from the feature map, no im2col matrix):

  - bf16: the bf16 values as float64 and one BLAS dgemm (every product is exact in float64);
  - int8 / int16: one sgemm of the integers where every partial sum stays below 2^24, else one
    dgemm (exact below 2^53);
  - Mitch-w units: the class decomposition of cnn.mults,

        Y[m, c] = sum_k sa[m, k] * Bt[k, ca[m, k], c]    Bt[k, i, c] = sb[k, c] * T[i, cb[k, c]]

    gathered by a compiled kernel (cnn.kernels): one fused multiply-add per multiply-accumulate,
    whatever w is. Every term sa * Bt is an exact float64 (a power of two times a product of at
    most 16 bits).

  - posit units (posit_*, plam_* of cnn.mults): PLAM n = 8 by the class decomposition above;
    the exact posit product by one dgemm of the posit values (every product is exact in float64:
    ``posit_direct``); PLAM n = 16 (4096 fraction classes) by cnn.plam_kernel, which computes
    every PLAM product as sa sb max(1 + fa + fb, 2 (fa + fb)) (exact) and sums in float64.

  Integer units: the float64 sums are exact because they stay below 2^52 (checked). Float and
  posit units (R = fp32 rounding, or rounding to posit<n, es>: cnn.exactsum):
  where a row's terms fit a 52-bit window (all multiples of 2^q, sum of magnitudes below
  2^(52+q)) float64 adds them exactly in any order; elsewhere s (float64, rounded) differs from
  the exact E by at most err = K 2^-51 sum_k |term| (bounded per row), and where
  R(s - err) == R(s + err), R(E) is that value; the rare rest is summed exactly term by term
  (cnn.kernels.exact_round_rows, compiled; the definition is exactsum.exact_sum_fp32).
* ``sequential_matmul`` -- float units as golden/mac.py's MAC computes them: acc = +0, then
  acc = add(acc, p_k) for k = 0..K-1 in order, with add = golden.fp32_add (the MAC) or an
  approximate adder (golden.approx_add). The products come from the decomposition.

Operands are encoded (cnn.mults): A (M, K) and B (K, C) hold bf16 patterns or N-bit integers.
"""

import functools
import threading

import numpy as np

from golden.floats import float_to_fp32
from golden.fp32_add import fp32_add

from golden.mac import dot
from golden.posit import posit_to_float64

from . import conv, kernels, plam_kernel
from .exactsum import exact_sum_fp32


def im2col(x, k, stride=1):
    """(N, C, H, W) -> (N*H'*W', C*k*k) patches of a 'same'-padded (k // 2) k x k convolution
    with ``stride`` (H' = (H - 1) // stride + 1); column order (c, i, j), matching a weight
    tensor (C_out, C, k, k) reshaped to (C_out, -1). (cnn.conv.im2col is the general form.)"""
    p = k // 2
    return conv.im2col(x, (k, k), (stride, stride), (1, 1), ((p, p), (p, p)))


# ---------------------------------------------------------------- naive: the definition
def naive_matmul(a, b, mult):
    """Golden product of every (m, k, c), then the exact sum (float32 or int64 result)."""
    if mult.kind == "posit":
        unit, params = mult.mac_params()
        acc = dot(a[:, None, :], b.T[None, :, :], unit, **params)         # (M, C) posit patterns
        return posit_to_float64(acc, n=mult.n, es=mult.es).astype(np.float32)
    p = mult.product(a[:, :, None], b[None, :, :])            # (M, K, C)
    if mult.kind == "int":
        return p.sum(axis=1, dtype=np.int64)
    m, _, c = p.shape
    out = np.empty((m, c), dtype=np.float32)
    for i in range(m):
        for j in range(c):
            out[i, j] = exact_sum_fp32(p[i, :, j])
    return out


# ---------------------------------------------------------------- fast: class decomposition
@functools.lru_cache(maxsize=64)
def _table(mult):
    return mult.table()


def class_table(mult, b):
    """Bt (K, n_classes, C) float64 of encoded weights b (K, C)."""
    cb, sb = mult.split(b)
    t = _table(mult)[:, cb]                                   # (n_classes, K, C)
    return np.ascontiguousarray((t * sb[None]).transpose(1, 0, 2))


def fast_matmul(a, b, mult):
    """naive_matmul's result, bit for bit, fast (falls back to naive_matmul when
    mult.check_fast refuses these operands)."""
    if mult.check_fast(a, b) is not None:
        return naive_matmul(a, b, mult)
    if mult.kind == "int" and mult.w == 0:
        return int_exact(a, b)
    if not mult.table_path:
        return posit_direct(a, b, mult)
    m, k = a.shape
    return _fast_codes(operand_codes(a, mult).ravel(), np.arange(m, dtype=np.uint64) * k,
                       np.arange(k, dtype=np.uint64), b, mult)


def fast_conv(x, b, mult, k, stride=1, pad=None, dilation=1):
    """fast_matmul(im2col(x, k, stride), b, mult) -- the same bits -- for an encoded feature map
    x (N, C, H, W) (bf16 patterns or N-bit integers) and b (C*k*k, C_out), without forming the
    patch matrix. ``pad`` (default k // 2, zeros) and ``dilation`` as in a convolution; output
    rows in (n, y, x) order: (N*H'*W', C_out) with H' = (H + 2 pad - dilation (k-1) - 1) // stride
    + 1. The kernel reads the patches from the padded map through cnn.kernels' address map."""
    x = np.asarray(x)
    if mult.check_fast(x, b) is not None or not mult.table_path:
        return fast_matmul(_patches(x, k, stride, pad, dilation), b, mult)
    exact_int = mult.kind == "int" and mult.w == 0
    if exact_int:
        amax = np.abs(x).max(initial=0)
        codes = x.astype(_int_dtype(amax, b, x.shape[1] * k * k))
    else:
        codes = operand_codes(x, mult)
    p = k // 2 if pad is None else pad
    codes = np.ascontiguousarray(np.pad(codes, ((0, 0), (0, 0), (p, p), (p, p))) if p else codes)
    rowbase, koff, _, _ = conv.address_map(codes.shape, (k, k), (stride, stride),
                                           (dilation, dilation))
    if exact_int:
        return _int_product(kernels.gather_matrix(codes.ravel(), rowbase, koff), amax, b)
    return _fast_codes(codes.ravel(), rowbase, koff, b, mult)


def _patches(x, k, stride, pad, dilation):
    """The im2col matrix of fast_conv's arguments (general pad and dilation)."""
    p = k // 2 if pad is None else pad
    return conv.im2col(x, (k, k), (stride, stride), (dilation, dilation), ((p, p), (p, p)))


def fast_from_split(ca, sa, b, mult, a_min=None):
    """fast_matmul given (ca, sa) = mult.split(a) (the caller has run mult.check_fast); a_min,
    once the smallest nonzero |sa|, is no longer needed (the kernel finds it per row)."""
    if mult.kind == "int" and mult.w == 0:
        raise ValueError("fast_from_split: int8 / int16 have no class split; use int_exact")
    m, k = sa.shape
    return _fast_codes(split_codes(ca, sa, mult).ravel(), np.arange(m, dtype=np.uint64) * k,
                       np.arange(k, dtype=np.uint64), b, mult)


# ---------------------------------------------------------------- operand codes
@functools.lru_cache(maxsize=64)
def code_format(mult):
    """(scale_tab, hi_shift, lo_mask, cls_shift) of mult's operand codes (cnn.kernels): floats
    use the bf16 pattern (scale from sign and exponent, class from the top fraction bits);
    integers (sign << 4 | log2 scale) << w | class."""
    if mult.kind == "float":
        i = np.arange(512)
        e = i & 255
        tab = np.where(e == 0, 0.0, np.ldexp(1.0, e - 127)) * np.where(i >> 8, -1.0, 1.0)
        return tab, 7, 0x7F, 0 if mult.w == 0 else 8 - mult.w
    if mult.kind == "posit":      # code = pattern << F | fraction class
        f = mult.n - 3 - mult.es
        return mult.split(np.arange(1 << mult.n))[1], f, (1 << f) - 1, 0
    i = np.arange(32)
    return np.ldexp(1.0, i & 15) * np.where(i >> 4, -1.0, 1.0), mult.w, (1 << mult.w) - 1, 0


def operand_codes(x, mult):
    """uint16 codes (cnn.kernels) of encoded operands x, any shape."""
    if mult.kind == "float":
        return np.ascontiguousarray(x, dtype=np.uint16)
    if mult.kind == "posit":
        return _posit_codes(mult)[np.asarray(x, dtype=np.int64)]
    return _int_codes(mult)[np.asarray(x, dtype=np.int64) + mult.qmax]


@functools.lru_cache(maxsize=16)
def _int_codes(mult):
    """Codes of every integer -qmax..qmax (the range mult.check_fast admits), by value."""
    return split_codes(*mult.split(np.arange(-mult.qmax, mult.qmax + 1)), mult)


@functools.lru_cache(maxsize=16)
def _posit_codes(mult):
    """Codes of every posit<n, es> pattern (table path: n <= 8, so they fit 16 bits)."""
    every = np.arange(1 << mult.n)
    cls = mult.split(every)[0]
    return ((every << (mult.n - 3 - mult.es)) | cls).astype(np.uint16)


def split_codes(ca, sa, mult):
    """uint16 codes of split operands (ca, sa) = mult.split(x)."""
    e = np.frexp(np.abs(sa))[1] - 1            # log2 |sa| (sa is 0 or a power of two)
    if mult.kind == "float":
        shift = 0 if mult.w == 0 else 8 - mult.w
        code = np.where(sa == 0, 0, ((e + 127) << 7) | (np.asarray(ca, np.int64) << shift))
        return (code | ((sa < 0) << 15)).astype(np.uint16)
    code = ((((sa < 0) << 4) | np.where(sa == 0, 0, e)) << mult.w) | np.asarray(ca, np.int64)
    return code.astype(np.uint16)


# ---------------------------------------------------------------- fast: the kernels
def _fast_codes(codes, rowbase, koff, b, mult):
    """Y of A = codes[rowbase[m] + koff[k]] (cnn.kernels' address map) and B, bit-exact."""
    tab, hi, lo_mask, cls_shift = code_format(mult)
    tab = np.ascontiguousarray(tab)
    k, c = len(koff), b.shape[1]
    if mult.kind == "float" and mult.w == 0:
        bv = float_values(b)
        av, bound, smin = kernels.decode_values(codes, rowbase, koff, tab,
                                                np.abs(bv).max(axis=1, initial=0))
        s = av @ bv
        # terms a * b are multiples of 2^(lsb(scale) - 7 + lsb(b))
        return _round_rows(s, bound, smin * 2.0 ** -7, lsb_exponent(bv).min(initial=np.inf), k,
                           lambda m, j: kernels.exact_round_dots(av, bv, m, j))
    bt4, bmax, low_b = _packed_table(mult, b)
    s, bound, smin = kernels.gather_sums(codes, rowbase, koff, tab, hi, lo_mask, cls_shift, bt4,
                                         c, bmax)
    bt = None

    def exact(m, j):
        nonlocal bt
        bt = class_table(mult, b) if bt is None else bt
        out = np.empty(len(m), dtype=np.float32)
        step = max(1, FALLBACK_ENTRIES // max(1, k))
        for i in range(0, len(m), step):
            a = codes[rowbase[m[i:i + step]][:, None] + koff[None, :]].astype(np.int64)
            terms = tab[a >> hi] * bt[np.arange(k)[None, :], (a & lo_mask) >> cls_shift,
                                      j[i:i + step, None]]
            out[i:i + step] = kernels.exact_round_rows(terms) if mult.rounding is None else [
                mult.rounding.exact_sum(t) for t in terms]
        return out

    if mult.kind == "int":
        if bound.size and bound.max() >= 2.0 ** 52:
            raise OverflowError("integer dot product could exceed 2^52: float64 sum not exact")
        y = np.rint(s).astype(np.int64)
        if mult.signed == "c1":
            neg = codes[rowbase[:, None] + koff[None, :]] >> (hi + 4) if (
                codes >> (hi + 4)).any() else np.zeros((len(rowbase), k), dtype=bool)
            y -= _c1_correction(neg.astype(bool), b < 0)   # c1 scales are never 0
        return y
    return _round_rows(s, bound, smin, low_b, k, exact, mult.rounding)


_PACKED = {}                 # (mult, b's bytes) -> _packed_table: weights repeat across batches
_PACKED_BYTES = 1 << 28
_PACKED_SIZE = [0]           # bytes of the tables in _PACKED (depthwise layers add thousands)
_PACKED_LOCK = threading.Lock()       # executors may run layers from several threads


def _packed_table(mult, b):
    """(bt4, bmax, low_b) of weights b: class_table in cnn.kernels.pack_table's layout, the
    largest |entry| per k, and a lower bound on the exponent of every entry's lowest set bit
    (lsb(sb T) >= log2 |sb| + min lsb T). Cached (up to 256 MiB) by the weights' bytes."""
    b = np.ascontiguousarray(b)
    key = (mult, b.shape, b.dtype.str, b.tobytes())
    with _PACKED_LOCK:
        hit = _PACKED.pop(key, None)
        if hit is not None:
            _PACKED_SIZE[0] -= hit[0].nbytes
    if hit is None:
        cb, sb = mult.split(b)
        t = _table(mult)
        bt4 = kernels.pack_table(t, cb, sb)
        bmax = np.abs(sb) * np.abs(t).max(axis=0)[cb]             # (K, C)
        bmax = bmax.max(axis=1, initial=0)
        nz = sb != 0
        low_b = (float(np.frexp(np.abs(sb[nz]))[1].min() - 1) if nz.any() else np.inf) + \
            lsb_exponent(t).min(initial=np.inf)
        hit = bt4, bmax, low_b
    with _PACKED_LOCK:
        if key in _PACKED:                    # another thread packed the same weights
            _PACKED_SIZE[0] -= _PACKED.pop(key)[0].nbytes
        _PACKED[key] = hit
        _PACKED_SIZE[0] += hit[0].nbytes
        while _PACKED_SIZE[0] > _PACKED_BYTES and len(_PACKED) > 1:
            _PACKED_SIZE[0] -= _PACKED.pop(next(iter(_PACKED)))[0].nbytes
    return hit


def float_values(b):
    """float64 values of bf16 patterns, subnormals as zero (the units' DAZ)."""
    v = (np.asarray(b, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)
    return np.where(np.abs(v) < 2.0 ** -126, 0.0, v)


def int_exact(a, b):
    """Exact integer GEMM through float BLAS: sgemm where every partial sum stays below 2^24,
    else dgemm (exact below 2^53)."""
    amax = np.abs(a).max(initial=0)
    return _int_product(a.astype(_int_dtype(amax, b, a.shape[1])), amax, b)


def _int_dtype(amax, b, k):
    """float32 when amax max|b| k < 2^24 (int8 layers up to K = 1040: every partial sum of the
    GEMM is an integer float32 holds exactly, in any order), else float64."""
    return np.float32 if amax * np.abs(b).max(initial=0) * k < 2 ** 24 else np.float64


def _int_product(af, amax, b):
    """int_exact of af = A as float32 / float64 (_int_dtype), amax = max |A|."""
    if amax * np.abs(b).max(initial=0) * af.shape[1] >= 2 ** 53:
        raise OverflowError("integer dot product could exceed 2^53: float64 sum not exact")
    return np.rint(af @ b.astype(af.dtype)).astype(np.int64)


def _c1_correction(neg_a, neg_b):
    """Number of k with sign(a[m, k]) != sign(b[k, c]): c1 gives -p-1 for each."""
    na, nb = neg_a.astype(np.float64), neg_b.astype(np.float64)
    if not na.any():                              # activations after ReLU: only b's signs count
        return np.broadcast_to(nb.sum(axis=0).astype(np.int64), (na.shape[0], nb.shape[1])).copy()
    return np.rint(na @ (1 - nb) + (1 - na) @ nb).astype(np.int64)


def lsb_exponent(v):
    """Exponent of the lowest set bit of nonzero float64 values (+inf for 0)."""
    m, e = np.frexp(np.abs(v))
    mant = (m * 2.0 ** 53).astype(np.int64)
    low = mant & -mant                                  # lowest set bit, a power of two
    return np.where(v == 0, np.inf, e - 53 + np.frexp(low.astype(np.float64))[1] - 1)


FALLBACK_ENTRIES = 1 << 21     # terms per block of the exact fallback (16 MiB)


def _round_rows(s, bound, small, low_b, k, exact, rounding=None):
    """R(E) from s ~ E: exact where a row's terms fit a 52-bit window, decided by the error bound
    elsewhere where possible, summed exactly for the rare rest (``exact(m, c)``: R of the exact
    sums of rows m[p], columns c[p]). R = fp32 rounding (``rounding`` None: cnn.kernels.round_sums,
    compiled; exact from exact_round_rows / exact_round_dots) or a cnn.exactsum.PositRounding.

    Every term of row m is a multiple of 2^q[m] (q = log2 small[m], a power of two, plus low_b);
    if bound[m] < 2^(52 + q[m]) every partial sum is such a multiple below 2^53 * 2^q, so
    float64 adds them exactly in any order (the margin 2 covers bound's own rounding)."""
    if rounding is None:
        y, undecided = kernels.round_sums(s, bound, small, low_b, k)
    else:
        y, undecided = _round_sums_with(rounding, s, bound, small, low_b, k)
    if len(undecided):
        m, c = undecided[:, 0], undecided[:, 1]
        y[m, c] = exact(m, c)
    return y


def _round_sums_with(rounding, s, bound, small, low_b, k):
    """kernels.round_sums for another monotone R (``rounding.round``): (y, undecided)."""
    y = rounding.round(s)
    rest = np.nonzero(~_fits(bound, small, low_b))[0]
    if not rest.size:
        return y, np.empty((0, 2), dtype=np.int64)
    err = ((k * 2.0 ** -51) * bound[rest])[:, None]   # >= the float64 summation error
    lo, hi = rounding.round(s[rest] - err), rounding.round(s[rest] + err)
    ok = lo == hi
    y[rest] = np.where(ok, lo, y[rest])
    i, c = np.nonzero(~ok)
    return y, np.stack([rest[i], c], axis=1).astype(np.int64)


def smallest_nonzero(sa):
    """The smallest nonzero |sa| (inf when there is none)."""
    return float(np.min(np.abs(sa), where=sa != 0, initial=np.inf))


def _fits(bound, small_a, low_b):
    """bound < 2^(52 + q), q = log2(small_a) + low_b: the terms fit float64 exactly."""
    with np.errstate(invalid="ignore"):
        q = np.where(np.isinf(small_a), np.inf, np.frexp(small_a)[1] - 1.0) + low_b
    return bound < np.ldexp(1.0, np.clip(52 + q, -1000, 1000).astype(np.int64))


# ---------------------------------------------------------------- posit units without a table
@functools.lru_cache(maxsize=16)
def _posit_tables(mult):
    """(value, scale, fraction) float64 of every posit<n, es> pattern (NaR: 0; refused anyway)."""
    every = np.arange(1 << mult.n)
    cls, scale = mult.split(every)
    value = np.nan_to_num(posit_to_float64(every, n=mult.n, es=mult.es))
    return value, scale, cls * 2.0 ** -(mult.n - 3 - mult.es)


def posit_direct(a, b, mult):
    """fast_matmul of posit units without a class table (mult.table_path False): posit pattern
    matrices a (M, K), b (K, C), no NaR (mult.check_fast). Exact products: one dgemm of the
    values; PLAM: cnn.plam_kernel. Every term is exact and a multiple of 2^(q_a + q_b), q_a =
    floor(log2 min |nonzero scale of the row|) - F (F = n-3-es fraction bits; exact products:
    min |value| bounds the scale), q_b the lowest bit of b's terms; the sums are rounded by
    _round_rows with the posit rounding, the rare undecided sums from the golden products."""
    value, scale, frac = _posit_tables(mult)
    a, b = np.asarray(a), np.asarray(b)                 # patterns index the tables directly
    f = mult.n - 3 - mult.es
    if mult.plam:
        sa, sb = scale[a], scale[b]
        s = plam_kernel.plam_sums(sa, frac[a], sb, frac[b])
        lead, bmax, low_b = sa, 4 * np.abs(sb).max(axis=1, initial=0), (
            lsb_exponent(sb).min(initial=np.inf) - f)            # PLAM factor < 4, step 2^-F
    else:
        av, bv = value[a], value[b]
        s = av @ bv
        lead, bmax, low_b = av, np.abs(bv).max(axis=1, initial=0), lsb_exponent(bv).min(
            initial=np.inf)
    bound = np.abs(lead) @ bmax
    small = np.min(np.abs(lead), axis=1, where=lead != 0, initial=np.inf, keepdims=False)
    small = small * 2.0 ** -f if not mult.plam else small
    rounding = mult.rounding
    return _round_rows(s, bound, small, low_b, a.shape[1], lambda m, c: np.array(
        [rounding.exact_sum(mult.product(a[i], b[:, j])) for i, j in zip(m, c)], np.float32),
        rounding)


# ---------------------------------------------------------------- sequential MAC order
def sequential_matmul(a, b, mult, add=fp32_add):
    """acc = add(acc, p_k) for k = 0..K-1 (acc starts +0): fp32 patterns (np.uint32) (M, C).

    The products p_k come from the class decomposition, exactly the golden fp32 products
    (signed zeros included); tests/test_cnn_gemm.py checks the result against golden.mac.dot."""
    reason = mult.check_fast(a, b) if mult.kind == "float" else "float units only"
    if reason is not None:
        raise ValueError(f"sequential_matmul: class decomposition does not hold: {reason}")
    return sequential_from_split(*mult.split(a), b, mult, add)


def sequential_from_split(ca, sa, b, mult, add=fp32_add):
    """sequential_matmul given (ca, sa) = mult.split(a); the caller has run mult.check_fast."""
    bt = class_table(mult, b)
    acc = np.zeros((sa.shape[0], bt.shape[2]), dtype=np.uint32)
    for k in range(sa.shape[1]):
        p = sa[:, k, None] * bt[k, ca[:, k]]
        acc = add(acc, float_to_fp32(p))
    return acc
