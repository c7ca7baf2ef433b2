"""golden.control_variate against independent Fraction / Python-int computations, and the
property the correction exists for: less error where its model holds."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from golden import control_variate as cv
from golden.floats import fp32_to_float
from golden.mitch_bf16_mul import mitch_bf16_mul
from golden.mitchell import mitch_mul
from golden.params import ParameterError

F = cv.KAPPA_FRAC_BITS


def ref_round(x, bits=24, max_exp=127):
    """R of an exact rational to ``bits`` significant bits, written from the definition:
    x = q ulp with ulp = 2^(e - bits + 1), 2^e <= |x| < 2^(e + 1); q rounded half to even
    (Python's round on Fractions); |result| < 2^-126 -> 0, >= 2^(max_exp + 1) -> +-Inf."""
    x = Fraction(x)
    if x == 0:
        return 0.0
    e = abs(x).numerator.bit_length() - abs(x).denominator.bit_length()
    if Fraction(2) ** e > abs(x):
        e -= 1
    ulp = Fraction(2) ** (e - bits + 1)
    v = round(x / ulp) * ulp
    if abs(v) < Fraction(1, 2 ** 126):
        return 0.0
    if abs(v) >= Fraction(2) ** (max_exp + 1):
        return float("inf") if v > 0 else float("-inf")
    return float(v)


def ref_round_fp32(x):
    return 0.0 if abs(Fraction(x)) < Fraction(1, 2 ** 126) else ref_round(x, 24)


def ref_correct_float(yt, s, k, g=1):
    """R(g ytilde - bf16(kappa) bf16(S)) from Fractions (the product exact: 16 bits)."""
    p = Fraction(ref_round(Fraction(float(k)), 8)) * Fraction(ref_round(Fraction(float(s)), 8))
    return ref_round_fp32(Fraction(float(g)) * Fraction(float(yt)) - p)


def bf16_values(rng, size, lo=-20, hi=20, signed=True):
    """Random bf16 values (float64) with exponents in lo..hi."""
    m = 1 + rng.integers(0, 128, size=size) / 128
    v = np.ldexp(m, rng.integers(lo, hi + 1, size=size))
    if signed:
        v = np.where(rng.random(size) < 0.5, -v, v)
    return v


# ---------------------------------------------------------------- arithmetic
def test_correct_float_is_fp32_add_of_the_bf16_product():
    rng = np.random.default_rng(1)
    m, c = 300, 7
    yt = (rng.standard_normal((m, c)) * 2.0 ** rng.integers(-30, 30, (m, c))).astype(np.float32)
    s = (rng.standard_normal(m) * 2.0 ** rng.integers(-30, 30, m)).astype(np.float32)
    k = cv.quantize_kappa(rng.standard_normal(c) * 0.1, "float")
    sb = np.array([ref_round(Fraction(float(v)), 8) for v in s])
    # exact cancellations and near-cancellations: ytilde = kappa bf16(S) and its neighbour
    yt[:50] = (k[None, :].astype(np.float64) * sb[:50, None]).astype(np.float32)
    yt[50:100] = np.nextafter(yt[:50], np.float32(np.inf))
    s[100:110] = 0
    s[110:120] = np.nextafter(np.float32(1.0) + np.float32(2.0 ** -8), np.float32(0))
    s[120:125] = np.float32(1.0 + 2.0 ** -8)                 # a bf16 tie: to even (1.0)
    s[125:130] = np.float32(1.0 + 3 * 2.0 ** -8)             # a tie: to even (1 + 2^-6)
    got = cv.correct_float(yt, s, k)
    assert got.dtype == np.float32
    for i in range(m):
        for j in range(c):
            assert float(got[i, j]) == ref_correct_float(yt[i, j], s[i], k[j]), (i, j)
    assert float(cv.fp32_to_bf16(np.float32(1 + 3 * 2.0 ** -8).view(np.uint32))) == 0x3F82


def test_correct_float_specials_follow_fp32_add():
    """Every special fp32 class as ytilde and as S: S rounded to bf16 by the rule written out
    here (FTZ, NaN -> 0x7FC0, RNE on the bits), then golden bf16_mul and fp32_add."""
    from golden.bf16_mul import bf16_mul
    from golden.floats import special_fp32_values
    from golden.fp32_add import fp32_add
    yt = special_fp32_values()
    s = np.concatenate([special_fp32_values(), np.float32([1.5, -3.0]).view(np.uint32)])
    k = np.float32([0.0, -0.25, 2.0 ** 100])
    got = cv.correct_float(np.repeat(yt.view(np.float32)[None, :3], len(s), 0), s.view(np.float32), k)
    for i, sb in enumerate(int(v) for v in s):
        e = (sb >> 23) & 255
        if e == 0:
            sb &= 0x80000000                                  # FTZ
        sb16 = 0x7FC0 if (e == 255 and sb & 0x7FFFFF) else (sb + 0x7FFF + ((sb >> 16) & 1)) >> 16
        for j in range(3):
            p = int(bf16_mul(np.uint16(int(k[j:j + 1].view(np.uint32)[0]) >> 16), np.uint16(sb16)))
            want = fp32_add(yt[j], np.uint32(p ^ 0x80000000))
            assert int(got[i, j:j + 1].view(np.uint32)[0]) == int(want), (i, j)


def test_kappa_must_be_bf16():
    with pytest.raises(ParameterError, match="bf16 values"):
        cv.correct_float(np.zeros((1, 1), np.float32), np.ones(1, np.float32), np.float32([0.1]))


def test_correct_int_is_ytilde_minus_kappa_s_rounded_half_up():
    rng = np.random.default_rng(2)
    yt = rng.integers(-2 ** 40, 2 ** 40, (200, 5))
    s = rng.integers(-2 ** 20, 2 ** 20, 200)
    s[:3] = [0, 1, -1]
    kq = rng.integers(-2 ** 24, 2 ** 24, 5)
    kq[0] = 1 << (F - 1)                      # kq S / 2^F lands on halves: ties go up
    got = cv.correct_int(yt, s, kq)
    for i in range(200):
        for j in range(5):
            x = int(yt[i, j]) - Fraction(int(kq[j]) * int(s[i]), 2 ** F) + Fraction(1, 2)
            assert int(got[i, j]) == x.numerator // x.denominator


def test_correct_int_overflow_is_refused():
    with pytest.raises(OverflowError):
        cv.correct_int(np.zeros((1, 1), np.int64), np.array([2 ** 40]), np.array([2 ** 30]))


def test_quantize_kappa():
    k = np.array([0.5, -1.25, 3 / 2 ** (F + 1), 5 / 2 ** (F + 1), 1e-9, -7.3])
    kq = cv.quantize_kappa(k, "int")
    for v, q in zip(k, kq):
        assert int(q) == round(Fraction(float(v)) * 2 ** F)     # half to even
    assert kq[2] == 2 and kq[3] == 2
    kb = cv.quantize_kappa(k, "float")
    assert [float(v) for v in kb] == [ref_round(Fraction(float(v)), 8) for v in k]
    ties = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -40, 2.0 ** -127])
    assert [float(v) for v in cv.quantize_kappa(ties, "float")] == [1.0, 1 + 2.0 ** -6,
                                                                   1 + 2.0 ** -7, 0.0]
    np.testing.assert_array_equal(cv.quantize_scale(k, "float"), k.astype(np.float32))
    np.testing.assert_array_equal(cv.quantize_scale(k, "int"), kq)
    with pytest.raises(ParameterError, match="bf16 range"):
        cv.quantize_kappa(np.array([3.4e38]), "float")
    with pytest.raises(ParameterError, match="sig_bits must be in 2..62"):
        cv.quantize_kappa(np.array([0.01]), "int", sig_bits=1)
    with pytest.raises(ParameterError, match="kind"):
        cv.quantize_kappa(k, "fixed")


