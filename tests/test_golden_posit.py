"""golden.posit against an independent exact reference: fractions.Fraction decoding from the bit
string, rounding by search over neighbouring posits with the tie point taken from the
(n+1)-bit posit between them, and (for the large random sets) an exact bit-string rounding on
Python ints, itself checked against the search on a subset."""

import bisect
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

from golden.mac import dot, mac_run, mac_spec
from golden.params import ParameterError
from golden.posit import (exact_product, float64_to_posit, plam_mul, plam_product, posit_mul,
                          posit_to_float64, product_to_float64, quire_frac_bits, quire_to_posit, quire_width, special_classes,
                          special_values)


# ---------------------------------------------------------------- reference
# A nonzero real is held exactly as (neg, M, E): (-1)^neg M 2^E with M a positive Python int.

@lru_cache(maxsize=1 << 17)
def ref_fields(p, n, es):
    """(neg, M, E) of pattern p read from its bit string; None for NaR, 0 for zero."""
    if p == 0:
        return 0
    if p == 1 << (n - 1):
        return None
    neg = p >> (n - 1)
    if neg:
        p = (1 << n) - p
    bits = format(p, f"0{n}b")[1:]
    run = len(bits) - len(bits.lstrip(bits[0]))
    k = run - 1 if bits[0] == "1" else -run
    rest = bits[run + 1:]
    e = int(rest[:es].ljust(es, "0"), 2) if es else 0
    frac = rest[es:]
    return neg, int("1" + frac, 2), k * 2 ** es + e - len(frac)


def to_fraction(t):
    if t is None or t == 0:
        return t if t is None else Fraction(0)
    neg, m, e = t
    v = Fraction(m << e) if e >= 0 else Fraction(m, 1 << -e)
    return -v if neg else v


def ref_decode(p, n, es):
    """Fraction value of pattern p (None for NaR)."""
    return to_fraction(ref_fields(p, n, es))


def scaled(t, shift):
    """The signed integer (-1)^neg M 2^(E + shift); exact when the value is a multiple of 2^-shift."""
    neg, m, e = t
    v = m << (e + shift) if e + shift >= 0 else m >> -(e + shift)
    return -v if neg else v


@lru_cache(maxsize=None)
def positive_table(n, es):
    """Values x 2^(2 (n-2) 2^es) of the positive patterns 1 .. 2^(n-1)-1, increasing (n <= 16)."""
    return [scaled(ref_fields(p, n, es), 2 * (n - 2) << es) for p in range(1, 1 << (n - 1))]


def ref_round_search(t, n, es):
    """(pattern, tie) of the real t rounded: the neighbouring posits u <= |x| < w are found by
    search in the monotone pattern order, the tie point is the (n+1)-bit posit between them,
    ties go to the even pattern; beyond maxpos / below minpos it saturates. Values are compared
    as integers in units of minpos^2 (posits and those tie points are multiples of it; x is
    compared through floor(|x| / minpos^2) and whether that floor is exact)."""
    if t == 0:
        return 0, False
    full, top, unit = (1 << n) - 1, (1 << (n - 1)) - 1, 2 * (n - 2) << es
    neg, m, e = t
    ax = scaled((0, m, e), unit)                      # floor(|x| 2^unit)
    whole = e + unit >= 0 or m & ((1 << -(e + unit)) - 1) == 0    # |x| 2^unit is an integer
    if n <= 16:
        table = positive_table(n, es)
        u = bisect.bisect_right(table, ax)
        value = lambda p: table[p - 1]
    else:
        value = lambda p: scaled(ref_fields(p, n, es), unit)
        lo, hi = 0, top
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if value(mid) <= ax:
                lo = mid
            else:
                hi = mid - 1
        u = lo
    tie = False
    if u == 0:
        body = 1
    elif u == top or (value(u) == ax and whole):
        body = u
    else:
        mid = scaled(ref_fields((u << 1) | 1, n + 1, es), unit)
        tie = ax == mid and whole
        body = u if ax < mid or (tie and u % 2 == 0) else u + 1
    return ((-body) & full if neg else body), tie


