"""Generated Verilog of int_mul, mitch_bf16_mul and the four MACs on Icarus under cocotb,
checked bit for bit against golden/ (combinational bench for the multipliers, the clocked
sequential bench for the MACs)."""

import itertools

import numpy as np
import pytest

from golden.floats import special_bf16_values
from golden.int_mul import int_mul
from golden.mac import mac_run
from golden.mitch_bf16_mul import mitch_bf16_mul
from hdl.int_mul import IntMul
from hdl.mac import Bf16Mac, IntMac, MitchBf16Mac, MitchMac
from hdl.mitch_bf16_mul import MitchBf16Mul
from sim.runner import CosimFailure, run_cosim

pytestmark = pytest.mark.cosim

# Icarus applies cocotb's writes directly (no ReadWrite callback per time step): ~40 % less CPU.
# Every bench here writes inputs away from the clock's rising edge, so the result is the same;
# the negative tests at the end run in this mode too.
FAST = {"COCOTB_TRUST_INERTIAL_WRITES": "1"}

ONE, TWO = 0x3F80, 0x4000                       # bf16 1.0 and 2.0
BF16_MAX = 0x7F7F


def bf16(sign, exp, frac):
    return (sign << 15) | (exp << 7) | frac


# ---------------------------------------------------------------- int_mul

def int_corners(n, signed):
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    vals = {lo, lo + 1, hi, hi - 1, 0, 1, 2, 3} | {2 ** i for i in range(n - (signed != "none"))}
    if signed != "none":
        vals |= {-1, -2, -3} | {-(2 ** i) for i in range(n - 1)}
    vals = np.array(sorted(vals))
    a, b = np.meshgrid(vals, vals)
    return a.ravel(), b.ravel()


@pytest.mark.parametrize("n,signed,count", [(8, "exact", None), (16, "none", 100_000),
                                            (32, "exact", 20_000)])
def test_int_mul(n, signed, count):
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    if count is None:                               # exhaustive
        a, b = (x.ravel() for x in np.meshgrid(np.arange(lo, hi + 1), np.arange(lo, hi + 1)))
    else:
        rng = np.random.default_rng(n)
        ca, cb = int_corners(n, signed)
        a = np.concatenate([rng.integers(lo, hi, count, endpoint=True), ca])
        b = np.concatenate([rng.integers(lo, hi, count, endpoint=True), cb])
    unit = IntMul(n=n, signed=signed)
    want = int_mul(a, b, n=n, signed=signed)
    assert run_cosim(unit, "combinational", inputs={"a": a, "b": b}, expected={"p": want}, extra_env=FAST) == len(a)


# ---------------------------------------------------------------- mitch_bf16_mul

def significand_pairs(exp_pairs, rng):
    """All 128 x 128 fraction pairs for each (exponent a, exponent b), random signs: every
    carry / no-carry case of the Mitch-w fraction sum at every exponent given."""
    fa, fb = (x.ravel() for x in np.meshgrid(np.arange(128), np.arange(128)))
    a = np.concatenate([ea << 7 | fa for ea, _ in exp_pairs])
    b = np.concatenate([eb << 7 | fb for _, eb in exp_pairs])
    return (a | rng.integers(0, 2, len(a)) << 15).astype(np.uint16), \
           (b | rng.integers(0, 2, len(b)) << 15).astype(np.uint16)


def crossed_specials():
    """Every special class crossed with every other: zeros, subnormals, min normal, 1.0, max,
    Inf, NaNs (both signs), plus 2.0 and 0.5 for overflow / underflow by one binade."""
    values = np.concatenate([special_bf16_values(),
                             np.array([TWO, 0x3F00, 0xC000, 0xBF00], dtype=np.uint16)])
    a, b = np.meshgrid(values, values)
    return a.ravel(), b.ravel()


def random_bf16(rng, count):
    """Half uniformly random patterns, half products that stay near the normal range."""
    wild = rng.integers(0, 1 << 16, count)
    tame = bf16(rng.integers(0, 2, count), rng.integers(64, 191, count), rng.integers(0, 128, count))
    return np.where(rng.random(count) < 0.5, wild, tame).astype(np.uint16)


