"""golden.mitchell against an independent plain-Python-integer reference."""

import itertools

import numpy as np
import pytest

from golden.mitchell import mitch_mul
from golden.params import ParameterError


def reference(a, b, n, w, variant, signed):
    """Mitch-w on Python ints, written from the definition with bit_length and string slicing."""
    def fields(x):
        k = x.bit_length() - 1
        bits = format(x, "b")[1:]                 # the bits below the leading one
        frac = (bits + "0" * w)[:w - 1]           # zero-pad, drop the rest
        f = int(frac, 2) if frac else 0
        if variant == "unbiased":
            f |= 1
        return k, f

    def core(x, y):
        if x == 0 or y == 0:
            return 0
        (kx, fx), (ky, fy) = fields(x), fields(y)
        s = fx + fy
        if s < 2 ** (w - 1):
            k, m = kx + ky, 2 ** (w - 1) + s
        else:
            k, m = kx + ky + 1, s
        return (m * 2 ** k) // 2 ** (w - 1)

    if signed == "none":
        return core(a, b)
    return to_signed(signed_core(a, b, core, signed), 2 * n)


def to_signed(x, bits):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def signed_core(a, b, core, signed):
    differ = (a < 0) != (b < 0)
    if signed == "exact":
        p = core(abs(a), abs(b))
        return -p if differ else p
    p = core(a if a >= 0 else -a - 1, b if b >= 0 else -b - 1)
    return -p - 1 if differ else p


CONFIGS = list(itertools.product(("trunc", "unbiased"), ("none", "exact", "c1")))


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("w", [2, 3, 5, 8])
def test_exhaustive_n8_matches_reference(w, variant, signed):
    lo, hi = (0, 255) if signed == "none" else (-128, 127)
    values = np.arange(lo, hi + 1)
    a, b = np.meshgrid(values, values)
    got = mitch_mul(a, b, n=8, w=w, variant=variant, signed=signed)
    assert got.dtype == np.int64
    want = np.array([[reference(int(x), int(y), 8, w, variant, signed) for x in values] for y in values])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("n,w", [(16, 6), (16, 16), (24, 7), (32, 2), (32, 6), (32, 32)])
def test_random_wide_matches_reference(n, w, variant, signed):
    rng = np.random.default_rng(n * 100 + w)
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    corners = [lo, hi, 0, 1, -1 if lo < 0 else 2, 2 ** (n - 2), 3]
    a = np.concatenate([rng.integers(lo, hi, 3000, endpoint=True), np.repeat(corners, len(corners))])
    b = np.concatenate([rng.integers(lo, hi, 3000, endpoint=True), np.tile(corners, len(corners))])
    got = mitch_mul(a, b, n=n, w=w, variant=variant, signed=signed)
    assert got.dtype == (np.uint64 if (n == 32 and signed == "none") else np.int64)
    want = [reference(int(x), int(y), n, w, variant, signed) for x, y in zip(a, b)]
    assert [int(g) for g in got] == want


def test_sanity_points():
    for w in range(2, 9):
        assert mitch_mul(np.array([3]), np.array([3]), n=8, w=w)[0] == 8
    values = np.arange(1, 2 ** 12)
    a, b = np.meshgrid(values, values)
    e = (mitch_mul(a, b, n=12, w=12).astype(float) - a * b) / (a * b)
    assert -0.0390 < e.mean() < -0.0380
    assert e.min() == pytest.approx(-1 / 9)     # (1+f)^2 vs 2(1+2f-1)... at f = 0.5: 2/2.25 - 1
    assert e.max() == 0.0


def test_carry_boundary_increments_exponent():
    # w=4: f = 3 bits. 12 = 1.100b, 12 x 12: s = 4+4 = 8 = 2^(w-1) -> k = 3+3+1, m = s = 8 -> 2^7
    assert mitch_mul(np.array([12]), np.array([12]), n=8, w=4)[0] == 128


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 3, "w": 2}, "n must be in 4..32"),
    ({"n": 33, "w": 2}, "n must be in 4..32"),
    ({"n": 8, "w": 1}, "w must be in 2..8"),
    ({"n": 8, "w": 9}, "w must be in 2..8"),
    ({"n": 8, "w": 4, "variant": "round"}, "variant must be one of trunc, unbiased"),
    ({"n": 8, "w": 4, "signed": "twos"}, "signed must be one of none, exact, c1"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        mitch_mul(np.array([1]), np.array([1]), **kwargs)


def test_out_of_range_operands_raise():
    with pytest.raises(ParameterError, match="a must hold N=8-bit unsigned values in 0..255"):
        mitch_mul(np.array([256]), np.array([1]), n=8, w=4)
    with pytest.raises(ParameterError, match="b must hold N=8-bit signed values in -128..127"):
        mitch_mul(np.array([1]), np.array([128]), n=8, w=4, signed="exact")
    with pytest.raises(ParameterError, match="integer array"):
        mitch_mul(np.array([1.5]), np.array([1]), n=8, w=4)