def ref_round_bits(t, n, es):
    """The real t rounded by writing its regime / exponent / fraction bit string."""
    if t == 0:
        return 0
    neg, m, e = t
    sf = e + m.bit_length() - 1
    k, ex = divmod(sf, 2 ** es)
    if k >= n - 2:
        body = (1 << (n - 1)) - 1
    elif k <= -(n - 1):
        body = 1
    else:
        regime = "1" * (k + 1) + "0" if k >= 0 else "0" * (-k) + "1"
        string = regime + (format(ex, f"0{es}b") if es else "") + format(m, "b")[1:] + "0" * (n + 1)
        body = int(string[:n - 1], 2)
        if string[n - 1] == "1" and ("1" in string[n:] or body & 1):
            body += 1
    return (-body) & ((1 << n) - 1) if neg else body


def ref_product(a, b, n, es, kind):
    """The unrounded product of patterns a, b as (neg, M, E) (None for NaR, 0 for zero)."""
    x, y = ref_fields(a, n, es), ref_fields(b, n, es)
    if x is None or y is None:
        return None
    if x == 0 or y == 0:
        return 0
    (nx, mx, ex), (ny, my, ey) = x, y
    if kind == "posit_mul":
        return nx ^ ny, mx * my, ex + ey
    # PLAM: 2^SF (1 + f) with f = (M - 2^F) / 2^F; add the fractions at a common width G
    fx, fy = mx.bit_length() - 1, my.bit_length() - 1
    g = max(fx, fy)
    s = ((mx - (1 << fx)) << (g - fx)) + ((my - (1 << fy)) << (g - fy))
    sf = ex + fx + ey + fy
    if s < 1 << g:
        return nx ^ ny, (1 << g) + s, sf - g
    return nx ^ ny, s, sf + 1 - g


def ref_mul(a, b, n, es, kind, rounding):
    t = ref_product(a, b, n, es, kind)
    return 1 << (n - 1) if t is None else rounding(t, n, es)


def from_fraction(x):
    """(neg, M, E) of a dyadic Fraction (0 for zero)."""
    if x == 0:
        return 0
    num, den = abs(x.numerator), x.denominator
    return int(x < 0), num, -(den.bit_length() - 1)


GOLDEN = {"posit_mul": posit_mul, "plam_mul": plam_mul}


# ---------------------------------------------------------------- decode / conversions

@pytest.mark.parametrize("n,es", [(3, 0), (5, 2), (8, 0), (8, 1), (8, 2), (8, 4), (16, 1), (16, 4)])
def test_decode_every_pattern(n, es):
    x = np.arange(1 << n)
    got = posit_to_float64(x, n=n, es=es)
    want = [ref_decode(p, n, es) for p in range(1 << n)]
    assert np.isnan(got[1 << (n - 1)]) and want[1 << (n - 1)] is None
    assert all(Fraction(float(g)) == w for g, w in zip(got, want) if w is not None)
    # posits are ordered like their two's-complement patterns
    signed = np.where(x >= 1 << (n - 1), x - (1 << n), x)
    order = np.argsort(signed)
    vals = got[order][1:]                             # NaR (the most negative) first
    assert np.all(np.diff(vals) > 0)


@pytest.mark.parametrize("n,es", [(32, 0), (32, 2), (32, 4)])
def test_decode_random_n32(n, es):
    rng = np.random.default_rng(es)
    x = np.concatenate([rng.integers(0, 1 << 32, 20000), special_values(n, es)]).astype(np.uint32)
    got = posit_to_float64(x, n=n, es=es)
    for g, p in zip(got, x.tolist()):
        w = ref_decode(p, n, es)
        assert (np.isnan(g) and w is None) or Fraction(float(g)) == w


