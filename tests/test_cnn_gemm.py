"""The CNN's arithmetic: fast class decomposition == naive golden loop, bit for bit.

* per product: scale * scale * T[cls, cls] (+ c1 correction) is the golden product, as fp32 bit
  patterns or integers, over all bf16 patterns in range / all int8 pairs;
* per layer: fast_matmul == naive_matmul on small random layers, including sums that float64
  cannot add exactly (the fallback), and operands the decomposition refuses;
* per MAC: products accumulated in MAC order with fp32_add == golden.mac.dot (the golden MAC),
  integer layers == golden.mac.dot with a 64-bit accumulator;
* exact accumulation R(sum) against Fractions on midpoints, ties, FTZ and overflow edges.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from cnn import exactsum, gemm
from cnn.mults import parse_mult, to_bf16
from golden.floats import BF16, float_to_fp32
from golden.mac import dot
from golden.params import ParameterError

FLOAT_MULTS = ["bf16", "mitch_bf16_w2_trunc", "mitch_bf16_w3_unbiased", "mitch_bf16_w6_trunc",
               "mitch_bf16_w6_unbiased", "mitch_bf16_w8_trunc"]
INT_MULTS = ["int8", "int16", "mitch_int8_w2_trunc_c1", "mitch_int8_w4_unbiased_exact",
             "mitch_int8_w8_trunc_c1", "mitch_int16_w6_trunc_c1", "mitch_int16_w10_unbiased_exact"]


def decomposed_products(mult, a, b):
    """Products from the decomposition alone, for every pair (a[i], b[j])."""
    ca, sa = mult.split(a)
    cb, sb = mult.split(b)
    p = sa[:, None] * sb[None, :] * mult.table()[ca[:, None], cb[None, :]]
    if mult.kind == "int" and mult.signed == "c1":
        p = p - ((a[:, None] < 0) != (b[None, :] < 0))
    return p


@pytest.mark.parametrize("name", FLOAT_MULTS)
def test_every_bf16_product_matches_golden(name):
    mult = parse_mult(name)
    every = np.arange(1 << 16, dtype=np.uint16)
    e = BF16.fields(every)[1]
    a = every[(e == 0) | ((e >= 64) & (e <= 190))]   # zeros, subnormals (DAZ) and normals in range
    b = np.random.default_rng(1).choice(a, 48)
    b[:4] = [0x0000, 0x8000, 0x0001, 0x3F80]           # +0, -0, a subnormal, 1.0
    want = float_to_fp32(mult.product(a[:, None], b[None, :]))
    got = float_to_fp32(decomposed_products(mult, a, b))
    assert np.array_equal(got, want)                    # bit patterns, signed zeros included


@pytest.mark.parametrize("name", [n for n in INT_MULTS if n.startswith("mitch")])
def test_every_int_product_matches_golden(name):
    """(int8 / int16 exact need no decomposition: their fast path is an exact integer GEMM.)"""
    mult = parse_mult(name)
    q = mult.qmax
    a = np.arange(-127, 128) if mult.n == 8 else np.concatenate(
        [np.arange(-300, 301), [-q, q, -q + 1, q - 1, 1 << 14, -(1 << 14)]])
    b = a if mult.n == 8 else np.random.default_rng(2).integers(-q, q + 1, 200)
    want = mult.product(a[:, None], b[None, :])
    assert np.array_equal(decomposed_products(mult, a, b).astype(np.int64), want)


def layer_operands(mult, m=24, k=40, c=5, seed=0):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((m, k)), 0) * rng.choice([1, 1, 1, -1], (m, k))
    x[rng.random((m, k)) < 0.2] = 0
    w = rng.standard_normal((k, c)) * 0.2
    if mult.kind == "float":
        return to_bf16(x), to_bf16(w)
    return mult.quantize(x, np.abs(x).max() / mult.qmax), mult.quantize(w, mult.weight_scale(w))


@pytest.mark.parametrize("name", FLOAT_MULTS + INT_MULTS)
def test_fast_equals_naive_and_the_golden_mac(name):
    mult = parse_mult(name)
    a, b = layer_operands(mult)
    naive, fast = gemm.naive_matmul(a, b, mult), gemm.fast_matmul(a, b, mult)
    assert naive.dtype == fast.dtype
    assert np.array_equal(naive.view(np.uint32) if mult.kind == "float" else naive,
                          fast.view(np.uint32) if mult.kind == "float" else fast)
    unit, params = mult.mac_params()
    mac = dot(a[:, None, :], b.T[None, :, :], unit, **params)     # golden MAC, k in order
    if mult.kind == "int":
        assert np.array_equal(mac, fast)
    else:
        seq = gemm.sequential_matmul(a, b, mult)
        assert np.array_equal(seq, mac)
        # exact accumulation vs the MAC's per-add rounding: a few fp32 ulps apart at most
        diff = np.abs(seq.view(np.float32).astype(np.float64) - fast.astype(np.float64))
        assert (diff <= 8 * np.spacing(np.abs(fast)) + 1e-30).all()


def test_wide_sums_fall_back_to_exact_summation():
    """2^20 + 2^-40 - 2^20: float64 loses the 2^-40, the fallback keeps it."""
    mult = parse_mult("bf16")
    x = np.array([[2.0 ** 20, 2.0 ** -40, 2.0 ** 20], [1.0, 2.0 ** -30, 3.0]])
    w = np.array([[1.0], [1.0], [-1.0]])
    a, b = to_bf16(x), to_bf16(w)
    assert (x @ w)[0, 0] == 0.0
    fast = gemm.fast_matmul(a, b, mult)
    assert fast[0, 0] == np.float32(2.0 ** -40) and fast[1, 0] == np.float32(-2.0)
    assert np.array_equal(fast.view(np.uint32), gemm.naive_matmul(a, b, mult).view(np.uint32))


def test_refused_operands_use_the_naive_path():
    """Products below 2^-126 flush to zero in the golden unit: no class decomposition then."""
    mult = parse_mult("mitch_bf16_w4_trunc")
    a, b = to_bf16(np.array([[2.0 ** -70, 1.0]])), to_bf16(np.array([[2.0 ** -70], [3.0]]))
    assert "normal fp32 range" in mult.check_fast(a, b)
    assert gemm.fast_matmul(a, b, mult)[0, 0] == np.float32(3.0)


@pytest.mark.parametrize("terms, want", [
    ([1.0, 2.0 ** -24], 1.0),                                    # tie -> even
    ([1.0, 3 * 2.0 ** -24], 1.0 + 2.0 ** -22),                   # tie -> even (up)
    ([1.0, 2.0 ** -24, 2.0 ** -80], 1.0 + 2.0 ** -23),           # just above the midpoint
    ([1.0, 2.0 ** -24, -(2.0 ** -80)], 1.0),                     # just below
    ([2.0 ** -126, -(2.0 ** -200)], 0.0),                        # below 2^-126: FTZ
    ([2.0 ** -126, 2.0 ** -200], 2.0 ** -126),
    ([-(2.0 ** -127)], 0.0),
    ([float.fromhex("0x1.ffffffp+127"), -(2.0 ** -10)], float(np.finfo(np.float32).max)),
    ([float.fromhex("0x1.ffffffp+127")], math.inf),
    ([3.0, -3.0], 0.0),
])
def test_exact_sum_rounds_once(terms, want):
    got = exactsum.exact_sum_fp32(terms)
    assert got.dtype == np.float32 and float(got) == want
    assert not (got == 0 and np.signbit(got))                    # zero results are +0


def test_exact_sum_against_fractions():
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = rng.integers(1, 12)
        terms = [float(np.float32(v)) * 2.0 ** int(e)
                 for v, e in zip(rng.standard_normal(n), rng.integers(-60, 60, n))]
        exact = sum(Fraction(t) for t in terms)
        got = Fraction(float(exactsum.exact_sum_fp32(terms)))
        # the nearest fp32 value: no fp32 number lies strictly closer to the exact sum
        if abs(exact) >= Fraction(2) ** -126:
            f = np.float32(float(got))
            for nb in (np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))):
                assert abs(Fraction(float(nb)) - exact) >= abs(got - exact)


def test_parse_mult_rejects_bad_names():
    with pytest.raises(ParameterError, match="w must be in 2..8"):
        parse_mult("mitch_bf16_w9_trunc")
    with pytest.raises(ParameterError, match="variant must be one of trunc, unbiased"):
        parse_mult("mitch_bf16_w6_round")
    with pytest.raises(ParameterError, match="signed must be one of exact, c1"):
        parse_mult("mitch_int8_w6_trunc_none")
    with pytest.raises(ParameterError, match="n must be one of 8, 16"):
        parse_mult("int12")
    with pytest.raises(ParameterError, match="mult must be fp32, bf16"):
        parse_mult("posit8")
