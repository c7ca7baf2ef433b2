r"""mitch_bf16_mul: bf16 x bf16 -> fp32 where the significand product is Mitch-w.

bf16_mul with its exact 8 x 8-bit significand product replaced by golden.mitchell's Mitch-w
rule on the two 8-bit significands Ma = 1.fa = 128 + fa, Mb = 128 + fb (N = 8, w in 2..8):

    fa', fb' = the w-1 fraction bits below the leading one       (unbiased: lowest bit forced to 1)
    s  = fa' + fb';  c = s >> (w-1)                               carry out of the fraction sum
    P  = mitch_mul(Ma, Mb, n=8, w=w, variant)                     = m << (14 + c - (w-1)),
         m = 2^(w-1) + s (c = 0) or s (c = 1);                    2^14 <= P < 2^16
    e  = ea + eb - 127 + c                                        the carry increments the exponent
    p  = {sa ^ sb, e, (P << (9 - c)) mod 2^23}                    exponents add exactly, sign XOR

P has at most w <= 8 significant bits, so the result is exact in fp32 (no rounding). Special
values, FTZ and overflow follow bf16_mul (golden/floats.py states the policy), in priority order:
NaN in or 0 x Inf -> FP32_QNAN 0x7FC00000; Inf in -> Inf of sign sa ^ sb; zero or subnormal in
-> zero of sign sa ^ sb; e >= 255 -> Inf; e <= 0 -> zero of sign sa ^ sb.
"""

import numpy as np

from .floats import BF16, FP32, FP32_QNAN
from .mitchell import mitch_mul_unsigned
from .params import VARIANTS, check_choice, check_int


def check_mitch_bf16_params(w, variant):
    check_int("w", w, 2, 8)
    check_choice("variant", variant, VARIANTS)


def mitch_bf16_mul(a, b, *, w, variant="trunc"):
    """fp32 patterns (np.uint32) of the Mitch-w products of bf16 patterns ``a``, ``b``."""
    check_mitch_bf16_params(w, variant)
    a, b = np.broadcast_arrays(BF16.bits(a, "a"), BF16.bits(b, "b"))
    sa, ea, fa = BF16.fields(a)
    sb, eb, fb = BF16.fields(b)
    sign = sa ^ sb
    nan = BF16.is_nan(a) | BF16.is_nan(b)
    inf = BF16.is_inf(a) | BF16.is_inf(b)
    zero = (ea == 0) | (eb == 0)                       # zeros and flushed subnormals
    nan |= inf & zero

    one = 1 << BF16.frac_bits                          # the hidden bit of the 8-bit significand
    prod = mitch_mul_unsigned((one + fa).astype(np.uint64), (one + fb).astype(np.uint64),
                              n=8, w=w, variant=variant).astype(np.int64)
    carry = prod >> 15                                 # the leading one sits at bit 14 + c
    exp = ea + eb - BF16.bias + carry
    frac = (prod << (9 - carry)) & FP32.frac_mask

    overflow = inf | (~zero & (exp >= FP32.exp_max))
    underflow = zero | (exp <= 0)
    exp = np.where(overflow, FP32.exp_max, np.where(underflow, 0, exp))
    frac = np.where(overflow | underflow, 0, frac)
    p = FP32.pack(sign, exp, frac)
    return np.where(nan, np.uint32(FP32_QNAN), p).astype(np.uint32)