@pytest.mark.parametrize("n,es", [(8, 0), (8, 2), (16, 1), (32, 2), (32, 0), (12, 4)])
def test_float64_to_posit(n, es):
    rng = np.random.default_rng(n + es)
    lim = (n - 2) * 2 ** es + 4
    v = np.ldexp(rng.random(20000) + 0.5, rng.integers(-lim, lim, 20000)) * rng.choice([-1, 1], 20000)
    # every posit value, and every midpoint between neighbours (ties and their nearest doubles)
    pos = posit_to_float64(np.arange(1, 1 << min(n - 1, 12)), n=n, es=es)
    mids = (pos[1:] + pos[:-1]) / 2
    v = np.concatenate([v, pos, -pos, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf),
                        [0.0, -0.0, 1e300, -1e300, 1e-300, -1e-300]])
    got = float64_to_posit(v, n=n, es=es)
    assert got.dtype == {8: np.uint8, 12: np.uint16, 16: np.uint16, 32: np.uint32}[n]
    want = [ref_round_bits(from_fraction(Fraction(float(x))), n, es) for x in v]
    assert got.tolist() == want
    for x in (np.nan, np.inf, -np.inf):
        assert float64_to_posit(np.array([x]), n=n, es=es)[0] == 1 << (n - 1)


def test_round_trip_every_pattern():
    for n, es in [(8, 0), (8, 1), (8, 2), (16, 1), (16, 3)]:
        x = np.delete(np.arange(1 << n), 1 << (n - 1))
        assert np.array_equal(float64_to_posit(posit_to_float64(x, n=n, es=es), n=n, es=es), x)


# ---------------------------------------------------------------- products

@pytest.mark.parametrize("kind", ["posit_mul", "plam_mul"])
@pytest.mark.parametrize("es", [0, 1, 2])
def test_exhaustive_n8(kind, es):
    n = 8
    a, b = (v.ravel() for v in np.meshgrid(np.arange(256), np.arange(256)))
    got = GOLDEN[kind](a, b, n=n, es=es)
    assert got.dtype == np.uint8 and got.shape == (65536,)
    memo = {}

    def rounding(t, n, es):
        if t not in memo:
            memo[t] = ref_round_search(t, n, es)
        return memo[t][0]

    want = [ref_mul(x, y, n, es, kind, rounding) for x, y in zip(a.tolist(), b.tolist())]
    assert got.tolist() == want
    ties = sum(t for _, t in memo.values())
    assert ties > 50                                   # RNE ties were exercised


def random_operands(n, es, count, seed):
    """Uniform patterns, patterns near 1 (long fractions), every special class crossed."""
    rng = np.random.default_rng(seed)
    one = 1 << (n - 2)
    near = one + rng.integers(-(one >> 2), one >> 1, count) * rng.choice([1, -1], count) % (1 << n)
    a = np.where(rng.random(count) < 0.5, rng.integers(0, 1 << n, count), near % (1 << n))
    b = np.where(rng.random(count) < 0.5, rng.integers(0, 1 << n, count),
                 rng.integers(0, 1 << n, count))
    spec = special_values(n, es).astype(np.int64)
    sa, sb = (v.ravel() for v in np.meshgrid(spec, spec))
    return np.concatenate([a, sa]).astype(np.int64), np.concatenate([b, sb]).astype(np.int64)


WIDE = [(16, 1, 100_000), (32, 2, 100_000), (16, 0, 10_000), (16, 2, 10_000), (16, 4, 10_000),
        (32, 0, 10_000), (32, 4, 10_000), (24, 3, 10_000)]


@pytest.mark.parametrize("kind", ["posit_mul", "plam_mul"])
@pytest.mark.parametrize("n,es,count", WIDE)
def test_random_wide(kind, n, es, count):
    a, b = random_operands(n, es, count, seed=n * 10 + es + (kind == "plam_mul"))
    assert len(a) >= count
    got = GOLDEN[kind](a.astype(np.uint64), b.astype(np.uint64), n=n, es=es)
    want = [ref_mul(x, y, n, es, kind, ref_round_bits) for x, y in zip(a.tolist(), b.tolist())]
    assert got.tolist() == want


@pytest.mark.parametrize("n,es", [(16, 1), (32, 2), (32, 0), (12, 3)])
def test_bit_string_reference_agrees_with_search(n, es):
    """The fast reference is the search reference, on products and on their midpoints."""
    count = 400 if n > 16 else 3000                 # the search decodes ~n patterns per value
    a, b = (v[:count] for v in random_operands(n, es, count, seed=7))
    for kind in GOLDEN:
        for x, y in zip(a.tolist(), b.tolist()):
            p = ref_product(x, y, n, es, kind)
            if p is not None:
                assert ref_round_bits(p, n, es) == ref_round_search(p, n, es)[0]


