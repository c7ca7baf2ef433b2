r"""fp32_add: one IEEE binary32 addition, rounded to nearest even, under the FTZ policy.

Computed the way the hardware (hdl/fp32_add.py) computes it, on integers:

1. Flush subnormal inputs to signed zero. Significands M = {e != 0, fraction} (24 bits).
2. Swap by magnitude: B is the operand with the larger {exponent, fraction}, S the other;
   d = e_B - e_S.
3. Align: S's significand, extended by 3 zero bits (guard, round, sticky), is shifted right by
   min(d, 27); every bit shifted out is ORed into the sticky bit (bit 0). From d = 27 on every
   significand bit lies below the sticky position, so the clamp loses nothing.
4. Add (equal signs) or subtract (different signs) the 27-bit words: a 28-bit sum
   Z = (M_B << 3) +- aligned(S), Z >= 0 because |B| >= |S|.
5. Normalize: a carry (bit 27) shifts Z right by 1 (the bit shifted out joins the sticky bit)
   and increments the exponent; otherwise a leading-zero count L of Z's 27 bits shifts it left by
   L and subtracts L from the exponent (L >= 2 only happens when d <= 1, where Z is exact).
6. Round to nearest even on {24-bit significand, G, R, S}: add 1 when G and (R or S or lsb);
   a carry out of the significand shifts it right by 1 and increments the exponent.
7. Exponent >= 255 -> Inf (overflow); exponent <= 0 -> zero of the result's sign (FTZ; such a
   sum of two normals is exact, so rounding cannot bring it back to the normal range).

Sign: B's sign; an exact zero sum is +0 unless both operands are (flushed) negative zeros
(IEEE 754 round-to-nearest rule: x + (-x) = +0, -0 + -0 = -0).
Specials: NaN in, or Inf + (-Inf) -> FP32_QNAN 0x7FC00000; otherwise Inf + anything -> that Inf.
"""

import numpy as np

from .floats import FP32, FP32_QNAN

GRS = 3                      # guard, round, sticky bits below the significand
WIDTH = 24 + GRS             # 27: the aligned significand word


def _msb(x):
    """floor(log2 x) of int64 values below 2^53 (exact through float64); -1 for 0."""
    return np.where(x > 0, np.frexp(x.astype(np.float64))[1] - 1, -1)


def fp32_add(x, y):
    """fp32 patterns (np.uint32) of x + y for fp32 patterns ``x``, ``y`` (broadcast)."""
    x, y = np.broadcast_arrays(FP32.ftz(FP32.bits(x, "x")), FP32.ftz(FP32.bits(y, "y")))
    sx, ex, fx = FP32.fields(x)
    sy, ey, fy = FP32.fields(y)

    x_big = (x & 0x7FFFFFFF) >= (y & 0x7FFFFFFF)                        # step 2
    sb, eb, fb = (np.where(x_big, u, v) for u, v in ((sx, sy), (ex, ey), (fx, fy)))
    ss, es, fs = (np.where(x_big, v, u) for u, v in ((sx, sy), (ex, ey), (fx, fy)))
    mb = np.where(eb != 0, fb | (1 << 23), 0) << GRS
    ms = np.where(es != 0, fs | (1 << 23), 0) << GRS

    d = np.minimum(eb - es, WIDTH)                                      # step 3
    wide = ms << WIDTH                                                  # 54 bits: int64 is enough
    shifted = wide >> d
    aligned = (shifted >> WIDTH) | ((shifted & ((1 << WIDTH) - 1)) != 0)

    sub = ss != sb                                                      # step 4
    z = np.where(sub, mb - aligned, mb + aligned)

    top = _msb(z)                                                       # step 5
    carry = top == WIDTH
    lz = np.where(carry, 0, (WIDTH - 1) - top)
    z = np.where(carry, (z >> 1) | (z & 1), z << np.maximum(lz, 0))
    exp = eb + carry - lz

    sig, g, rs = z >> GRS, (z >> 2) & 1, (z & 0b11) != 0                 # step 6
    sig = sig + (g & (rs | (sig & 1)))
    rcarry = sig >> 24
    sig, exp = sig >> rcarry, exp + rcarry

    zero_sign = np.where(sub, 0, sb)                                    # step 7 and signs
    flush = (z == 0) | (exp <= 0)
    sign = np.where(z == 0, zero_sign, sb)
    overflow = exp >= FP32.exp_max
    exp = np.where(flush, 0, np.where(overflow, FP32.exp_max, exp))
    frac = np.where(flush | overflow, 0, sig & FP32.frac_mask)
    s = FP32.pack(sign, exp, frac)

    inf_x, inf_y = FP32.is_inf(x), FP32.is_inf(y)                       # specials
    nan = FP32.is_nan(x) | FP32.is_nan(y) | (inf_x & inf_y & (sx != sy))
    s = np.where(inf_x, x, np.where(inf_y, y, s))
    return np.where(nan, np.uint32(FP32_QNAN), s).astype(np.uint32)
