"""golden int_mul, mitch_bf16_mul and the MACs against independent references.

* int_mul: Python integer products.
* mitch_bf16_mul: plain Python on float64 values decoded by ml_dtypes, with its own Python-int
  Mitch-w of the significands (golden.mitchell is not used).
* MACs: the composition of the golden multiplier and adder, written out as a per-cycle Python
  loop over scalars; integer MACs also against Python ints, the fp32 dot product also against
  NumPy float32 additions where nothing is subnormal.
"""

import itertools
import math

import ml_dtypes
import numpy as np
import pytest

from golden.bf16_mul import bf16_mul
from golden.floats import FP32_QNAN, special_bf16_values
from golden.fp32_add import fp32_add
from golden.int_mul import int_mul
from golden.mac import dot, mac_run, mac_spec
from golden.mitch_bf16_mul import mitch_bf16_mul
from golden.mitchell import mitch_mul
from golden.params import ParameterError

# ---------------------------------------------------------------- int_mul


@pytest.mark.parametrize("signed", ["none", "exact"])
def test_int_mul_exhaustive_n8(signed):
    lo, hi = (0, 255) if signed == "none" else (-128, 127)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(lo, hi + 1), np.arange(lo, hi + 1)))
    got = int_mul(a, b, n=8, signed=signed)
    assert got.dtype == np.int64
    assert got.tolist() == [x * y for x, y in zip(a.tolist(), b.tolist())]


@pytest.mark.parametrize("signed", ["none", "exact"])
@pytest.mark.parametrize("n", [4, 13, 16, 31, 32])
def test_int_mul_random_and_extremes(n, signed):
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    rng = np.random.default_rng(n)
    corners = [lo, hi, 0, 1, hi - 1, lo + 1]
    a = np.concatenate([rng.integers(lo, hi, 5000, endpoint=True), np.repeat(corners, 6)])
    b = np.concatenate([rng.integers(lo, hi, 5000, endpoint=True), np.tile(corners, 6)])
    got = int_mul(a, b, n=n, signed=signed)
    assert got.dtype == (np.uint64 if (n == 32 and signed == "none") else np.int64)
    assert [int(g) for g in got] == [int(x) * int(y) for x, y in zip(a, b)]


def test_int_mul_rejects_bad_parameters():
    with pytest.raises(ParameterError, match="signed must be one of none, exact"):
        int_mul([1], [1], n=8, signed="c1")
    with pytest.raises(ParameterError, match="n must be in 4..32"):
        int_mul([1], [1], n=33)
    with pytest.raises(ParameterError, match="a must hold N=8-bit signed values in -128..127"):
        int_mul([128], [1], n=8, signed="exact")


# ---------------------------------------------------------------- mitch_bf16_mul

def reference_mitch_bf16(a, b, w, variant):
    """One product from the definition, on Python floats and ints (no golden.mitchell)."""
    x, y = (float(np.uint16(v).view(ml_dtypes.bfloat16)) for v in (a, b))
    sign = -1.0 if (a ^ b) & 0x8000 else 1.0
    if math.isnan(x) or math.isnan(y):
        return FP32_QNAN
    # FTZ of subnormal inputs: |v| < 2^-126 counts as zero (sign kept in the product's sign)
    zx, zy = abs(x) < 2.0 ** -126, abs(y) < 2.0 ** -126
    if math.isinf(x) or math.isinf(y):
        return FP32_QNAN if (zx or zy) else as_fp32(sign * math.inf)
    if zx or zy:
        return as_fp32(sign * 0.0)
    (mx, ex), (my, ey) = math.frexp(abs(x)), math.frexp(abs(y))   # m in [0.5, 1)
    fx, fy = int(mx * 256) - 128, int(my * 256) - 128              # 7 fraction bits of 1.f
    assert 0 <= fx < 128 and 0 <= fy < 128
    half = 2 ** (w - 1)
    tx, ty = fx >> (8 - w), fy >> (8 - w)                          # keep the top w-1 bits
    if variant == "unbiased":
        tx, ty = tx | 1, ty | 1
    s = tx + ty
    sig = (half + s) / half if s < half else 2 * s / half          # Mitchell's antilog
    value = sign * math.ldexp(sig, (ex - 1) + (ey - 1))
    if abs(value) >= 2.0 ** 128:
        return as_fp32(sign * math.inf)
    if abs(value) < 2.0 ** -126:
        return as_fp32(sign * 0.0)
    assert float(np.float32(value)) == value                       # exact in fp32
    return as_fp32(value)


