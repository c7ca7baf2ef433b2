"""golden.approx_add (trunc_add, mitch_add) against independent value-level references (Fractions).

The reference never looks at bit fields beyond decoding: with trunc_t(v) = v truncated toward zero
to t significant bits and u = 2^(e_B - 127 - (t-1)) (the unit in the last place of the larger
operand's t-bit significand), the result is trunc_t(trunc_t(B) + sign_S * floor(|trunc_t(S)| / u) * u),
flushed to zero below 2^-126 and Inf from 2^128 on.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from golden.approx_add import mitch_add, trunc_add
from golden.floats import FP32, FP32_QNAN, special_fp32_values
from golden.fp32_add import fp32_add
from golden.params import ParameterError


def value(p):
    s, e, f = p >> 31, (p >> 23) & 0xFF, p & 0x7FFFFF
    if e == 0:
        return Fraction(0), s
    return (-1) ** s * Fraction((1 << 23) | f, 1 << 23) * Fraction(2) ** (e - 127), s


def trunc_t(v, t):
    if v == 0:
        return Fraction(0)
    k = math.floor(math.log2(abs(v)))
    while Fraction(2) ** k > abs(v):
        k -= 1
    while Fraction(2) ** (k + 1) <= abs(v):
        k += 1
    ulp = Fraction(2) ** (k - (t - 1))
    return (1 if v > 0 else -1) * (abs(v) // ulp) * ulp


def encode(v, sign_if_zero):
    if v == 0 or abs(v) < Fraction(2) ** -126:
        return (sign_if_zero if v == 0 else int(v < 0)) << 31
    s = int(v < 0)
    if abs(v) >= Fraction(2) ** 128:
        return (s << 31) | (255 << 23)
    k = math.floor(math.log2(abs(v)))
    while Fraction(2) ** k > abs(v):
        k -= 1
    while Fraction(2) ** (k + 1) <= abs(v):
        k += 1
    frac = abs(v) / Fraction(2) ** k - 1
    assert (frac * (1 << 23)).denominator == 1
    return (s << 31) | ((k + 127) << 23) | int(frac * (1 << 23))


def reference(x, y, t):
    (vx, sx), (vy, sy) = value(x), value(y)
    big_is_x = abs(vx) >= abs(vy)                  # subnormals already read as 0 (FTZ)
    (vb, sb), (vs, ss) = ((vx, sx), (vy, sy)) if big_is_x else ((vy, sy), (vx, sx))
    if vb == 0:
        return encode(Fraction(0), 1 if (sx and sy) else 0)
    eb = (((x if big_is_x else y) >> 23) & 0xFF)
    u = Fraction(2) ** (eb - 127 - (t - 1))
    tb, ts = trunc_t(vb, t), trunc_t(vs, t)
    aligned = (1 if ts >= 0 else -1) * (abs(ts) // u) * u
    r = trunc_t(tb + aligned, t)
    return encode(r, 0 if ss != sb else sb)


def finite_patterns(rng, count):
    """Random normal fp32 patterns, exponents clustered so that the operands overlap."""
    e = rng.integers(100, 140, count)
    frac = rng.integers(0, 1 << 23, count)
    return ((rng.integers(0, 2, count) << 31) | (e << 23) | frac).astype(np.uint32)


@pytest.mark.parametrize("t", [2, 5, 8, 12, 24])
def test_trunc_add_matches_value_reference(t):
    rng = np.random.default_rng(t)
    x, y = finite_patterns(rng, 600), finite_patterns(rng, 600)
    y[:100] = x[:100] ^ np.uint32(1 << 31)                       # exact cancellation
    y[100:200] = (x[100:200] ^ np.uint32(1 << 31)) + np.uint32(1)  # near cancellation
    x[200:220] = 0                                               # zero operands
    got = trunc_add(x, y, t=t)
    want = [reference(int(a), int(b), t) for a, b in zip(x, y)]
    assert got.tolist() == want


def test_trunc_add_specials_and_policy():
    sp = special_fp32_values()
    x, y = (v.ravel() for v in np.meshgrid(sp, sp))
    got = trunc_add(x, y, t=24)
    ref = fp32_add(x, y)
    nan_or_inf = (FP32.is_nan(x) | FP32.is_nan(y) | FP32.is_inf(x) | FP32.is_inf(y))
    # the special classes behave as fp32_add (canonical NaN, Inf rules)
    assert np.array_equal(got[nan_or_inf], ref[nan_or_inf])
    assert trunc_add(np.uint32(0x80000000), np.uint32(0x80000000), t=8) == 0x80000000   # -0 + -0
    assert trunc_add(np.uint32(0x3F800000), np.uint32(0xBF800000), t=8) == 0            # 1 - 1 = +0
    assert trunc_add(np.uint32(0x7F800000), np.uint32(0xFF800000), t=8) == FP32_QNAN
    assert trunc_add(np.uint32(0x7F7FFFFF), np.uint32(0x7F7FFFFF), t=8) == 0x7F800000  # overflow
    assert trunc_add(np.uint32(0x00800000), np.uint32(0x80C00000), t=8) == 0x80000000  # FTZ


def test_trunc_add_truncates_where_fp32_add_rounds():
    one = np.uint32(0x3F800000)
    # 1 + 2^-8 with t = 8: the aligned 2^-8 falls below the 8-bit window and is lost
    assert trunc_add(one, np.uint32(0x3B800000), t=8) == one
    assert fp32_add(one, np.uint32(0x3B800000)) == 0x3F808000
    # 1.9921875 (0x3FFF0000, 8 significant bits) + 1.9921875 = 3.984375 fits in 8 bits
    assert trunc_add(np.uint32(0x3FFF0000), np.uint32(0x3FFF0000), t=8) == 0x407F0000


def test_trunc_add_rejects_bad_t():
    with pytest.raises(ParameterError, match="t must be in 2..24"):
        trunc_add(np.uint32(0), np.uint32(0), t=25)
    with pytest.raises(ParameterError, match="t must be in 2..24"):
        trunc_add(np.uint32(0), np.uint32(0), t=1)


def mitchell_log(v):
    """k + (|v| / 2^k - 1): Mitchell's log2 of a nonzero Fraction, k = floor(log2 |v|)."""
    k = math.floor(math.log2(abs(v)))
    while Fraction(2) ** k > abs(v):
        k -= 1
    while Fraction(2) ** (k + 1) <= abs(v):
        k += 1
    return k + abs(v) / Fraction(2) ** k - 1


