"""The posit units of the CNN (cnn.mults posit_* / plam_*): fast paths == the golden quire MAC.

* per product: PLAM n = 8's class decomposition scale * scale * T[cls, cls], the value products
  of the exact unit, and cnn.plam_kernel's PLAM formula are golden's unrounded products, over
  every n = 8 operand pair and random n = 16 pairs with every special class;
* per layer: fast_matmul and fast_conv == naive_matmul (golden.mac.dot of posit_mac / plam_mac:
  the quire rounded once to posit) on random and adversarial operands: zeros, saturated operands
  (+-maxpos, +-minpos), operands on rounding ties, sums that saturate, tiny sums (-> minpos),
  exact cancellation and sums float64 cannot add exactly (the exact fallback);
* NaR operands take the naive path; bad names raise ParameterError.
"""

import numpy as np
import pytest

from cnn import gemm, plam_kernel
from cnn.exactsum import PositRounding
from cnn.mults import parse_mult, to_posit
from golden.mac import dot
from golden.params import ParameterError
from golden.posit import (float64_to_posit, nar_pattern, plam_mul, posit_mul, posit_to_float64,
                          special_values)

POSIT_MULTS = [f"{u}_n{n}_es{es}" for u in ("posit", "plam")
               for n, es in ((8, 0), (8, 1), (8, 2), (16, 0), (16, 1), (16, 2))]


def pairs(mult, count=30_000, seed=1):
    """Every pair for n = 8; else random patterns (NaR excluded) and the special classes
    crossed."""
    n = mult.n
    every = np.delete(np.arange(1 << n), nar_pattern(n))
    if n == 8:
        return (v.ravel() for v in np.meshgrid(every, every))
    rng = np.random.default_rng(seed)
    spec = np.delete(special_values(n, mult.es).astype(np.int64),
                     np.nonzero(special_values(n, mult.es) == nar_pattern(n)))
    sa, sb = (v.ravel() for v in np.meshgrid(spec, spec))
    return (np.concatenate([rng.choice(every, count), sa]),
            np.concatenate([rng.choice(every, count), sb]))


@pytest.mark.parametrize("name", POSIT_MULTS)
def test_every_product_matches_golden(name):
    """The fast paths' products are golden's unrounded products, which round to golden's
    posit_mul / plam_mul."""
    mult = parse_mult(name)
    a, b = pairs(mult)
    want = mult.product(a, b)
    assert np.isfinite(want).all()
    golden_mul = plam_mul if mult.plam else posit_mul
    assert np.array_equal(float64_to_posit(want, n=mult.n, es=mult.es),
                          golden_mul(a, b, n=mult.n, es=mult.es))
    value, scale, frac = gemm._posit_tables(mult)
    if mult.plam:
        # cnn.plam_kernel: a K = 1 product of a column and a row is every pair's product
        x, y = np.unique(a)[:400], np.unique(b)[-400:]
        got = plam_kernel.plam_sums(scale[x][:, None], frac[x][:, None], scale[y][None, :],
                                    frac[y][None, :])
        assert np.array_equal(got, mult.product(x[:, None], y[None, :]))
    else:
        assert np.array_equal(value[a] * value[b], want)
    if mult.table_path:
        ca, sa = mult.split(a)
        cb, sb = mult.split(b)
        assert np.array_equal(sa * sb * mult.table()[ca, cb], want)