def as_fp32(v):
    return int(np.float32(v).view(np.uint32))


def significand_grid(exp_pairs, fractions=range(128), seed=0):
    """Every pair of the given fractions for a and b, for each (exponent a, exponent b) pair,
    with random signs."""
    fractions = np.asarray(fractions)
    fa, fb = (x.ravel() for x in np.meshgrid(fractions, fractions))
    a = np.concatenate([ea << 7 | fa for ea, _ in exp_pairs])
    b = np.concatenate([eb << 7 | fb for _, eb in exp_pairs])
    signs = np.random.default_rng(seed).integers(0, 2, (2, len(a))) << 15
    return (a | signs[0]).astype(np.uint16), (b | signs[1]).astype(np.uint16)


@pytest.mark.parametrize("variant", ["trunc", "unbiased"])
@pytest.mark.parametrize("w", [2, 3, 5, 8])
def test_mitch_bf16_mul_all_significand_pairs(w, variant):
    # exponents 127 + 127 (|p| near 1); 1 + 126 and 254 + 127 straddle underflow and overflow
    # (the Mitch-w carry decides on which side of the boundary a product lands); 1 + 125 and
    # 254 + 128 are beyond it whatever the carry
    a, b = significand_grid([(127, 127), (1, 126), (254, 127), (1, 125), (254, 128)], seed=w)
    got = mitch_bf16_mul(a, b, w=w, variant=variant)
    want = [reference_mitch_bf16(x, y, w, variant) for x, y in zip(a.tolist(), b.tolist())]
    assert got.dtype == np.uint32
    assert got.tolist() == want
    magnitude = got & 0x7FFFFFFF
    assert (magnitude == 0x7F800000).any() and (magnitude == 0).any()    # both limits reached


@pytest.mark.parametrize("variant", ["trunc", "unbiased"])
@pytest.mark.parametrize("w", [2, 4, 8])
def test_mitch_bf16_mul_special_and_random_values(w, variant):
    special = special_bf16_values()
    rng = np.random.default_rng(w)
    rand = rng.integers(0, 1 << 16, 4000).astype(np.uint16)
    a = np.concatenate([np.repeat(special, len(special)), rand, special.repeat(40)])
    b = np.concatenate([np.tile(special, len(special)), rng.permutation(rand),
                        rng.integers(0, 1 << 16, 40 * len(special)).astype(np.uint16)])
    got = mitch_bf16_mul(a, b, w=w, variant=variant)
    assert got.tolist() == [reference_mitch_bf16(x, y, w, variant)
                            for x, y in zip(a.tolist(), b.tolist())]


def test_mitch_bf16_mul_shares_bf16_mul_policy():
    """Whenever Mitch-8 trunc is exact (one fraction is 0) it equals bf16_mul bit for bit,
    and for every operand class that is not normal x normal it does for every w."""
    exps = [0, 1, 100, 127, 200, 254, 255]
    a, b = significand_grid(list(itertools.product(exps, exps)), fractions=[0, 1, 5, 64, 100, 127])
    one_frac_zero = ((a & 0x7F) == 0) | ((b & 0x7F) == 0)
    exact = mitch_bf16_mul(a, b, w=8, variant="trunc")
    assert np.array_equal(exact[one_frac_zero], bf16_mul(a, b)[one_frac_zero])
    special = np.isin(a >> 7 & 0xFF, [0, 255]) | np.isin(b >> 7 & 0xFF, [0, 255])
    for w, variant in itertools.product(range(2, 9), ("trunc", "unbiased")):
        got = mitch_bf16_mul(a, b, w=w, variant=variant)
        assert np.array_equal(got[special], bf16_mul(a, b)[special])