def test_correction_dispatches_with_quantized_kappa():
    yt = np.array([[100, -3]], np.int64)
    s = np.array([7])
    got = cv.correction(yt, s, np.array([0.5, -0.25]), "int")
    np.testing.assert_array_equal(got, [[97, -1]])    # 96.5 -> 97, -1.25 -> -1
    got = cv.correction(yt, s, np.array([0.5, 0.0]), "int", g=np.array([1.5, 0.5]))
    np.testing.assert_array_equal(got, [[147, -1]])    # 150 - 3.5 = 146.5 -> 147; -1.5 -> -1
    gf = cv.correction(np.array([[1.0]], np.float32), np.array([2.0], np.float32),
                       np.array([0.1]), "float")
    assert float(gf[0, 0]) == ref_correct_float(np.float32(1.0), np.float32(2.0), 0.1)


def test_variate_int_exact():
    rng = np.random.default_rng(3)
    a = rng.integers(-32767, 32768, (40, 1000))
    got = cv.variate_int(a)
    assert [int(v) for v in got] == [sum(int(x) for x in row) for row in a]
    with pytest.raises(ParameterError):
        cv.variate_int(a.astype(np.float64))


def test_variate_float_exact_both_paths():
    rng = np.random.default_rng(4)
    a = bf16_values(rng, (60, 50))
    a[:20] = bf16_values(rng, (20, 50), lo=-126, hi=120)    # wide spread: the Fraction path
    a[20:25, :] = 0
    a[25, 0], a[25, 1] = 2.0 ** 100, -2.0 ** 100             # cancellation
    a[25, 2] = 2.0 ** -100
    got = cv.variate_float(a)
    for i in range(len(a)):
        want = ref_round_fp32(sum(Fraction(float(v)) for v in a[i]))
        assert float(got[i]) == want, i


