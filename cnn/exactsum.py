r"""Exact accumulation, rounded once to fp32: the adder side of the CNN's float layers.

A float layer output is

    y = R( sum_k p_k )        p_k = the golden products (exact fp32 values), the sum exact (a wide
                              "Kulisch" accumulator: no rounding while accumulating)

    R(E) = +0                            if |E| < 2^-126 (FTZ, decided on the exact value; every
                                         zero result is +0)
         = E rounded to fp32, nearest even, otherwise (beyond the fp32 range: +-Inf).

R does not depend on the order of the terms, so a BLAS-ordered fast path and a naive loop can
agree bit for bit. (golden/mac.py's sequential MAC instead rounds after every fp32_add; cnn.gemm
runs that too, for the check and for the approximate-adder experiment.) R is monotone, which the
fast path uses (cnn.kernels.round_sums): if R(s - e) == R(s + e) for an approximate sum s with
|s - E| <= e, then R(E) is that value.
"""

import math

import numpy as np

MIN_NORMAL = 2.0 ** -126
FP32_MAX = float(np.finfo(np.float32).max)
FP32_OVERFLOW = float.fromhex("0x1.ffffffp+127")   # midpoint of FP32_MAX and 2^128: ties to Inf


def exact_sum_fp32(terms):
    """R(sum of ``terms``) for a 1-D sequence of float64 values, exactly.

    math.fsum returns s = the exact sum E rounded to float64; fp32 rounding points (midpoints of
    adjacent fp32 values, 2^-126) are float64 values, so E lies on the same side of each as s
    does, except when s *is* one: then the sign of the exact residual E - s (fsum again) decides.
    """
    terms = [float(t) for t in terms]
    s = math.fsum(terms)
    r = math.fsum(terms + [-s])          # E - s exactly rounded: its sign is exact
    if abs(s) < MIN_NORMAL or (abs(s) == MIN_NORMAL and r != 0 and (r < 0) == (s > 0)):
        return np.float32(0)
    if abs(s) == FP32_OVERFLOW and r != 0 and (r < 0) == (s > 0):
        return np.float32(math.copysign(FP32_MAX, s))     # just below the Inf threshold
    with np.errstate(over="ignore"):
        f = np.float32(s)
    if r == 0 or float(f) == s or math.isinf(f):
        return f
    g = np.nextafter(f, np.float32(math.copysign(math.inf, s - float(f))))
    if (float(f) + float(g)) / 2 != s:   # s is not a midpoint: it rounds like E
        return f
    return max(f, g) if r > 0 else min(f, g)