def posit_layer(mult, m, k, c, rng, adversarial=True):
    """Posit operand matrices a (M, K), b (K, C). Adversarial: fp32 values from far below minpos
    to far beyond maxpos (they saturate), zeros, ties between neighbouring posits, a row that
    cancels exactly, a row whose sum is far below minpos, a row whose sum exceeds maxpos, and a
    row whose terms float64 cannot add exactly."""
    n, es = mult.n, mult.es
    span = (n - 2) << es                                  # maxpos = 2^span
    x = rng.standard_normal((m, k)) * 2.0 ** rng.integers(-span // 2, span // 2 + 1, (m, k))
    w = rng.standard_normal((k, c)) * 2.0 ** rng.integers(-span // 2, 1, (k, c))
    if adversarial:
        x[rng.random((m, k)) < 0.2] = 0
        w[rng.random((k, c)) < 0.1] = 0
        big = rng.random((m, k)) < 0.05
        x[big] = rng.choice([-1, 1], big.sum()) * 2.0 ** (span + 3)         # -> +-maxpos
        tiny = rng.random((m, k)) < 0.05
        x[tiny] = rng.choice([-1, 1], tiny.sum()) * 2.0 ** (-span - 3)      # -> +-minpos
        # ties: the midpoint of two neighbouring posits (rounded to even by to_posit)
        p = rng.integers(1, (1 << (n - 1)) - 1, (m, k))
        mid = (posit_to_float64(p, n=n, es=es) + posit_to_float64(p + 1, n=n, es=es)) / 2
        tie = rng.random((m, k)) < 0.1
        x[tie] = mid[tie]
    a = to_posit(x.astype(np.float32), n, es)
    b = to_posit(w.astype(np.float32), n, es)
    if adversarial and m >= 4 and k >= 4 and c >= 4:
        maxpos, minpos = (1 << (n - 1)) - 1, 1
        neg = lambda v: (-np.asarray(v, np.int64)) % (1 << n)
        h = k // 2
        a[0, h:2 * h], a[0, 2 * h:] = a[0, :h], 0                 # row 0: cancels exactly
        b[h:2 * h, 0] = neg(b[:h, 0])
        a[1] = 0                                                  # row 1: minpos^2 terms only
        a[1, :3], b[:3, 1] = minpos, [minpos, minpos, neg(minpos)]
        a[2] = maxpos                                             # row 2: beyond maxpos
        b[:, 2] = maxpos
        a[3] = 0                                                  # row 3: maxpos^2 + minpos^2 -
        a[3, :3] = [maxpos, minpos, maxpos]                       # maxpos^2 = minpos^2
        b[:3, 3] = [maxpos, minpos, neg(maxpos)]
    return a, b


def assert_same(got, want):
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name", POSIT_MULTS)
def test_fast_paths_equal_the_golden_quire_mac(name):
    """fast_matmul and fast_conv == naive_matmul == golden.mac.dot (the quire MAC), bit for bit,
    on shapes with partial column chunks and row steps, and on convolutions with several
    kernel sizes, strides, pads and dilations."""
    mult = parse_mult(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    for m, k, c, adv in ((1, 1, 1, True), (7, 33, 17, True), (20, 9, 40, False), (5, 64, 4, True)):
        a, b = posit_layer(mult, m, k, c, rng, adv)
        want = gemm.naive_matmul(a, b, mult)
        unit, params = mult.mac_params()
        mac = dot(a[:, None, :], b.T[None, :, :], unit, **params)
        assert np.array_equal(float64_to_posit(want, n=mult.n, es=mult.es), mac)
        assert_same(gemm.fast_matmul(a, b, mult), want)
        if adv and m >= 4 and k >= 4 and c >= 4:
            maxpos = posit_to_float64(np.array([(1 << (mult.n - 1)) - 1]), n=mult.n,
                                      es=mult.es)[0]
            assert want[0, 0] == 0 and want[1, 1] == want[3, 3] == 1 / maxpos
            assert want[2, 2] == maxpos
    for k, stride, pad, dil in ((3, 1, None, 1), (3, 2, 1, 1), (1, 2, 0, 1), (3, 1, 2, 2)):
        x, _ = posit_layer(mult, 2 * 3 * 6, 5, 1, rng)
        x = x.ravel()[:2 * 3 * 6 * 5].reshape(2, 3, 6, 5)
        _, b = posit_layer(mult, 1, 3 * k * k, 19, rng)
        patches = gemm._patches(x, k, stride, pad, dil)
        assert_same(gemm.fast_conv(x, b, mult, k, stride, pad, dil),
                    gemm.naive_matmul(patches, b, mult))


@pytest.mark.parametrize("name", ["posit_n16_es1", "plam_n16_es1", "posit_n16_es2"])
def test_the_exact_fallback_is_exercised(name):
    """maxpos x 1 + minpos x 1 - maxpos x 1: float64 loses the minpos term (the terms span more
    than 53 bits), the fallback keeps it; the fast path must return minpos, not 0."""
    mult = parse_mult(name)
    n, es = mult.n, mult.es
    maxpos, minpos, one = (1 << (n - 1)) - 1, 1, 1 << (n - 2)
    a = np.array([[maxpos, minpos, maxpos]], dtype=np.uint16)
    b = np.array([[one], [one], [(-one) % (1 << n)]], dtype=np.uint16)
    v = posit_to_float64(np.array([maxpos, minpos]), n=n, es=es)
    assert v[0] + v[1] - v[0] == 0                                # float64 loses it
    want = gemm.naive_matmul(a, b, mult)
    assert want[0, 0] == np.float32(v[1])
    assert_same(gemm.fast_matmul(a, b, mult), want)


def test_realistic_layer_through_both_conv_paths():
    """A post-ReLU map and He-normal weights, bigger than naive can afford: fast_conv ==
    fast_matmul(im2col), and sampled rows == naive."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((4, 8, 10, 10)), 0).astype(np.float32)
    w = (rng.standard_normal((72, 24)) * np.sqrt(2 / 72)).astype(np.float32)
    for name in ("posit_n8_es0", "plam_n8_es1", "posit_n16_es1", "plam_n16_es1"):
        mult = parse_mult(name)
        xc, b = mult.encode(x), mult.encode(w)
        a = gemm.im2col(xc, 3)
        got = gemm.fast_conv(xc, b, mult, 3)
        assert_same(got, gemm.fast_matmul(a, b, mult))
        rows = np.random.default_rng(4).choice(len(a), 12, replace=False)
        assert_same(got[rows], gemm.naive_matmul(a[rows], b, mult))


def test_nar_operands_take_the_naive_path():
    """A NaR operand (NaN or Inf activations) makes its dot products NaR: NaN, as golden."""
    mult = parse_mult("plam_n8_es0")
    x = np.array([[1.0, np.inf], [0.5, 2.0]], dtype=np.float32)
    a, b = mult.encode(x), mult.encode(np.array([[1.0], [1.0]], dtype=np.float32))
    assert "NaR" in mult.check_fast(a, b)
    got = gemm.fast_matmul(a, b, mult)
    assert np.isnan(got[0, 0]) and got[1, 0] == np.float32(2.5)


def test_posit_rounding():
    """R of posit layers: nearest even, saturating, 0 only for an exact 0; exact_sum in the
    quire, with terms below float64's reach."""
    r = PositRounding(8, 0)                  # minpos 2^-6, maxpos 2^6, 1 + 5 fraction bits
    got = r.round(np.array([0.0, 2.0 ** -40, -(2.0 ** -40), 1e9, 1 + 2.0 ** -6, 1 + 3 * 2.0 ** -6]))
    assert got.tolist() == [0.0, 2.0 ** -6, -(2.0 ** -6), 64.0, 1.0, 1 + 2.0 ** -4]
    assert r.exact_sum([64.0 * 64, 2.0 ** -12, -64.0 * 64]) == np.float32(2.0 ** -6)
    assert r.exact_sum([3.0, -3.0]) == 0
    with pytest.raises(ValueError, match="minpos"):
        r.exact_sum([2.0 ** -13])


@pytest.mark.parametrize("n, es", [(8, 0), (8, 1), (8, 2), (16, 0), (16, 1), (16, 2)])
def test_table_rounding_is_golden_rounding(n, es):
    """PositRounding.round (a search among boundaries built from golden) == golden
    float64_to_posit on every boundary (ties), the doubles next to them, every posit value, zeros,
    far beyond maxpos and below minpos, and random values, both signs."""
    from cnn.exactsum import rounding_table
    vals, mids, _ = rounding_table(n, es)
    rng = np.random.default_rng(n + es)
    v = np.concatenate([mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf), vals,
                        rng.standard_normal(50_000) * 2.0 ** rng.integers(-70, 70, 50_000),
                        [0.0, 1e300, 1e-300, 2.0 ** -1074]])
    v = np.concatenate([v, -v])
    want = posit_to_float64(float64_to_posit(v, n=n, es=es), n=n, es=es).astype(np.float32)
    assert np.array_equal(PositRounding(n, es).round(v).view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name, match", [
    ("posit_n12_es1", "n must be one of 8, 16"),
    ("plam_n8_es3", "es must be in 0..2"),
    ("posit8", "posit_n{8|16}_es{0..2}"),
    ("plam_n16", "plam_n{8|16}_es{0..2}"),
])
def test_bad_names(name, match):
    with pytest.raises(ParameterError, match=match.replace("{", r"\{").replace("|", r"\|")):
        parse_mult(name)