def test_correct_float_with_scale_is_one_rounding():
    rng = np.random.default_rng(8)
    m, c = 120, 5
    yt = (rng.standard_normal((m, c)) * 2.0 ** rng.integers(-20, 20, (m, c))).astype(np.float32)
    s = (rng.standard_normal(m) * 2.0 ** rng.integers(-20, 20, m)).astype(np.float32)
    k = cv.quantize_kappa(rng.standard_normal(c) * 0.1, "float")
    k[0] = 0                                  # scale only
    g = (1 + rng.standard_normal(c) * 0.1).astype(np.float32)
    got = cv.correct_float(yt, s, k, g)
    for i in range(m):
        for j in range(c):
            assert float(got[i, j]) == ref_correct_float(yt[i, j], s[i], k[j], g[j]), (i, j)


def test_variate_float_sequential_is_the_fp32_running_sum():
    from golden.fp32_add import fp32_add
    rng = np.random.default_rng(11)
    a = rng.integers(0, 1 << 16, (20, 9)).astype(np.uint16)
    got = cv.variate_float_sequential(a)
    for i in range(20):
        acc = np.uint32(0)
        for v in a[i]:
            e = (int(v) >> 7) & 255
            x = (int(v) << 16) & (0x80000000 if e == 0 else 0xFFFFFFFF)   # FTZ subnormals
            acc = fp32_add(acc, np.uint32(x))
        assert int(got[i]) == int(acc), i


def test_correct_int_with_scale():
    rng = np.random.default_rng(9)
    yt = rng.integers(-2 ** 30, 2 ** 30, (100, 4))
    s = rng.integers(-2 ** 20, 2 ** 20, 100)
    kq = rng.integers(-2 ** 20, 2 ** 20, 4)
    gq = rng.integers(2 ** 15, 2 ** 17, 4)
    got = cv.correct_int(yt, s, kq, gq)
    for i in range(100):
        for j in range(4):
            x = Fraction(int(gq[j]) * int(yt[i, j]) - int(kq[j]) * int(s[i]), 2 ** F) + Fraction(1, 2)
            assert int(got[i, j]) == x.numerator // x.denominator


# ---------------------------------------------------------------- estimators
def test_kappa_lstsq_matches_a_least_squares_solver():
    rng = np.random.default_rng(5)
    s = rng.random(100) * 10
    d = np.outer(s, [0.3, -0.1, 0.0]) + rng.standard_normal((100, 3))
    y = rng.standard_normal((100, 3))
    got = cv.kappa_lstsq(y + d, y, s)
    for j in range(3):
        want = np.linalg.lstsq(s[:, None], d[:, j], rcond=None)[0][0]
        assert got[j] == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(cv.kappa_lstsq(y + d, y, np.zeros(100)), 0)


def test_layer_scale_from_fractions():
    y = np.array([[1.0, 2.0], [3.0, -1.0]])
    yt = np.array([[0.9, 1.9], [2.5, -1.2]])
    num = sum(Fraction(a) * Fraction(b) for a, b in zip(yt.ravel(), y.ravel()))
    den = sum(Fraction(b) ** 2 for b in y.ravel())
    assert cv.layer_scale(yt, y) == pytest.approx(float(den / num), rel=1e-15)
    assert cv.layer_scale(yt, np.zeros_like(y)) == 1.0
    with pytest.raises(ParameterError, match="layer scale"):
        cv.layer_scale(-y, y)


def test_scale_kappa_lstsq_matches_a_least_squares_solver():
    rng = np.random.default_rng(11)
    s = rng.random(300) * 10
    y = rng.standard_normal((300, 3)) * 5 + s[:, None]
    yt = 0.8 * y + np.outer(s, [0.2, -0.1, 0.0]) + rng.standard_normal((300, 3))
    sums = {}
    for part in (slice(0, 100), slice(100, 300)):           # the sums add over batches
        for key, v in cv.normal_sums(yt[part], y[part], s[part]).items():
            sums[key] = sums.get(key, 0) + v
    g, kappa = cv.scale_kappa_lstsq(sums)
    gc = cv.channel_scale(sums)
    for j in range(3):
        (wg, wk), *_ = np.linalg.lstsq(np.stack([yt[:, j], -s], 1), y[:, j], rcond=None)
        assert g[j] == pytest.approx(wg, rel=1e-9) and kappa[j] == pytest.approx(wk, rel=1e-9)
        assert gc[j] == pytest.approx(np.linalg.lstsq(yt[:, j:j + 1], y[:, j], rcond=None)[0][0],
                                      rel=1e-12)
    # singular: S all zero -> kappa 0, g the scale alone
    g0, k0 = cv.scale_kappa_lstsq(cv.normal_sums(yt, y, np.zeros(300)))
    np.testing.assert_array_equal(k0, 0)
    np.testing.assert_allclose(g0, gc_zero := cv.channel_scale(cv.normal_sums(yt, y, np.zeros(300))))
    assert np.isfinite(gc_zero).all()


