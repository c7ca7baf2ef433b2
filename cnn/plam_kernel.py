r"""Compiled (numba) sums of PLAM products for posit layers without a class table (cnn.gemm).

PLAM (golden.posit.plam_product) of a = sa (1 + fa), b = sb (1 + fb), with sa, sb the signed
powers of two 2^SF and fa, fb in [0, 1) the fractions, is sa sb (1 + t) if t = fa + fb < 1, else
sa sb 2 t: that is sa sb max(1 + t, 2 t) (1 + t >= 2 t exactly when t <= 1). With F-bit fractions
every such term is exact in float64 (sa sb a power of two, the factor below 4 in steps of 2^-F),
so

    S[m, c] = sum_k sa[m, k] sb[k, c] max(1 + fa[m, k] + fb[k, c], 2 (fa[m, k] + fb[k, c]))

is a float64 sum of exact terms, rounded by cnn.gemm exactly as its other float64 sums. One
compare-select per multiply-accumulate more than the class table's fused multiply-add, but no
table: posit<16, es> has 2^(13-es) fraction classes.
"""

import numba
import numpy as np


@numba.njit(parallel=True, boundscheck=False, fastmath={"contract"}, cache=True)
def _plam_sums(sa, fa, sb, fb, out):
    m_rows, k_len = sa.shape
    c_len = sb.shape[1]
    for m in numba.prange(m_rows):
        acc = out[m]
        for k in range(k_len):
            s = sa[m, k]
            if s == 0.0:
                continue
            f = fa[m, k]
            sbk = sb[k]
            fbk = fb[k]
            for c in range(c_len):
                t = f + fbk[c]
                g = 1.0 + t if t < 1.0 else t + t
                acc[c] += (s * sbk[c]) * g


def plam_sums(sa, fa, sb, fb):
    """S (M, C) float64 of the module docstring from sa, fa (M, K) and sb, fb (K, C)."""
    sa, fa = (np.ascontiguousarray(v, dtype=np.float64) for v in (sa, fa))
    sb, fb = (np.ascontiguousarray(v, dtype=np.float64) for v in (sb, fb))
    out = np.zeros((sa.shape[0], sb.shape[1]))
    if out.size and sa.shape[1]:
        _plam_sums(sa, fa, sb, fb, out)
    return out
