"""Generated Verilog of bf16_mul and fp32_add on Icarus under cocotb, bit for bit against golden.

Per unit: 10^5 seeded random vectors plus every special class crossed with every other (±0,
±subnormal, ±min normal, ±1, ±max, ±Inf, NaNs with four payloads) and targeted streams:
exponent overflow / underflow boundaries (bf16_mul); cancellation to 0 and near-cancellation,
exact RNE ties of both parities, add and rounding carries, overflow and FTZ results (fp32_add).
"""

import numpy as np
import pytest

from golden.bf16_mul import bf16_mul
from golden.floats import FP32, special_bf16_values, special_fp32_values
from golden.fp32_add import fp32_add
from hdl.bf16_mul import Bf16Mul
from hdl.fp32_add import Fp32Add
from sim.runner import run_cosim

pytestmark = pytest.mark.cosim

RANDOM = 100_000


def crossed(values):
    a, b = np.meshgrid(values, values)
    return a.ravel(), b.ravel()


def random_bits(rng, bits, count):
    return rng.integers(0, 1 << bits, count, dtype=np.uint64)


def bf16_boundary_pairs(rng):
    """Exponent pairs whose product lands at the edges: e = ea + eb - 127 + n in -1..1, 254..256,
    for n = 0 (small fractions) and n = 1 (large fractions), both signs."""
    target = rng.choice([-1, 0, 1, 2, 253, 254, 255, 256], 4000)
    lo, hi = np.clip(target + 127 - 254, 1, 254), np.clip(target + 126, 1, 254)
    ea = lo + (rng.random(4000) * (hi - lo + 1)).astype(np.int64)   # so that eb is normal too
    eb = target + 127 - ea
    fa, fb = random_bits(rng, 7, 4000), random_bits(rng, 7, 4000)
    big = rng.integers(0, 2, 4000).astype(bool)                 # both fractions >= 0x60: n = 1
    fa, fb = np.where(big, fa | 0x60, fa & 0x1F), np.where(big, fb | 0x60, fb & 0x1F)
    sa, sb = random_bits(rng, 1, 4000), random_bits(rng, 1, 4000)
    a = (sa << 15) | (ea.astype(np.uint64) << 7) | fa
    b = (sb << 15) | (eb.astype(np.uint64) << 7) | fb
    return a, b


def test_bf16_mul_cosim():
    rng = np.random.default_rng(3001)
    ra, rb = random_bits(rng, 16, RANDOM), random_bits(rng, 16, RANDOM)
    sa, sb = crossed(special_bf16_values())
    ba, bb = bf16_boundary_pairs(rng)
    a = np.concatenate([ra, sa, ba]).astype(np.uint16)
    b = np.concatenate([rb, sb, bb]).astype(np.uint16)
    p = bf16_mul(a, b)
    # the edges were reached: overflow from finite operands and FTZ of normal products
    assert FP32.is_inf(p[-4000:]).sum() > 500 and FP32.is_zero(p[-4000:]).sum() > 500
    checked = run_cosim(Bf16Mul(), "combinational", inputs={"a": a, "b": b}, expected={"p": p})
    assert checked == len(a) == RANDOM + 34 * 34 + 4000


def fp32_random_pairs(rng, count):
    """Uniform patterns; half the y get an exponent within 30 of x's, so alignment and
    cancellation paths are taken as often as the far-apart ones."""
    x, y = random_bits(rng, 32, count), random_bits(rng, 32, count)
    ex = (x[::2] >> 23) & 0xFF
    ey = np.clip(ex.astype(np.int64) + rng.integers(-30, 31, ex.size), 0, 255).astype(np.uint64)
    y[::2] = (y[::2] & 0x807FFFFF) | (ey << 23)
    return x, y


def normals(rng, count, lo=1, hi=254):
    """Random normal fp32 patterns (int64) with exponents in lo..hi, random sign."""
    e = rng.integers(lo, hi, count, endpoint=True)
    return (rng.integers(0, 2, count) << 31) | (e << 23) | rng.integers(0, 1 << 23, count)


def fp32_targeted_pairs(rng):
    """Cancellation, RNE ties, carries, overflow and FTZ results: 7 streams of 2000 pairs."""
    n, sign, frac = 2000, 1 << 31, 0x7FFFFF
    x = normals(rng, n, 26, 254)
    e = (x >> 23) & 0xFF
    pairs = {
        "cancel": (x, x ^ sign),                                   # exact cancellation: +0
        "near_cancel": (x, (x + rng.integers(-3, 4, n)) ^ sign),   # long leading-zero shifts
        # y is exactly half an ulp of x (d = 24): a tie on either parity of x's lsb; with
        # opposite signs the tie is on the subtraction side
        "tie": (x, (x & sign) | ((e - 24) << 23)),
        "tie_sub": (x & ~1 | rng.integers(0, 2, n), (~x & sign) | ((e - 24) << 23)),
        # same exponent and sign: carry out of the significand adder
        "add_carry": (x, (x & ~frac) | rng.integers(0, 1 << 23, n)),
        # all-ones fraction plus ~1, ~1/2 or ~1/4 ulp: carry out of the rounding increment
        "round_carry": (x | frac, (x & sign) | ((e - rng.integers(23, 26, n)) << 23)
                        | rng.integers(0, 4, n)),
    }
    # overflow near the top (same signs), FTZ near the bottom (nearly opposite small normals)
    top, bottom = normals(rng, n // 2, 253, 254), normals(rng, n // 2, 1, 3)
    pairs["edges"] = (np.concatenate([top, bottom]),
                      np.concatenate([(normals(rng, n // 2, 253, 254) & ~sign) | (top & sign),
                                      (bottom ^ sign) + rng.integers(-50, 51, n // 2)]))
    return {k: (u.astype(np.uint32), v.astype(np.uint32)) for k, (u, v) in pairs.items()}


def test_fp32_add_cosim():
    rng = np.random.default_rng(3002)
    rx, ry = fp32_random_pairs(rng, RANDOM)
    sx, sy = crossed(special_fp32_values())
    streams = fp32_targeted_pairs(rng)
    # the targeted streams do what they are named for
    sums = {k: fp32_add(u, v) for k, (u, v) in streams.items()}
    assert (sums["cancel"] == 0).all()
    tx, tsum = streams["tie"][0], sums["tie"]
    assert np.array_equal(tsum, tx + (tx & 1))                     # ties to even, both parities
    assert 500 < (tx & 1).sum() < 1500
    ux, usum = streams["tie_sub"][0], sums["tie_sub"]
    inside = (ux & 0x7FFFFF) != 0                        # so the difference stays in the binade
    assert np.array_equal(usum[inside], (ux - (ux & 1))[inside])
    exp_in, exp_out = FP32.fields(streams["round_carry"][0])[1], FP32.fields(sums["round_carry"])[1]
    assert (exp_out > exp_in).sum() > 500
    assert FP32.is_inf(sums["edges"]).sum() > 200 and FP32.is_zero(sums["edges"]).sum() > 100
    x = np.concatenate([rx.astype(np.uint32), sx] + [u for u, _ in streams.values()])
    y = np.concatenate([ry.astype(np.uint32), sy] + [v for _, v in streams.values()])
    s = fp32_add(x, y)
    checked = run_cosim(Fp32Add(), "combinational", inputs={"x": x, "y": y}, expected={"s": s})
    assert checked == len(x) == RANDOM + 34 * 34 + 7 * 2000
