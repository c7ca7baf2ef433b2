"""The CNN's arithmetic: fast class decomposition == naive golden loop, bit for bit.

* per product: scale * scale * T[cls, cls] (+ c1 correction) is the golden product, as fp32 bit
  patterns or integers, over all bf16 patterns in range / all int8 pairs;
* per layer: fast_matmul == naive_matmul on small random layers, including sums that float64
  cannot add exactly (the fallback), and operands the decomposition refuses;
* per MAC: products accumulated in MAC order with fp32_add == golden.mac.dot (the golden MAC),
  integer layers == golden.mac.dot with a 64-bit accumulator;
* exact accumulation R(sum) against Fractions on midpoints, ties, FTZ and overflow edges; its
  compiled form (cnn.kernels.exact_round_rows, the fast paths' fallback) against it.
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


EXACT_SUM_CASES = [
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
    ([-1.0, -(2.0 ** -24)], -1.0),                                # negative ties
    ([-1.0, -(3 * 2.0 ** -24)], -(1.0 + 2.0 ** -22)),
    ([-(2.0 ** -126), 2.0 ** -200], 0.0),
    ([-float.fromhex("0x1.ffffffp+127")], -math.inf),
    ([2.0 ** 127, 2.0 ** 127, -(2.0 ** 127)], 2.0 ** 127),       # float64 partial beyond fp32
]


@pytest.mark.parametrize("terms, want", EXACT_SUM_CASES)
def test_exact_sum_rounds_once(terms, want):
    got = exactsum.exact_sum_fp32(terms)
    assert got.dtype == np.float32 and float(got) == want
    assert not (got == 0 and np.signbit(got))                    # zero results are +0


@pytest.mark.parametrize("terms, want", EXACT_SUM_CASES)
def test_compiled_exact_rounding_rounds_once(terms, want):
    """cnn.kernels.exact_round_rows (the fast paths' fallback) on the same edges."""
    from cnn import kernels
    got = kernels.exact_round_rows(np.array([terms]))[0]
    assert got.dtype == np.float32 and float(got) == want
    assert not (got == 0 and np.signbit(got))


def test_compiled_exact_rounding_equals_the_definition():
    """exact_round_rows == exactsum.exact_sum_fp32, bit for bit, on 4000 rows built to hit
    fp32 midpoints (exactly, and +- 2^-200), cancellation, FTZ and overflow edges, signed zeros
    and terms 270 binades apart."""
    from cnn import kernels
    rng = np.random.default_rng(11)
    rows = []
    for i in range(4000):
        n = int(rng.integers(1, 12))
        t = [float(np.float32(v)) * 2.0 ** int(e)
             for v, e in zip(rng.standard_normal(n), rng.integers(-140, 130, n))]
        if i % 2:
            f = np.float32(rng.standard_normal() * 2.0 ** int(rng.integers(-126, 128)))
            nb = np.nextafter(f, np.float32(np.inf if i % 4 == 1 else -np.inf))
            mid = (float(f) + float(nb)) / 2 if np.isfinite(nb) else float(f)
            t = t + [-v for v in t] + [mid, [0.0, 2.0 ** -200, -(2.0 ** -200), -0.0][i % 16 // 4]]
        rng.shuffle(t)
        rows.append(t)
    width = max(map(len, rows))
    terms = np.array([r + [0.0] * (width - len(r)) for r in rows])
    got = kernels.exact_round_rows(terms)
    want = np.array([exactsum.exact_sum_fp32(r) for r in rows], dtype=np.float32)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


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
    with pytest.raises(ParameterError, match="n must be in 4..16, got 3"):
        parse_mult("int3")
    with pytest.raises(ParameterError, match="n must be one of 8, 16"):
        parse_mult("mitch_int12_w4_trunc_c1")
    with pytest.raises(ParameterError, match="mult must be fp32, bf16"):
        parse_mult("posit8")


# ---------------------------------------------------------------- the fast kernels, adversarially
ALL_MULTS = FLOAT_MULTS + ["mitch_bf16_w2_unbiased", "mitch_bf16_w4_trunc", "mitch_bf16_w8_unbiased",
                           "mitch_bf16_w3_trunc"] + INT_MULTS + [
    "mitch_int8_w6_trunc_exact", "mitch_int8_w6_unbiased_c1", "mitch_int16_w6_trunc_c1",
    "mitch_int16_w2_unbiased_exact", "mitch_int8_w3_trunc_c1"]


def adversarial_operands(mult, m, k, c, rng):
    """Mixed exponents (float units: 2^-55..2^55, so every product stays normal), zeros,
    subnormals (read as zero), negatives, and rows that cancel to exactly 0 or to a term far
    below the others (float64 then loses it: the exact fallback must find it)."""
    if mult.kind == "float":
        x = rng.standard_normal((m, k)) * 2.0 ** rng.integers(-55, 56, (m, k))
        w = rng.standard_normal((k, c)) * 2.0 ** rng.integers(-55, 56, (k, c))
        x[rng.random((m, k)) < 0.3] = 0
        w[rng.random((k, c)) < 0.1] = 0
        a, b = to_bf16(x), to_bf16(w)
        a[rng.random((m, k)) < 0.03] = 0x8000                    # -0
        a[rng.random((m, k)) < 0.03] = rng.integers(1, 128)      # subnormal: DAZ
        b[rng.random((k, c)) < 0.03] = 0x8001
        if k >= 4:
            h = k // 2
            # row 0: a pair of identical halves against negated weights -> exactly 0 plus
            # whatever the odd last tap adds; row 1: the same with a tiny extra term
            for r in (0, 1)[:m]:
                a[r, h:2 * h] = a[r, :h]
            b[h:2 * h] = b[:h] ^ np.uint16(0x8000)
            if m > 1:
                a[1, -1] = to_bf16(np.array([2.0 ** -60]))[0] if k % 2 else a[1, -1]
        return a, b
    q = mult.qmax
    a = rng.integers(-q, q + 1, (m, k))
    a[rng.random((m, k)) < 0.3] = 0
    a[rng.random((m, k)) < 0.05] = -1
    b = rng.integers(-q, q + 1, (k, c))
    b[:, 0] = q                                                  # extreme magnitudes
    if m > 2:
        a[2] = rng.integers(0, 4, k)                               # small magnitudes
    return a, b


def assert_same(got, want, mult):
    assert got.dtype == want.dtype and got.shape == want.shape
    if mult.kind == "float":
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    else:
        assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ALL_MULTS)
def test_fast_paths_equal_naive_on_adversarial_operands(name):
    """fast_matmul, fast_from_split and fast_conv == naive_matmul, bit for bit, on shapes that
    leave partial column chunks (C not a multiple of 16) and partial row steps (M not a multiple
    of 3)."""
    mult = parse_mult(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    for m, k, c in ((1, 1, 1), (7, 33, 17), (20, 9, 40), (5, 64, 3)):
        a, b = adversarial_operands(mult, m, k, c, rng)
        want = gemm.naive_matmul(a, b, mult)
        assert_same(gemm.fast_matmul(a, b, mult), want, mult)
        if not (mult.kind == "int" and mult.w == 0):
            assert_same(gemm.fast_from_split(*mult.split(a), b, mult), want, mult)
    # convolutions: patches read from the padded map, several k / stride / pad / dilation
    for k, stride, pad, dil in ((3, 1, None, 1), (3, 2, 1, 1), (1, 2, 0, 1), (3, 1, 2, 2)):
        x, _ = adversarial_operands(mult, 2 * 3 * 6, 5, 1, rng)
        x = x.ravel()[:2 * 3 * 6 * 5].reshape(2, 3, 6, 5)
        _, b = adversarial_operands(mult, 1, 3 * k * k, 19, rng)
        patches = gemm._patches(x, k, stride, pad, dil)
        if pad is None and dil == 1:
            assert np.array_equal(patches, gemm.im2col(x, k, stride))
        assert_same(gemm.fast_conv(x, b, mult, k, stride, pad, dil),
                    gemm.naive_matmul(patches, b, mult), mult)


def test_the_fallback_and_cancellation_are_exercised():
    """Rows whose float64 sum loses a term: the exact fallback decides them (gather kernel and
    dgemm path alike). Row 2's bf16 terms 2^47, 1 + 3 2^-7, -2^47 span 55 bits: outside the 52-bit
    window by 3 bits (4 bits with the bound's margin), and float64 rounds the middle one."""
    for name in ("bf16", "mitch_bf16_w6_trunc"):
        mult = parse_mult(name)
        x = np.array([[2.0 ** 40, 2.0 ** -60, 2.0 ** 40, 3.0], [1.0, 1.0, 1.0, 1.0],
                      [2.0 ** 47, 1.0 + 3 * 2.0 ** -7, 2.0 ** 47, 0.0]])
        w = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [0.0, 1.0]])
        a, b = to_bf16(x), to_bf16(w)
        assert (x @ w)[2, 0] == 1.03125
        fast, naive = gemm.fast_matmul(a, b, mult), gemm.naive_matmul(a, b, mult)
        assert_same(fast, naive, mult)
        assert fast[0, 0] != 0 and float(fast[0, 0]) == float(naive[0, 0])
        assert fast[2, 0] == np.float32(1.0 + 3 * 2.0 ** -7 if name == "bf16" else 1.0)


def test_fast_conv_equals_im2col_matmul_on_a_realistic_layer():
    """A post-ReLU feature map (half zeros) and He-normal weights, bigger than the naive test
    can afford: fast_conv == fast_matmul(im2col), both through different kernels' addressing."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((4, 8, 10, 10)), 0)
    w = rng.standard_normal((72, 24)) * np.sqrt(2 / 72)
    for name in ("bf16", "mitch_bf16_w6_trunc", "mitch_int8_w6_trunc_exact", "int8"):
        mult = parse_mult(name)
        if mult.kind == "float":
            xc, b = to_bf16(x), to_bf16(w)
        else:
            xc, b = mult.quantize(x, x.max() / mult.qmax), mult.quantize(w, mult.weight_scale(w))
        a = gemm.im2col(xc, 3)
        got = gemm.fast_conv(xc, b, mult, 3)
        assert_same(got, gemm.fast_matmul(a, b, mult), mult)
        rows = np.random.default_rng(4).choice(len(a), 12, replace=False)
        assert_same(got[rows], gemm.naive_matmul(a[rows], b, mult), mult)


def test_generated_gather_kernel_is_current():
    from pathlib import Path

    from cnn import kernels
    assert Path(kernels.__file__).with_name("_gather.py").read_text() == kernels.gather_source()


def test_integer_gemm_switches_to_float64_exactly_at_2_24():
    """int_exact: sgemm while amax max|b| K < 2^24 (K = 1040 for int8), dgemm from there; both
    exact against Python-int sums, at the extremes (every product 127^2, all signs alike) and
    with mixed signs."""
    rng = np.random.default_rng(9)
    for k, dtype in ((1040, np.float32), (1041, np.float64)):
        a = np.full((3, k), 127, dtype=np.int64)
        a[1] = rng.choice([-127, 127], k)
        a[2] = rng.integers(-127, 128, k)
        b = np.full((k, 2), 127, dtype=np.int64)
        b[:, 1] = rng.integers(-127, 128, k)
        assert gemm._int_dtype(127, b, k) == dtype
        want = np.array([[sum(int(x) * int(y) for x, y in zip(a[i], b[:, j])) for j in range(2)]
                         for i in range(3)])
        assert np.array_equal(gemm.int_exact(a, b), want)
        x = a.reshape(3, k, 1, 1)                      # 1 x 1 conv: the fast_conv path
        assert np.array_equal(gemm.fast_conv(x, b, parse_mult("int8"), 1, pad=0), want)


def test_exponent_range_is_the_exponent_fields_min_and_max():
    from cnn import kernels
    rng = np.random.default_rng(10)
    for t in range(300):
        x = rng.integers(0, 1 << 16, int(rng.integers(0, 40))).astype(np.uint16)
        x = x & 0x807F if t % 3 == 0 else x                       # zeros / subnormals only
        e = (x >> 7) & 0xFF
        want = int(np.where(e > 0, e, 0xFFFF).min(initial=0xFFFF)), int(e.max(initial=0))
        assert kernels.exponent_range(x.reshape(-1, 1) if t % 2 else x) == want
