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
