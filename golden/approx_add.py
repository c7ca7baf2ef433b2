r"""trunc_add: an approximate fp32 adder with a t-bit significand datapath and truncation.

The "additions must stay exact" experiment (cnn/accuracy.py) accumulates a CNN's products with
this adder instead of fp32_add. For fp32 patterns x, y and t in 2..24 significant bits:

1. Flush subnormal inputs to signed zero (golden/floats.py policy). Significands M = {e != 0,
   fraction} (24 bits) are truncated to their top t bits: T = M >> (24 - t), so a normal operand
   is T * 2^(e - 127 - (t - 1)) with 2^(t-1) <= T < 2^t.
2. B = the operand of larger magnitude (x on ties), S = the other; d = e_B - e_S.
3. Align by truncation: A_S = T_S >> d (no guard, round or sticky bits: 0 from d >= t on).
4. Z = T_B + A_S (equal signs) or T_B - A_S (different signs); Z >= 0.
5. Normalize: Z >= 2^t: Z >>= 1 (the dropped bit is lost), e = e_B + 1; 0 < Z < 2^(t-1): shift
   left by L = t - 1 - floor(log2 Z) (exact), e = e_B - L; otherwise e = e_B.
6. Result {sign_B, e, (Z << (24 - t)) mod 2^23}: every step truncates toward zero, nothing rounds.
   e >= 255 -> Inf of sign_B; e <= 0 -> zero of sign_B (FTZ); Z = 0 -> +0, or -0 when both
   operands are negative zeros (as fp32_add).

Specials as fp32_add: a NaN input or Inf + (-Inf) -> FP32_QNAN 0x7FC00000; Inf + other -> that Inf.
With t = 24 the only differences from fp32_add are the truncations of steps 3, 5 and 6.

mitch_add: Mitchell-style log-domain addition. The magnitude bits of an fp32 pattern,
L = {e, f} = 2^23 (e + f / 2^23), are Mitchell's approximate log2 of |x| (plus the bias 127 and
the scale 2^23): log2(1.f) ~ f. Adding in the log domain, log2(B + S) = log2 B + log2(1 + S/B),
with both Mitchell approximations, log2(1 + r) ~ r and 2^v ~ 2^floor(v) (1 + frac v):

1. Flush subnormals; B = the larger magnitude (x on ties), S the other; D = L_B - L_S >= 0,
   dk = D >> 23, df = D mod 2^23.
2. r = 2^(-D / 2^23) by Mitchell's antilog, in units of 2^-23, truncated:
   R = 2^23 >> dk (df = 0), else (2^24 - df) >> (dk + 1); (R = 0 from a shift of 25 on).
3. L = L_B + R for equal signs, L_B - R for different signs (log2(1 - r) ~ -r); S = 0 gives L_B.
4. Result {sign_B, L}; L >= 255 * 2^23 -> Inf, L < 2^23 -> zero of sign_B (FTZ); both operands
   zero -> +0, or -0 when both are negative zeros. Specials as fp32_add.

Equal magnitudes and signs give 2B exactly; x + (-x) gives x / 2 (log2(1 - 1) ~ -1): the
approximation is worst exactly where a dot product's terms cancel.
"""

import numpy as np

from .floats import FP32, FP32_QNAN
from .params import check_int


def check_trunc_add_params(t):
    check_int("t", t, 2, 24)


def _msb(z):
    """floor(log2 z) of int64 values below 2^53 (exact through float64); -1 for 0."""
    return np.where(z > 0, np.frexp(z.astype(np.float64))[1] - 1, -1)


def trunc_add(x, y, *, t):
    """fp32 patterns (np.uint32) of trunc_add(x, y) for fp32 patterns ``x``, ``y`` (broadcast)."""
    check_trunc_add_params(t)
    x, y = np.broadcast_arrays(FP32.ftz(FP32.bits(x, "x")), FP32.ftz(FP32.bits(y, "y")))
    sx, ex, fx = FP32.fields(x)
    sy, ey, fy = FP32.fields(y)
    tx = np.where(ex != 0, fx | (1 << 23), 0) >> (24 - t)                     # step 1
    ty = np.where(ey != 0, fy | (1 << 23), 0) >> (24 - t)

    x_big = (x & 0x7FFFFFFF) >= (y & 0x7FFFFFFF)                              # step 2
    sb, eb, tb = (np.where(x_big, u, v) for u, v in ((sx, sy), (ex, ey), (tx, ty)))
    ss, es, ts = (np.where(x_big, v, u) for u, v in ((sx, sy), (ex, ey), (tx, ty)))

    aligned = ts >> np.minimum(eb - es, 62)                                   # step 3
    sub = ss != sb
    z = np.where(sub, tb - aligned, tb + aligned)                             # step 4

    top = _msb(z)                                                             # step 5
    carry = top == t
    lz = np.where(carry | (z == 0), 0, (t - 1) - top)
    z = np.where(carry, z >> 1, z << lz)
    exp = eb + carry - lz

    zero = z == 0                                                             # step 6
    sign = np.where(zero, np.where(sub, 0, sb), sb)
    flush = zero | (exp <= 0)
    overflow = ~flush & (exp >= FP32.exp_max)
    exp = np.where(flush, 0, np.where(overflow, FP32.exp_max, exp))
    frac = np.where(flush | overflow, 0, (z << (24 - t)) & FP32.frac_mask)
    s = FP32.pack(sign, exp, frac)

    inf_x, inf_y = FP32.is_inf(x), FP32.is_inf(y)                             # specials
    nan = FP32.is_nan(x) | FP32.is_nan(y) | (inf_x & inf_y & (sx != sy))
    s = np.where(inf_x, x, np.where(inf_y, y, s))
    return np.where(nan, np.uint32(FP32_QNAN), s).astype(np.uint32)


def mitch_add(x, y):
    """fp32 patterns (np.uint32) of Mitchell's log-domain x + y (see the module docstring)."""
    x, y = np.broadcast_arrays(FP32.ftz(FP32.bits(x, "x")), FP32.ftz(FP32.bits(y, "y")))
    lx, ly = (x & 0x7FFFFFFF).astype(np.int64), (y & 0x7FFFFFFF).astype(np.int64)
    sx, sy = (x >> 31).astype(np.int64), (y >> 31).astype(np.int64)
    x_big = lx >= ly
    lb, ls = np.where(x_big, lx, ly), np.where(x_big, ly, lx)
    sb = np.where(x_big, sx, sy)
    sub = sx != sy

    d = lb - ls                                                               # step 1
    dk, df = d >> 23, d & FP32.frac_mask
    r = np.where(df == 0, (1 << 23) >> np.minimum(dk, 62),                    # step 2
                 ((1 << 24) - df) >> np.minimum(dk + 1, 62))
    r = np.where(ls == 0, 0, r)
    big = np.where(sub, lb - r, lb + r)                                       # step 3

    both_zero = lb == 0                                                       # step 4
    flush = big < (1 << 23)
    overflow = big >= (FP32.exp_max << 23)
    sign = np.where(both_zero, np.where(sub, 0, sb), sb)
    mag = np.where(flush, 0, np.where(overflow, FP32.exp_max << 23, big))
    s = ((sign << 31) | mag).astype(np.uint32)

    inf_x, inf_y = FP32.is_inf(x), FP32.is_inf(y)                             # specials
    nan = FP32.is_nan(x) | FP32.is_nan(y) | (inf_x & inf_y & (sx != sy))
    s = np.where(inf_x, x, np.where(inf_y, y, s))
    return np.where(nan, np.uint32(FP32_QNAN), s).astype(np.uint32)
