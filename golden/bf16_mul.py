r"""bf16_mul: the exact product of two bfloat16 values, as an fp32 bit pattern.

For normal operands a = (-1)^sa * 1.fa * 2^(ea-127) and b likewise (fa, fb: 7-bit fractions):

    P  = (128 + fa) * (128 + fb)                  8 x 8-bit significand product, 2^14 <= P < 2^16
    n  = P >> 15                                  1-bit normalization
    e  = ea + eb - 127 + n                        biased result exponent
    p  = {sa ^ sb, e, (P << (9 - n)) mod 2^23}    the 15 or 14 bits below the leading one, padded

The product has at most 16 significant bits, so it is exact in fp32: no rounding anywhere.
Special cases, in priority order (golden/floats.py states the policy):

* a or b NaN, or 0 x Inf (a subnormal counts as 0, so subnormal x Inf too) -> FP32_QNAN 0x7FC00000;
* a or b Inf -> Inf of sign sa ^ sb;
* a or b zero or subnormal -> zero of sign sa ^ sb;
* e >= 255 -> Inf (overflow); e <= 0 -> zero (the exact result is below 2^-126: FTZ), sign sa ^ sb.
"""

import numpy as np

from .floats import BF16, FP32, FP32_QNAN


def bf16_mul(a, b):
    """fp32 patterns (np.uint32) of the products of bf16 patterns ``a``, ``b`` (broadcast)."""
    return bf16_product(a, b, lambda ma, mb: ma * mb)


def bf16_product(a, b, significand_mul):
    """fp32 patterns of bf16 products whose 8 x 8-bit significand product is
    ``significand_mul(Ma, Mb)`` (int64 arrays Ma = 128 + fa, Mb = 128 + fb; its result P must
    satisfy 2^14 <= P < 2^16): normalization, exponent, sign and the special cases above. The
    one place that turns a significand product into an fp32 product (bf16_mul, mitch_bf16_mul)."""
    a, b = np.broadcast_arrays(BF16.bits(a, "a"), BF16.bits(b, "b"))
    sa, ea, fa = BF16.fields(a)
    sb, eb, fb = BF16.fields(b)
    sign = sa ^ sb
    nan = BF16.is_nan(a) | BF16.is_nan(b)
    inf = BF16.is_inf(a) | BF16.is_inf(b)
    zero = (ea == 0) | (eb == 0)                       # zeros and flushed subnormals
    nan |= inf & zero

    one = 1 << BF16.frac_bits                          # the hidden bit of the 8-bit significand
    prod = significand_mul(one + fa, one + fb)
    norm = prod >> 15
    exp = ea + eb - BF16.bias + norm
    frac = (prod << (9 - norm)) & FP32.frac_mask

    overflow = inf | (~zero & (exp >= FP32.exp_max))
    underflow = zero | (exp <= 0)
    exp = np.where(overflow, FP32.exp_max, np.where(underflow, 0, exp))
    frac = np.where(overflow | underflow, 0, frac)
    p = FP32.pack(sign, exp, frac)
    return np.where(nan, np.uint32(FP32_QNAN), p).astype(np.uint32)