# exponent pairs: |p| near 1; 1 + 126 and 254 + 127 put the underflow / overflow boundary
# exactly on the Mitch-w carry; 1 + 1 and 254 + 254 are far beyond it
BOUNDARY_EXPS = [(127, 127), (1, 126), (254, 127), (126, 1), (130, 100)]
ALL_CONFIGS = [(w, v) for w in range(2, 9) for v in ("trunc", "unbiased")]


def test_mitch_bf16_mul_w4_trunc_full():
    """All significand pairs at five exponent pairs, all special classes crossed, and 10^5
    seeded random operand pairs."""
    rng = np.random.default_rng(4)
    parts = [significand_pairs(BOUNDARY_EXPS, rng), crossed_specials(),
             (random_bf16(rng, 100_000), random_bf16(rng, 100_000))]
    a, b = (np.concatenate(x) for x in zip(*parts))
    want = mitch_bf16_mul(a, b, w=4, variant="trunc")
    assert run_cosim(MitchBf16Mul(w=4), "combinational", inputs={"a": a, "b": b},
                     expected={"p": want}, extra_env=FAST) == len(a) == 5 * 128 ** 2 + 38 ** 2 + 100_000


@pytest.mark.parametrize("w,variant", [c for c in ALL_CONFIGS if c != (4, "trunc")])
def test_mitch_bf16_mul_every_w(w, variant):
    """All significand pairs at one exponent pair (rotating through the boundary cases) with
    random signs, plus all special classes crossed."""
    rng = np.random.default_rng(w * 2 + (variant == "unbiased"))
    exp_pair = BOUNDARY_EXPS[ALL_CONFIGS.index((w, variant)) % len(BOUNDARY_EXPS)]
    parts = [significand_pairs([exp_pair], rng), crossed_specials()]
    a, b = (np.concatenate(x) for x in zip(*parts))
    want = mitch_bf16_mul(a, b, w=w, variant=variant)
    assert run_cosim(MitchBf16Mul(w=w, variant=variant), "combinational",
                     inputs={"a": a, "b": b}, expected={"p": want}, extra_env=FAST) == len(a)


# ---------------------------------------------------------------- MACs

def control(rng, cycles, streams):
    """en / clr / rst per (cycle, stream): each stream starts with a reset (so streams can be
    played back to back), dot products of random length K restart with clr, en drops with a
    per-stream probability (0 to 50 %), and a reset strikes mid-stream now and then."""
    en = rng.random((cycles, streams)) >= rng.choice([0.0, 0.1, 0.5], streams)
    clr = rng.random((cycles, streams)) < 1 / rng.integers(2, 40, streams)
    rst = rng.random((cycles, streams)) < 0.003
    rst[0] = True
    return en, clr, rst


def play(unit_cls, unit, params, a, b, en, clr, rst, tag=""):
    """Golden acc per cycle for (cycle, stream) arrays, then all streams back to back through
    the Verilog. Returns the number of cycles checked."""
    want = mac_run(a, b, en, clr, rst, unit=unit, **params)
    serial = {k: np.asarray(v).T.ravel() for k, v in
              {"a": a, "b": b, "en": en, "clr": clr, "rst": rst, "acc": want}.items()}
    acc = serial.pop("acc")
    return run_cosim(unit_cls(**params), "sequential", inputs=serial, expected={"acc": acc}, tag=tag,
                     extra_env=FAST)


def float_draw(rng, shape):
    """Mostly normals within a few binades of 1 (sums that mean something, cancellation and
    rounding), some anywhere, some special-class values."""
    tame = bf16(rng.integers(0, 2, shape), rng.integers(118, 137, shape), rng.integers(0, 128, shape))
    wild = rng.integers(0, 1 << 16, shape)
    special = rng.choice(special_bf16_values(), shape)
    pick = rng.random(shape)
    return np.where(pick < 0.9, tame, np.where(pick < 0.97, wild, special)).astype(np.uint16)