def int_product(n, w, signed="exact"):
    return lambda a, b: mitch_mul(a, b, n=n, w=w, variant="trunc", signed=signed)


@pytest.mark.parametrize("weighting", ["activation", "uniform"])
def test_kappa_analytic_int_against_python_ints(weighting):
    rng = np.random.default_rng(6)
    n, w = 8, 3
    b = rng.integers(-127, 128, (12, 4))
    b[0, 0] = 0
    a = rng.integers(0, 128, 25)
    a[0] = 0
    got = cv.kappa_analytic(int_product(n, w), b, a, weighting=weighting)
    prod = {(int(x), int(y)): int(mitch_mul(np.int64(x), np.int64(y), n=n, w=w,
                                            signed="exact")) for x in a for y in b.ravel()}
    for j in range(4):
        tot = Fraction(0)
        for k in range(12):
            bk = int(b[k, j])
            errs = [Fraction(prod[int(x), bk] - int(x) * bk) for x in a]
            if weighting == "activation":
                br = sum(errs) / sum(int(x) for x in a)
            else:
                rel = [e / (int(x) * bk) for e, x in zip(errs, a) if int(x) * bk != 0]
                br = bk * sum(rel) / len(rel) if rel else Fraction(0)
            tot += br
        assert got[j] == pytest.approx(float(tot / 12), rel=1e-12, abs=1e-15)


def test_kappa_analytic_float_uses_values():
    rng = np.random.default_rng(7)
    bv = bf16_values(rng, (6, 3), lo=-3, hi=2)
    av = np.abs(bf16_values(rng, 20, lo=-4, hi=4))
    enc = lambda v: v.astype(ml_dtypes.bfloat16).view(np.uint16)
    dec = lambda x: np.asarray(x).view(ml_dtypes.bfloat16).astype(np.float64)
    prod = lambda a, b: fp32_to_float(mitch_bf16_mul(a, b, w=4)).astype(np.float64)
    got = cv.kappa_analytic(prod, enc(bv), enc(av), value=dec)
    for j in range(3):
        tot = Fraction(0)
        for k in range(6):
            e = sum(Fraction(float(prod(enc(np.array(x)), enc(np.array(bv[k, j])))))
                    - Fraction(x) * Fraction(bv[k, j]) for x in av)
            tot += e / sum(Fraction(x) for x in av)
        assert got[j] == pytest.approx(float(tot / 6), rel=1e-12)


def test_kappa_analytic_bad_input():
    with pytest.raises(ParameterError, match="weighting"):
        cv.kappa_analytic(int_product(8, 3), np.ones((2, 2), int), np.ones(3, int), weighting="x")
    with pytest.raises(ParameterError, match="non-empty"):
        cv.kappa_analytic(int_product(8, 3), np.ones((2, 2), int), np.array([], int))


# ---------------------------------------------------------------- the property
@pytest.mark.parametrize("w,signed", [(2, "exact"), (3, "exact"), (4, "c1")])
def test_correction_reduces_error_where_the_model_holds(w, signed):
    """a iid (one distribution for every k, independent of the weights): each filter's mean
    error (its bias, over held-out rows) shrinks several times, and the mean squared error
    drops (what is left is the products' own fluctuation, which no variate of the sum removes)."""
    rng = np.random.default_rng(10 + w)
    n, K, C, M = 8, 64, 16, 400
    prod = int_product(n, w, signed)
    b = np.clip(np.rint(rng.standard_normal((K, C)) * 40), -127, 127).astype(np.int64)
    a = np.clip(np.rint(rng.exponential(20, (M, K))), 0, 127).astype(np.int64)
    yt = prod(a[:, :, None], b[None, :, :]).sum(axis=1)
    y = a @ b
    s = cv.variate_int(a)
    calib = rng.choice(a.ravel(), 512)              # samples of the same distribution
    for kappa in (cv.kappa_analytic(prod, b, calib), cv.kappa_lstsq(yt[:200], y[:200], s[:200])):
        yh = cv.correction(yt, s, kappa, "int")
        e0, e1 = (yt - y)[200:].astype(float), (yh - y)[200:].astype(float)
        assert np.abs(e1.mean(axis=0)).mean() < 0.25 * np.abs(e0.mean(axis=0)).mean()
        assert (e1 ** 2).mean() < 0.85 * (e0 ** 2).mean()
