r"""Exact accumulation, rounded once (to fp32, or to posit<n, es>): the adder side of the CNN's
float and posit layers.

A float layer output is

    y = R( sum_k p_k )        p_k = the golden products (exact fp32 values), the sum exact (a wide
                              "Kulisch" accumulator: no rounding while accumulating)

    R(E) = +0                            if |E| < 2^-126 (FTZ, decided on the exact value; every
                                         zero result is +0)
         = E rounded to fp32, nearest even, otherwise (beyond the fp32 range: +-Inf).

R does not depend on the order of the terms, so a BLAS-ordered fast path and a naive loop can
agree bit for bit. (golden/mac.py's sequential MAC instead rounds after every fp32_add; cnn.gemm
runs that too, for the check and for the approximate-adder experiment.) R is monotone, which the
fast path uses (cnn.kernels.round_sums for fp32, cnn.gemm._round_sums_with otherwise): if
R(s - e) == R(s + e) for an approximate sum s with |s - E| <= e, then R(E) is that value.

Posit layers (``PositRounding``) are the quire MAC (golden/mac.py posit_mac, plam_mac): the
unrounded products summed exactly in the quire, the sum rounded once to posit<n, es> (RNE on the
bit string, saturating; golden.posit), then read as its float32 value (exact for n <= 16 and
es <= 3). That R is monotone too, and its output is a float32 value, so the same fast path holds
with R = ``PositRounding.round``; ``PositRounding.exact_sum(terms)`` is R of the exact sum.
"""

import functools
import math

import numpy as np

from golden.posit import (check_quire, float64_to_posit, posit_to_float64, quire_frac_bits,
                          quire_to_posit)

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


@functools.lru_cache(maxsize=16)
def rounding_table(n, es):
    """(vals, mids, tie) of golden float64_to_posit on posit<n, es> (n <= 16): vals = the
    positive posit values in increasing order; mids[i] = the rounding boundary between vals[i] and
    vals[i+1], the (n+1)-bit posit between them (golden posit_to_float64); tie[i] = golden's result
    on mids[i]. Checked against golden at build: the float64 just below mids[i] rounds to vals[i],
    the one just above to vals[i+1]; golden rounding is monotone, so every |v| in (mids[i-1],
    mids[i]) rounds to vals[i], below mids[0] (and above 0) to minpos, beyond the last to maxpos.

    Raises
    ------
    RuntimeError
        if golden disagrees with a boundary (never, if the boundaries are right).
    """
    pos = np.arange(1, 1 << (n - 1))
    vals = posit_to_float64(pos, n=n, es=es)
    mids = posit_to_float64((pos[:-1] << 1) | 1, n=n + 1, es=es)
    tie = posit_to_float64(float64_to_posit(mids, n=n, es=es), n=n, es=es)
    lo = float64_to_posit(np.nextafter(mids, 0.0), n=n, es=es)
    hi = float64_to_posit(np.nextafter(mids, np.inf), n=n, es=es)
    if not (np.array_equal(lo, pos[:-1]) and np.array_equal(hi, pos[1:])
            and np.isin(tie, [vals[:-1], vals[1:]]).all()):
        raise RuntimeError(f"posit<{n}, {es}> rounding boundaries disagree with golden")
    return vals, mids, tie


class PositRounding:
    """R of posit<n, es> layers: the exact sum rounded to posit<n, es> by golden.posit, as its
    float32 value (n <= 16, es <= 3: every posit value is an fp32 number).

    Parameters
    ----------
    n, es : int
        The posit format (golden.params.check_posit_params).
    """

    def __init__(self, n, es):
        self.n, self.es = n, es
        self.quire = check_quire(n, es, None)

    def round(self, v):
        """R on float64 values taken as exact: golden float64_to_posit's result, read from
        ``rounding_table`` (a search among the rounding boundaries, several times faster)."""
        vals, mids, tie = rounding_table(self.n, self.es)
        a = np.abs(np.asarray(v, dtype=np.float64))
        i = np.searchsorted(mids, a)                       # mids[i-1] < a <= mids[i]
        r = vals[i]
        on = mids[np.minimum(i, len(mids) - 1)] == a
        r = np.where(on, tie[np.minimum(i, len(tie) - 1)], r)
        r = np.where(a == 0, 0.0, np.where(np.asarray(v) < 0, -r, r))
        return r.astype(np.float32)

    def exact_sum(self, terms):
        """R(sum of ``terms``): float64 products of two posits (multiples of minpos^2) summed
        in the golden quire as integers, rounded by golden.posit.quire_to_posit."""
        qf = quire_frac_bits(self.n, self.es)
        ulps = [math.ldexp(float(t), qf) for t in terms]
        if not all(u.is_integer() for u in ulps):
            raise ValueError("PositRounding.exact_sum: a term is not a multiple of minpos^2")
        half = 1 << (self.quire - 1)
        q = (sum(int(u) for u in ulps) + half) % (1 << self.quire) - half    # the quire's wrap
        # 1-element arrays: golden's decode negates with wrap-around, which NumPy flags on 0-d
        p = quire_to_posit(np.array([q], dtype=object), n=self.n, es=self.es, quire=self.quire)
        return posit_to_float64(p, n=self.n, es=self.es).astype(np.float32)[0]
