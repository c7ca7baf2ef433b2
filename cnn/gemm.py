r"""Matrix products Y[m, c] = sum_k mul(A[m, k], B[k, c]) with golden products, three ways.

* ``naive_matmul``      -- every product from the golden function, then the exact sum: float
  units R(sum) (cnn.exactsum), integer units the exact integer sum. The definition.
* ``fast_matmul``       -- the same numbers from the class decomposition of cnn.mults:

      Y[m, c] = sum_k sa[m, k] * Bt[k, ca[m, k], c]    Bt[k, i, c] = sb[k, c] * T[i, cb[k, c]]

  i.e. one sparse (M x K*n_classes) by dense (K*n_classes x C) product whose sparse factor has one
  entry, sa, per A[m, k] in column k*n_classes + ca: as many multiply-adds as a dense GEMM,
  whatever w is. Every term sa * Bt is an exact float64 (a power of two times a product of at
  most 16 bits). Integer units: the float64 sums are exact because they stay below 2^52
  (checked). Float units: where a row's terms fit a 52-bit window (all multiples of 2^q, sum of
  magnitudes below 2^(52+q)) float64 adds them exactly in any order; elsewhere s (float64,
  rounded) differs from the exact E by at most err = K 2^-51 sum_k |sa| max|Bt[k]|, and where
  R(s - err) == R(s + err), R(E) is that value; the rare rest is summed exactly term by term
  (exactsum.exact_sum_fp32).
* ``sequential_matmul`` -- float units as golden/mac.py's MAC computes them: acc = +0, then
  acc = add(acc, p_k) for k = 0..K-1 in order, with add = golden.fp32_add (the MAC) or an
  approximate adder (golden.approx_add). The products come from the decomposition.

Operands are encoded (cnn.mults): A (M, K) and B (K, C) hold bf16 patterns or N-bit integers.
"""

import functools

import numpy as np
import scipy.sparse as sp

from golden.floats import float_to_fp32
from golden.fp32_add import fp32_add

from .exactsum import determined, exact_sum_fp32, round_fp32


def im2col(x, k):
    """(N, C, H, W) -> (N*H*W, C*k*k) patches of a stride-1 'same' k x k convolution (zero pad);
    column order (c, i, j), matching a weight tensor (C_out, C, k, k) reshaped to (C_out, -1)."""
    n, c, h, w = x.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # n, c, h, w, k, k
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


# ---------------------------------------------------------------- naive: the definition
def naive_matmul(a, b, mult):
    """Golden product of every (m, k, c), then the exact sum (float32 or int64 result)."""
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
    """naive_matmul's result, bit for bit, through the class decomposition (falls back to
    naive_matmul when mult.check_fast refuses these operands)."""
    if mult.check_fast(a, b) is not None:
        return naive_matmul(a, b, mult)
    if mult.kind == "int" and mult.w == 0:
        return int_exact(a, b)
    return fast_from_split(*mult.split(a), b, mult)


def fast_from_split(ca, sa, b, mult, a_min=None):
    """fast_matmul given (ca, sa) = mult.split(a); the caller has run mult.check_fast.
    (Conv layers split the feature map once and im2col the class and scale maps; they pass
    a_min, the smallest nonzero |sa|, taken on the map: 9 times fewer elements.)"""
    bt = class_table(mult, b)
    k, ncls, c = bt.shape
    s = _sparse(ca, sa, ncls) @ bt.reshape(k * ncls, c)
    # bound on sum_k |term|: |sa| times the largest |Bt| entry of row k
    bound = np.abs(sa) @ np.abs(bt).reshape(k, -1).max(axis=1)
    if mult.kind == "int":
        if bound.size and bound.max() >= 2.0 ** 52:
            raise OverflowError("integer dot product could exceed 2^52: float64 sum not exact")
        y = np.rint(s).astype(np.int64)
        if mult.signed == "c1":
            y -= _c1_correction(sa < 0, b < 0)      # c1 scales are never 0: sign(a) = sign(sa)
        return y
    return _round_exact(s, bound, ca, sa, bt, a_min)


def _sparse(ca, sa, ncls):
    """CSR (M, K*ncls): row m holds sa[m, k] at column k*ncls + ca[m, k] for every k (zero
    entries included: a zero costs the sparse product less than masking it out would)."""
    m, k = sa.shape
    itype = np.int32 if m * k < 2 ** 31 and k * ncls < 2 ** 31 else np.int64
    cols = (np.arange(k, dtype=itype) * itype(ncls) + ca.astype(itype, copy=False)).ravel()
    indptr = np.arange(0, m * k + 1, k, dtype=itype)
    return sp.csr_matrix((sa.ravel(), cols, indptr), shape=(m, k * ncls))


def int_exact(a, b):
    """Exact integer GEMM through float64 BLAS (exact: every partial sum is below 2^53)."""
    bound = np.abs(a).max(initial=0) * np.abs(b).max(initial=0) * a.shape[1]
    if bound >= 2 ** 53:
        raise OverflowError("integer dot product could exceed 2^53: float64 sum not exact")
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


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


def _round_exact(s, bound, ca, sa, bt, a_min=None):
    """R(E) from s ~ E: exact where the terms fit a 52-bit window, decided by the error bound
    elsewhere where possible, term by term for the rare rest.

    Every term of row m is a multiple of 2^q[m] (q = log2 of the smallest nonzero |sa| in the
    row, a power of two, plus the lowest bit of any Bt entry); if bound[m] < 2^(52 + q[m]) every
    partial sum is such a multiple below 2^53 * 2^q, so float64 adds them exactly in any order
    (the margin 2 covers bound's own rounding)."""
    k = sa.shape[1]
    low_b = lsb_exponent(bt).min(initial=np.inf)
    y = round_fp32(s)
    # first with one q for all rows (the smallest nonzero |sa| anywhere), which usually settles
    # every row; the per-row q only for the rows left
    if a_min is None:
        a_min = smallest_nonzero(sa)
    rest = np.arange(len(s))
    if np.isfinite(a_min):
        rest = rest[~_fits(bound, a_min, low_b)]
    if rest.size:
        small = np.where(sa[rest] != 0, np.abs(sa[rest]), np.inf).min(axis=1)
        rest = rest[~_fits(bound[rest], small, low_b)]
    if rest.size:
        err = ((k * 2.0 ** -51) * bound[rest])[:, None]   # >= the float64 summation error
        ok, y[rest] = determined(s[rest], err)
        for i, c in zip(*np.nonzero(~ok)):
            m = rest[i]
            y[m, c] = exact_sum_fp32(sa[m] * bt[np.arange(k), ca[m], c])
    return y


def smallest_nonzero(sa):
    """The smallest nonzero |sa| (inf when there is none)."""
    return float(np.min(np.abs(sa), where=sa != 0, initial=np.inf))


def _fits(bound, small_a, low_b):
    """bound < 2^(52 + q), q = log2(small_a) + low_b: the terms fit float64 exactly."""
    with np.errstate(invalid="ignore"):
        q = np.where(np.isinf(small_a), np.inf, np.frexp(small_a)[1] - 1.0) + low_b
    return bound < np.ldexp(1.0, np.clip(52 + q, -1000, 1000).astype(np.int64))


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