def float_directed():
    """Directed cycles, each case starting with clr: specials crossed as products (a x b) and as
    accumulator + product (x * 1.0 then + y * 1.0), exact cancellation to +0, RNE ties (half an
    ulp of 1.f, with an even and an odd last bit), overflow to Inf in the multiplier and in
    the adder, underflow to zero (FTZ) in the multiplier and in the adder."""
    cases = []
    values = np.concatenate([special_bf16_values(), np.array([TWO, 0xC000], np.uint16)]).tolist()
    for x, y in itertools.product(values, values):
        cases.append([(x, y)])                                  # product classes crossed
        cases.append([(x, ONE), (y, ONE)])                       # acc class + product class
    p12, p11 = bf16(0, 127 - 12, 0), bf16(0, 127 - 11, 0)      # 2^-12, 2^-11
    for frac in (0, 1, 0x40, 0x7F):
        for s in (0, 1):
            x = bf16(s, 127, frac)
            cases.append([(x, ONE), (p12 | s << 15, p12)])          # tie, lsb 0: stays
            cases.append([(x, ONE), (p12 | s << 15, p11), (p12 | s << 15, p12)])  # tie, lsb 1: up
            cases.append([(x, ONE), (p12 | s << 15, p12 | 0x40)])   # above the tie: up
            cases.append([(x, TWO), (x ^ 0x8000, TWO)])             # exact cancellation
            cases.append([(x, ONE), (bf16(s ^ 1, 127, max(frac - 1, 0)), ONE)])  # near-cancellation
    cases += [[(BF16_MAX, TWO)], [(BF16_MAX, ONE), (BF16_MAX, ONE)],          # overflow
              [(BF16_MAX | 0x8000, ONE), (BF16_MAX, 0xBF80)],
              [(bf16(0, 60, 5), bf16(0, 60, 7))],                              # product FTZ
              [(bf16(0, 1, 0x40), ONE), (bf16(1, 1, 0), ONE)],                 # sum FTZ
              [(bf16(1, 1, 0x40), ONE), (bf16(0, 1, 0x7F), ONE)]]
    rows = [(x, y, 1, i == 0, 0) for case in cases for i, (x, y) in enumerate(case)]
    a, b, en, clr, rst = (np.array(c) for c in zip(*rows))
    return a.astype(np.uint16), b.astype(np.uint16), en.astype(bool), clr.astype(bool), rst.astype(bool)


@pytest.mark.parametrize("cls,unit,params,streams", [
    (Bf16Mac, "bf16_mac", {}, 100),
    (MitchBf16Mac, "mitch_bf16_mac", {"w": 4, "variant": "trunc"}, 100),
    (MitchBf16Mac, "mitch_bf16_mac", {"w": 2, "variant": "unbiased"}, 20),
    (MitchBf16Mac, "mitch_bf16_mac", {"w": 8, "variant": "trunc"}, 20),
    pytest.param(Bf16Mac, "bf16_mac", {"pipeline": 1}, 20, marks=pytest.mark.slow),
])
def test_float_mac(cls, unit, params, streams):
    """streams x 1000 random cycles (10^5 for the two main configurations) played back to back,
    then the directed special-class cycles."""
    rng = np.random.default_rng(streams + params.get("w", 0))
    a, b = float_draw(rng, (1000, streams)), float_draw(rng, (1000, streams))
    checked = play(cls, unit, params, a, b, *control(rng, 1000, streams))
    da, db, den, dclr, drst = float_directed()
    directed = play(cls, unit, params, da[:, None], db[:, None], den[:, None], dclr[:, None],
                    drst[:, None], tag="_directed")
    assert (checked, directed) == (1000 * streams, len(da))


def int_draw(rng, shape, n, signed):
    """Uniform operands with a share of extremes (min, max, 0, +-1) that drive wrap-around."""
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    extremes = rng.choice(np.array([lo, hi, 0, 1, hi if signed == "none" else -1]), shape)
    return np.where(rng.random(shape) < 0.8, rng.integers(lo, hi, shape, endpoint=True), extremes)


