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

from .bf16_mul import bf16_product
from .mitchell import mitch_mul_unsigned
from .params import VARIANTS, check_choice, check_int


def check_mitch_bf16_params(w, variant):
    check_int("w", w, 2, 8)
    check_choice("variant", variant, VARIANTS)


def mitch_bf16_mul(a, b, *, w, variant="trunc"):
    """fp32 patterns (np.uint32) of the Mitch-w products of bf16 patterns ``a``, ``b``."""
    check_mitch_bf16_params(w, variant)
    # P's leading one sits at bit 14 + c, so bf16_product's normalization bit is the carry c.
    return bf16_product(a, b, lambda ma, mb: mitch_mul_unsigned(
        ma.astype(np.uint64), mb.astype(np.uint64), n=8, w=w, variant=variant).astype(np.int64))