def tie_operands(n, es):
    """a = 1 + j ulp near 1 (and its negation) times b = 1.5 (the exact product's last bit falls
    half an ulp below the kept ones) or b = 2^(2^es), 2^(-2 2^es) (one more regime bit than 1:
    the result keeps one fraction bit less, for PLAM too): RNE ties for odd j."""
    one = 1 << (n - 2)
    a = [one + j for j in range(1, 40)]
    b = [int(float64_to_posit(np.array([v]), n=n, es=es)[0])
         for v in (1.5, -1.5, 2.0 ** 2 ** es, -(2.0 ** 2 ** es), 2.0 ** (-2 * 2 ** es))]
    full = (1 << n) - 1
    a = a + [(-x) & full for x in a]
    aa, bb = np.meshgrid(a, b)
    return aa.ravel(), bb.ravel()


@pytest.mark.parametrize("kind", ["posit_mul", "plam_mul"])
@pytest.mark.parametrize("n,es", [(16, 1), (32, 2), (32, 0)])
def test_ties_round_to_even(kind, n, es):
    a, b = tie_operands(n, es)
    got = GOLDEN[kind](a.astype(np.uint64), b.astype(np.uint64), n=n, es=es).tolist()
    ties = 0
    for g, x, y in zip(got, a.tolist(), b.tolist()):
        want, tie = ref_round_search(ref_product(x, y, n, es, kind), n, es)
        assert g == want
        ties += tie
        if tie:
            assert g % 2 == 0
    assert ties >= 40


@pytest.mark.parametrize("kind", ["posit_mul", "plam_mul"])
@pytest.mark.parametrize("n,es", [(8, 0), (16, 1), (32, 2), (3, 0)])
def test_saturation_zero_nar(kind, n, es):
    mul = lambda x, y: int(GOLDEN[kind](np.array([x]), np.array([y]), n=n, es=es)[0])
    full, nar, maxpos, minpos = (1 << n) - 1, 1 << (n - 1), (1 << (n - 1)) - 1, 1
    one = 1 << (n - 2)
    assert mul(maxpos, maxpos) == maxpos and mul(minpos, minpos) == minpos
    assert mul(maxpos, (-maxpos) & full) == (-maxpos) & full
    assert mul((-minpos) & full, minpos) == (-minpos) & full
    assert mul(maxpos, minpos) == one                  # maxpos * minpos = 1 exactly
    for x in (0, one, maxpos, minpos, nar, full):
        assert mul(x, nar) == nar and mul(nar, x) == nar
        if x != nar:
            assert mul(x, 0) == 0 and mul(0, x) == 0
    assert mul(one, one) == one and mul((-one) & full, (-one) & full) == one


def test_special_classes_cover_the_named_values():
    c = special_classes(16, 1)
    assert set(c) == {"zero", "nar", "one", "minpos", "maxpos", "regime"}
    assert 0x4000 in c["one"] and 0xC000 in c["one"] and 0x7FFF in c["maxpos"] and 0x8001 in c["maxpos"]
    assert c["nar"].tolist() == [0x8000] and 0xFFFF in c["minpos"]
    # every regime run length appears, for both regime bits
    fields = [ref_fields(int(p), 16, 1) for p in c["regime"]]
    scales = {(e + m.bit_length() - 1) >> 1 for _, m, e in fields}
    assert scales == set(range(-14, 14))      # 14: maxpos, its own class


# ---------------------------------------------------------------- quire

def test_quire_width():
    assert [quire_width(n, 2) for n in (8, 16, 32)] == [128, 256, 512]     # the standard's 16n
    assert quire_width(8, 0) == 32 + 4 * 6 and quire_frac_bits(16, 1) == 56
    with pytest.raises(ParameterError, match="es must be in 0..1 for n=4"):
        quire_width(4, 2)