def test_mitch_bf16_mul_rejects_bad_parameters():
    with pytest.raises(ParameterError, match="w must be in 2..8"):
        mitch_bf16_mul([0], [0], w=9)
    with pytest.raises(ParameterError, match="variant must be one of trunc, unbiased"):
        mitch_bf16_mul([0], [0], w=4, variant="round")
    with pytest.raises(ParameterError, match="a must hold bf16 bit patterns"):
        mitch_bf16_mul([1 << 16], [0], w=4)


# ---------------------------------------------------------------- MACs

def stream(rng, cycles, draw):
    """Per-cycle inputs with random en / clr and occasional resets."""
    a, b = draw(cycles), draw(cycles)
    en = rng.random(cycles) < 0.8
    clr = rng.random(cycles) < 0.1
    rst = rng.random(cycles) < 0.02
    return a, b, en, clr, rst


def composition(a, b, en, clr, rst, mul, add, zero):
    """The MAC's definition on scalars, one cycle at a time."""
    acc, out = zero, []
    for x, y, e, c, r in zip(a, b, en, clr, rst):
        if r:
            acc = zero
        elif e:
            acc = add(zero if c else acc, mul(x, y))
        out.append(acc)
    return out


def bf16_draw(rng):
    """Random bf16 patterns, mostly finite normals of moderate size, some specials."""
    def draw(size):
        x = rng.integers(0, 1 << 16, size).astype(np.uint16)
        tame = (rng.integers(110, 145, size) << 7 | rng.integers(0, 128, size)
                | rng.integers(0, 2, size) << 15).astype(np.uint16)
        return np.where(rng.random(size) < 0.9, tame, x)
    return draw


@pytest.mark.parametrize("unit,params", [("bf16_mac", {}), ("mitch_bf16_mac", {"w": 4}),
                                         ("mitch_bf16_mac", {"w": 8, "variant": "unbiased"})])
def test_float_mac_is_the_composition(unit, params):
    rng = np.random.default_rng(3)
    a, b, en, clr, rst = stream(rng, 3000, bf16_draw(rng))
    mul = (lambda x, y: int(bf16_mul(x, y))) if unit == "bf16_mac" else (
        lambda x, y: int(mitch_bf16_mul(x, y, **params)))
    want = composition(a.tolist(), b.tolist(), en, clr, rst, mul,
                       lambda x, y: int(fp32_add(x, y)), 0)
    got = mac_run(a, b, en, clr, rst, unit=unit, **params)
    assert got.dtype == np.uint32 and got.tolist() == want
    assert len(set(want)) > 1000                           # the accumulator did move


@pytest.mark.parametrize("n,acc_width", [(8, None), (8, 16), (8, 12), (16, 40), (16, 24), (30, None),
                                         (32, 64)])
def test_int_mac_is_python_integer_arithmetic(n, acc_width):
    rng = np.random.default_rng(n)
    lo, hi = -(2 ** (n - 1)), 2 ** (n - 1) - 1
    a, b, en, clr, rst = stream(rng, 3000, lambda s: rng.integers(lo, hi, s, endpoint=True))
    width = acc_width or min(2 * n + 8, 64)
    wrap = lambda v: (v + 2 ** (width - 1)) % 2 ** width - 2 ** (width - 1)
    want = composition(a.tolist(), b.tolist(), en, clr, rst, lambda x, y: x * y,
                       lambda x, y: wrap(x + y), 0)
    params = {"n": n} if acc_width is None else {"n": n, "acc_width": acc_width}
    got = mac_run(a, b, en, clr, rst, unit="int_mac", **params)
    assert got.dtype == np.int64 and got.tolist() == want