@pytest.mark.parametrize("cls,unit,params,streams", [
    (IntMac, "int_mac", {"n": 8}, 100),
    (IntMac, "int_mac", {"n": 16, "acc_width": 33}, 20),
    (MitchMac, "mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1",
                             "acc_width": 24}, 20),
    (MitchMac, "mitch_mac", {"n": 8, "w": 3, "variant": "trunc", "signed": "exact"}, 100),
    (MitchMac, "mitch_mac", {"n": 16, "w": 6, "variant": "unbiased", "signed": "c1"}, 20),
    (MitchMac, "mitch_mac", {"n": 8, "w": 8, "variant": "unbiased", "signed": "none",
                             "acc_width": 16}, 20),
    (MitchMac, "mitch_mac", {"n": 32, "w": 6, "variant": "trunc", "signed": "exact"}, 10),
    (IntMac, "int_mac", {"n": 16, "pipeline": 1}, 20),
    pytest.param(MitchMac, "mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1",
                                         "pipeline": 1}, 20, marks=pytest.mark.slow),
])
def test_integer_mac(cls, unit, params, streams):
    """streams x 1000 random cycles (10^5 for the two main configurations) back to back; the
    small accumulators wrap around many times."""
    n, signed = params["n"], params.get("signed", "exact")
    rng = np.random.default_rng(streams + n)
    a, b = int_draw(rng, (1000, streams), n, signed), int_draw(rng, (1000, streams), n, signed)
    assert play(cls, unit, params, a, b, *control(rng, 1000, streams)) == 1000 * streams


@pytest.mark.parametrize("cls,unit,params", [
    (MitchMac, "mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"}),
    pytest.param(IntMac, "int_mac", {"n": 16, "pipeline": 1}, marks=pytest.mark.slow),
    (Bf16Mac, "bf16_mac", {}),
    pytest.param(MitchBf16Mac, "mitch_bf16_mac", {"w": 6, "variant": "trunc", "pipeline": 1},
                 marks=pytest.mark.slow),
])
def test_zero_gated_mac(cls, unit, params):
    """gate_zero=True gives the golden (ungated) results: 20 x 1000 cycles with 40 % zero-class
    operands (0 and -1 for integers, +-0 and subnormals for bf16) among the usual draws."""
    rng = np.random.default_rng(31)
    shape = (1000, 20)
    if unit.endswith("bf16_mac"):
        draw = lambda: float_draw(rng, shape)                                    # noqa: E731
        zeros = np.array([0x0000, 0x8000, 0x0001, 0x807F], np.uint16)
    else:
        signed = params.get("signed", "exact")
        draw = lambda: int_draw(rng, shape, params["n"], signed)                 # noqa: E731
        zeros = np.array([0, 0, -1])
    a, b = (np.where(rng.random(shape) < 0.4, rng.choice(zeros, shape), draw()) for _ in range(2))
    # The golden model of the gated MAC: the ungated arithmetic with one more register stage.
    golden = {**params, "pipeline": params.get("pipeline", 0) + 1}
    gated = lambda pipeline, **p: cls(gate_zero=True, pipeline=pipeline - 1, **p)  # noqa: E731
    assert play(gated, unit, golden, a, b, *control(rng, *shape), tag="_zg") == 20_000


def test_sequential_bench_reports_a_wrong_golden_value():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, 300), rng.integers(-128, 128, 300)
    en, clr, rst = np.ones(300, bool), np.zeros(300, bool), np.zeros(300, bool)
    want = mac_run(a, b, en, clr, rst, unit="int_mac", n=8)
    want[123] += 1
    with pytest.raises(CosimFailure, match="vector 123"):
        run_cosim(IntMac(n=8), "sequential", inputs={"a": a, "b": b, "en": en, "clr": clr, "rst": rst},
                  expected={"acc": want}, tag="_negative", extra_env=FAST)
    # one cycle late is as wrong as a wrong value: the bench checks the latency
    want = mac_run(a, b, en, clr, rst, unit="int_mac", n=8)
    with pytest.raises(CosimFailure, match="vector 0:"):
        run_cosim(IntMac(n=8), "sequential", inputs={"a": a, "b": b, "en": en, "clr": clr, "rst": rst},
                  expected={"acc": np.concatenate([[0], want[:-1]])}, tag="_late", extra_env=FAST)