@pytest.mark.parametrize("n,es", [(8, 0), (8, 2), (16, 1), (32, 2)])
def test_quire_to_posit(n, es):
    rng = np.random.default_rng(n + es)
    qw, qf = quire_width(n, es), quire_frac_bits(n, es)
    qs = [0, 1, -1, 1 << qf, -(1 << qf), (1 << (qw - 1)) - 1, -(1 << (qw - 1)) + 1, 1 << (2 * qf),
          (1 << (2 * qf)) + 1, 3 << (qf - 1)]
    for _ in range(3000):
        bits = int(rng.integers(1, qw))
        q = int.from_bytes(rng.bytes(qw // 8 + 1), "little") % (1 << bits)
        qs.append(-q if rng.random() < 0.5 else q)
    got = quire_to_posit(np.array(qs, dtype=object), n=n, es=es, quire=qw)
    want = [ref_round_search((int(q < 0), abs(q), -qf) if q else 0, n, es)[0] for q in qs]
    assert got.tolist() == want
    assert quire_to_posit(np.array([-(1 << (qw - 1))], dtype=object), n=n, es=es,
                          quire=qw)[0] == 1 << (n - 1)


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize("n,es,match", [
    (2, 0, "n must be in 3..32, got 2"), (33, 1, "n must be in 3..32, got 33"),
    (8, 5, "es must be in 0..4, got 5"), (3, 1, "es must be in 0..0 for n=3"),
    (5, 3, "es must be in 0..2 for n=5"), (8, -1, "es must be in 0..4"),
])
def test_bad_parameters(n, es, match):
    with pytest.raises(ParameterError, match=match):
        posit_mul(np.array([1]), np.array([1]), n=n, es=es)


def test_bad_operands():
    with pytest.raises(ParameterError, match=r"a must hold posit<8> patterns in 0..0xff"):
        posit_mul(np.array([256]), np.array([1]), n=8, es=0)
    with pytest.raises(ParameterError, match="integer array"):
        plam_mul(np.array([1]), np.array([1.0]), n=8, es=0)


# ---------------------------------------------------------------- MACs (golden/mac.py)



def ref_mac(a, b, en, clr, rst, n, es, kind):
    """acc per cycle: an exact Fraction quire with a NaR flag, rounded by the search."""
    kind = {"posit_mac": "posit_mul", "plam_mac": "plam_mul"}[kind]
    quire, nar, out = Fraction(0), False, []
    for x, y, e, c, r in zip(a, b, en, clr, rst):
        if r:
            quire, nar = Fraction(0), False
        elif e:
            t = ref_product(x, y, n, es, kind)
            if c:
                quire, nar = Fraction(0), False
            if t is None:
                nar = True
            elif not nar:
                quire += to_fraction(t)
        if nar:
            out.append(1 << (n - 1))
        else:
            out.append(ref_round_search(from_fraction(quire), n, es)[0])
    return out


def mac_stream(n, es, cycles, seed):
    rng = np.random.default_rng(seed)
    spec = special_values(n, es)
    one = 1 << (n - 2)
    near = (one + rng.integers(-(one >> 1), one >> 1, cycles)) * rng.choice([1, -1], cycles)
    pick = rng.random(cycles)
    draw = lambda: np.where(pick < 0.7, near % (1 << n),
                            np.where(pick < 0.9, rng.integers(0, 1 << n, cycles),
                                     rng.choice(spec, cycles)))
    a, b = draw(), draw()
    pick = rng.random(cycles)
    b = np.where(pick < 0.7, near[::-1] % (1 << n), b)
    en = rng.random(cycles) < 0.85
    clr = rng.random(cycles) < 0.08
    rst = rng.random(cycles) < 0.01
    return a.astype(np.int64), b.astype(np.int64), en, clr, rst


@pytest.mark.parametrize("kind", ["posit_mac", "plam_mac"])
@pytest.mark.parametrize("n,es", [(8, 0), (8, 2), (16, 1), (32, 2)])
def test_mac_run_matches_exact_quire(kind, n, es):
    a, b, en, clr, rst = mac_stream(n, es, 3000, seed=n + es)
    got = mac_run(a, b, en, clr, rst, unit=kind, n=n, es=es)
    assert got.dtype == np.dtype(f"uint{max(8, 1 << (n - 1).bit_length())}")
    assert got.tolist() == ref_mac(a.tolist(), b.tolist(), en, clr, rst, n, es, kind)


@pytest.mark.parametrize("kind", ["posit_mac", "plam_mac"])
def test_dot_is_one_rounding_of_the_exact_sum(kind):
    n, es = 16, 1
    rng = np.random.default_rng(5)
    a, b = rng.integers(0x3000, 0x5000, (50, 64)), rng.integers(0x3000, 0x5000, (50, 64))
    b[::2] |= 0x8000                                  # mixed signs: cancellation
    b[::2] = (-(b[::2] & 0x7FFF)) & 0xFFFF
    got = dot(a, b, kind, n=n, es=es)
    mul = {"posit_mac": "posit_mul", "plam_mac": "plam_mul"}[kind]
    for g, x, y in zip(got.tolist(), a.tolist(), b.tolist()):
        total = sum(to_fraction(ref_product(p, q, n, es, mul)) for p, q in zip(x, y))
        assert g == ref_round_search(from_fraction(total), n, es)[0]


def test_quire_limits_and_nar():
    n, es = 8, 0
    maxpos, minpos, nar, neg = 0x7F, 0x01, 0x80, lambda v: (-v) & 0xFF
    # maxpos^2 five times (acc saturates), back down to 0 exactly; minpos^2 survives maxpos^2
    a = [maxpos] * 5 + [neg(maxpos)] * 5 + [minpos, maxpos, neg(maxpos), nar] + [0x40] * 5
    b = [maxpos] * 10 + [minpos, maxpos, maxpos] + [0x40] * 6
    clr = [0] * 17 + [1, 0]
    got = mac_run(np.array(a), np.array(b), 1, np.array(clr), 0, unit="posit_mac",
                  n=n, es=es).tolist()
    assert got[:5] == [maxpos] * 5 and got[9] == 0
    assert got[10:13] == [minpos, maxpos, minpos]      # 2^-12 kept exactly under +-2^12
    assert got[13:17] == [nar] * 4                     # NaR in, sticky
    assert got[17:] == [0x40, 0x60]                    # clr: 1, then 2
    spec = mac_spec("posit_mac", n=8, es=2)
    assert spec.quire == 128
    with pytest.raises(ParameterError, match="quire must be in 128..4096, got 64"):
        mac_spec("posit_mac", n=8, es=2, quire=64)


# ---------------------------------------------------------------- unrounded products as float64

def test_product_to_float64_is_the_unrounded_product():
    """exact_product / plam_product as float64 == the reference product, every n = 8 pair and
    random n = 16 pairs with the special classes; NaR -> NaN, zero -> 0."""
    cases = [(8, es, *(v.ravel() for v in np.meshgrid(np.arange(256), np.arange(256))))
             for es in (0, 1, 2)] + [(16, es, *random_operands(16, es, 10_000, seed=es))
                                     for es in (0, 1, 2)]
    for n, es, a, b in cases:
        for kind, product in (("posit_mul", exact_product), ("plam_mul", plam_product)):
            got = product_to_float64(product(a, b, n=n, es=es))
            want = [ref_product(x, y, n, es, kind) for x, y in zip(a.tolist(), b.tolist())]
            assert all(w[1].bit_length() <= 53 for w in want if w)   # exact as float64
            ref = [np.nan if w is None else 0.0 if w == 0 else
                   (-1) ** w[0] * math.ldexp(w[1], w[2]) for w in want]
            assert np.array_equal(got, np.array(ref), equal_nan=True)


def test_product_to_float64_refuses_inexact_products():
    x = (1 << 30) | ((1 << 29) - 1)        # posit<32, 0>: 2 - 2^-29 (29 fraction bits, all 1)
    with pytest.raises(ParameterError, match="more than 53 significant bits"):
        product_to_float64(exact_product(x, x, n=32, es=0))     # 4 - 2^-27 + 2^-58
    # PLAM adds the fractions: t = 2 - 2^-28 >= 1, so 2 t = 4 - 2^-27, exact at n = 32
    assert product_to_float64(plam_product(x, x, n=32, es=0)) == 4 - 2.0 ** -27