def mitchell_antilog(l):
    k = math.floor(l)
    return Fraction(2) ** k * (1 + l - k)


def mitch_reference(x, y):
    (vx, sx), (vy, sy) = value(x), value(y)
    big_is_x = abs(vx) >= abs(vy)
    (vb, sb), (vs, ss) = ((vx, sx), (vy, sy)) if big_is_x else ((vy, sy), (vx, sx))
    if vb == 0:
        return encode(Fraction(0), 1 if (sx and sy) else 0)
    if vs == 0:
        return encode(vb, sb)
    d = mitchell_log(vb) - mitchell_log(vs)
    r = Fraction(math.floor(mitchell_antilog(-d) * 2 ** 23), 2 ** 23)     # truncated to 2^-23
    lb = mitchell_log(vb)
    mag = mitchell_antilog(lb - r if ss != sb else lb + r)
    return encode(-mag if sb else mag, sb)


def test_mitch_add_matches_value_reference():
    rng = np.random.default_rng(7)
    x, y = finite_patterns(rng, 800), finite_patterns(rng, 800)
    y[:50] = x[:50] ^ np.uint32(1 << 31)                          # x + (-x) = x / 2
    y[50:100] = x[50:100]                                         # x + x = 2x
    y[100:120] = 0
    x[120:130] = 0x80000000
    got = mitch_add(x, y)
    assert got.tolist() == [mitch_reference(int(a), int(b)) for a, b in zip(x, y)]
    f = np.array([1.0, 3.0, 1.0, 5.0], dtype=np.float32).view(np.uint32)
    g = np.array([1.0, 1.0, -1.0, -4.0], dtype=np.float32).view(np.uint32)
    assert mitch_add(f, g).view(np.float32).tolist() == [2.0, 3.75, 0.5, 2.75]


def test_mitch_add_specials():
    sp = special_fp32_values()
    x, y = (v.ravel() for v in np.meshgrid(sp, sp))
    got, ref = mitch_add(x, y), fp32_add(x, y)
    special = FP32.is_nan(x) | FP32.is_nan(y) | FP32.is_inf(x) | FP32.is_inf(y)
    assert np.array_equal(got[special], ref[special])
    assert mitch_add(np.uint32(0x80000000), np.uint32(0x80000000)) == 0x80000000
    assert mitch_add(np.uint32(0x7F7FFFFF), np.uint32(0x7F7FFFFF)) == 0x7F800000   # overflow