def test_int_mac_wraps_around():
    """An 8-bit MAC with a 16-bit accumulator: 3 x (-128 x -128) = 49152 wraps to -16384."""
    a = b = np.full(3, -128)
    got = mac_run(a, b, 1, 0, 0, unit="int_mac", n=8, acc_width=16)
    assert got.tolist() == [16384, -32768, -16384]


@pytest.mark.parametrize("signed", ["none", "exact", "c1"])
@pytest.mark.parametrize("n,w,variant,acc_width", [(8, 3, "trunc", None), (16, 6, "unbiased", 32),
                                                    (16, 6, "trunc", 24), (32, 8, "trunc", 64)])
def test_mitch_mac_is_the_composition(n, w, variant, signed, acc_width):
    rng = np.random.default_rng(w)
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    a, b, en, clr, rst = stream(rng, 2000, lambda s: rng.integers(lo, hi, s, endpoint=True))
    width = acc_width or 2 * n + 8
    if signed == "none":
        wrap = lambda v: v % 2 ** width
    else:
        wrap = lambda v: (v + 2 ** (width - 1)) % 2 ** width - 2 ** (width - 1)
    mul = lambda x, y: int(mitch_mul(x, y, n=n, w=w, variant=variant, signed=signed))
    want = composition(a.tolist(), b.tolist(), en, clr, rst, mul, lambda x, y: wrap(x + y), 0)
    got = mac_run(a, b, en, clr, rst, unit="mitch_mac", n=n, w=w, variant=variant,
                  signed=signed, **({} if acc_width is None else {"acc_width": acc_width}))
    assert [int(g) for g in got] == want


def test_mac_run_streams_are_independent():
    rng = np.random.default_rng(5)
    a, b, en, clr, rst = stream(rng, 4 * 500, bf16_draw(rng))
    shaped = [x.reshape(4, 500).T for x in (a, b, en, clr, rst)]       # (T=500, 4 streams)
    together = mac_run(*shaped, unit="mitch_bf16_mac", w=5)
    for j in range(4):
        alone = mac_run(*(x[:, j] for x in shaped), unit="mitch_bf16_mac", w=5)
        assert np.array_equal(together[:, j], alone)


def test_rst_beats_en_and_clr_without_en_does_nothing():
    a = np.array([3, 4, 5, 6, 7])
    got = mac_run(a, a, en=[1, 1, 1, 0, 1], clr=[0, 0, 0, 1, 0], rst=[0, 0, 1, 0, 0],
                  unit="int_mac", n=8)
    assert got.tolist() == [9, 25, 0, 0, 49]


def test_dot_accumulates_in_order_from_positive_zero():
    rng = np.random.default_rng(9)
    # moderate normal values: every product and partial sum is a normal fp32, so fp32_add is
    # NumPy's float32 addition and the MAC is the float32 loop below
    a = (rng.integers(120, 135, (50, 16)) << 7 | rng.integers(0, 128, (50, 16))
         | rng.integers(0, 2, (50, 16)) << 15).astype(np.uint16)
    b = np.flip(a, axis=1)
    got = dot(a, b, "bf16_mac")
    fa, fb = (x.view(ml_dtypes.bfloat16).astype(np.float32) for x in (a, b))
    acc = np.zeros(50, np.float32)
    for k in range(16):
        acc = acc + fa[:, k] * fb[:, k]                   # products of bf16 are exact in fp32
    assert np.array_equal(got, acc.view(np.uint32))
    assert dot(np.full(3, 0x8000, np.uint16), np.full(3, 0x3F80, np.uint16), "bf16_mac") == 0
    assert np.array_equal(dot(a, b, "mitch_bf16_mac", w=3),
                          mac_run(a.T, b.T, 1, 0, 0, unit="mitch_bf16_mac", w=3)[-1])


