"""bfloat16 and binary32 formats as Amaranth Struct layouts (fields listed LSB first).

``Bf16(signal)`` / ``Fp32(signal)`` view a 16- / 32-bit signal as {fraction, exponent, sign}, so
the datapaths name fields instead of bit ranges. Policy and field meaning: golden/floats.py.
"""

from amaranth.lib import data

QNAN_FP32 = 0x7FC00000     # golden.floats.FP32_QNAN, the one NaN every float unit produces


class Bf16(data.Struct):
    """bfloat16: 7 fraction bits, 8 exponent bits (bias 127), sign."""
    fraction: 7
    exponent: 8
    sign: 1


class Fp32(data.Struct):
    """IEEE binary32: 23 fraction bits, 8 exponent bits (bias 127), sign."""
    fraction: 23
    exponent: 8
    sign: 1


def classify(v):
    """(is_nan, is_inf, is_zero_or_subnormal) of a Bf16 / Fp32 view, as 1-bit values.

    Exponent 0 covers both zero and subnormals: the FTZ policy treats them alike.
    """
    all_ones = v.exponent.all()
    return all_ones & (v.fraction != 0), all_ones & (v.fraction == 0), v.exponent == 0


def drive_product(m, a, b, p, exp, frac):
    """Drive the Fp32 view ``p`` with the product of the Bf16 views ``a``, ``b``, given the
    product's biased exponent ``exp`` (a signed value) and 23-bit fraction ``frac``, under the
    policy: NaN in or 0 x Inf -> QNAN_FP32; Inf in or exp >= 255 -> +-Inf; zero or subnormal in,
    or exp <= 0 -> signed zero (FTZ); otherwise {sign, exp, frac}. Shared by every bf16
    multiplier (bf16_mul, mitch_bf16_mul), as golden.bf16_mul.bf16_product is."""
    nan_a, inf_a, zero_a = classify(a)
    nan_b, inf_b, zero_b = classify(b)
    sign = a.sign ^ b.sign
    zero, inf = zero_a | zero_b, inf_a | inf_b
    with m.If(nan_a | nan_b | (inf & zero)):
        m.d.comb += p.as_value().eq(QNAN_FP32)
    with m.Elif(inf | (exp >= 255)):
        m.d.comb += [p.sign.eq(sign), p.exponent.eq(255)]
    with m.Elif(zero | (exp <= 0)):
        m.d.comb += p.sign.eq(sign)
    with m.Else():
        m.d.comb += [p.sign.eq(sign), p.exponent.eq(exp[:8]), p.fraction.eq(frac)]