@pytest.mark.parametrize("unit,params,message", [
    ("int_mac", {"n": 8, "acc_width": 7}, "acc_width must be in 8..64"),
    ("int_mac", {"n": 30, "acc_width": 65}, "acc_width must be in 30..64, got 65"),
    ("int_mac", {"n": 8, "w": 3}, "int_mac takes parameters n, acc_width"),
    ("mitch_mac", {"n": 8}, r"required: n, w"),
    ("mitch_mac", {"n": 8, "w": 9}, "w must be in 2..8"),
    ("mitch_bf16_mac", {"w": 1}, "w must be in 2..8"),
    ("bf16_mac", {"w": 4}, "bf16_mac takes parameters none"),
    ("fp_mac", {}, "unit must be one of bf16_mac, mitch_bf16_mac, int_mac, mitch_mac"),
])
def test_mac_rejects_bad_parameters(unit, params, message):
    with pytest.raises(ParameterError, match=message):
        mac_spec(unit, **params)



def pipelined_composition(a, b, en, clr, rst, mul, add, zero):
    """The pipelined MAC on scalars: a stage register (p, en, clr) in front of the adder."""
    acc, stage, out = zero, (zero, False, False), []
    for x, y, e, c, r in zip(a, b, en, clr, rst):
        if r:
            acc, stage = zero, (zero, False, False)
        else:
            p, se, sc = stage
            if se:
                acc = add(zero if sc else acc, p)
            stage = (mul(x, y), bool(e), bool(c))
        out.append(acc)
    return out


@pytest.mark.parametrize("unit,params", [("int_mac", {"n": 8, "acc_width": 20}),
                                         ("mitch_mac", {"n": 8, "w": 4, "signed": "c1"})])
def test_pipelined_integer_mac_is_one_stage_later(unit, params):
    rng = np.random.default_rng(17)
    a, b, en, clr, rst = stream(rng, 3000, lambda s: rng.integers(-128, 128, s))
    width = params.get("acc_width", 24)
    wrap = lambda x: (x + 2 ** (width - 1)) % 2 ** width - 2 ** (width - 1)   # noqa: E731
    spec = mac_spec(unit, **params)
    mul = lambda x, y: int(spec.value(spec.mul(np.array([x]), np.array([y])))[0])  # noqa: E731
    want = pipelined_composition(a.tolist(), b.tolist(), en, clr, rst, mul,
                                 lambda x, y: wrap(x + y), 0)
    got = mac_run(a, b, en, clr, rst, unit=unit, pipeline=1, **params)
    assert [int(g) for g in got] == want
    plain = mac_run(a, b, en, clr, np.zeros_like(rst), unit=unit, **params)
    late = mac_run(a, b, en, clr, np.zeros_like(rst), unit=unit, pipeline=1, **params)
    assert np.array_equal(late[1:], plain[:-1]) and late[0] == 0


def test_pipelined_float_mac_is_one_stage_later():
    rng = np.random.default_rng(18)
    a, b, en, clr, rst = stream(rng, 3000, bf16_draw(rng))
    want = pipelined_composition(a.tolist(), b.tolist(), en, clr, rst,
                                 lambda x, y: bf16_mul(x, y), lambda x, y: fp32_add(x, y),
                                 np.uint32(0))
    got = mac_run(a, b, en, clr, rst, unit="bf16_mac", pipeline=1)
    assert [int(g) for g in got] == [int(w) for w in want]
    two = mac_run(a, b, en, clr, np.zeros_like(rst), unit="bf16_mac", pipeline=2)
    one = mac_run(a, b, en, clr, np.zeros_like(rst), unit="bf16_mac", pipeline=1)
    assert np.array_equal(two[1:], one[:-1]) and two[0] == 0
    with pytest.raises(ParameterError, match="pipeline must be in 0..2"):
        mac_run(a, b, en, clr, rst, unit="bf16_mac", pipeline=3)
