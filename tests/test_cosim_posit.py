"""Generated Verilog of posit_mul and plam_mul on Icarus under cocotb, checked bit for bit
against golden/: exhaustive for n = 8 (es = 0, 1, 2), 10^5 seeded random pairs plus every
special class crossed (and RNE-tie and saturation operands) for n = 16 and 32."""

import numpy as np
import pytest

from golden.mac import mac_run
from golden.posit import (float64_to_posit, plam_mul, posit_mul, special_classes,
                          special_values)
from hdl.plam_mul import PlamMul
from hdl.posit_mac import PlamMac, PositMac
from hdl.posit_mul import PositMul
from sim.runner import CosimFailure, run_cosim

pytestmark = pytest.mark.cosim

# Icarus applies cocotb's writes directly (see test_cosim_mac.py): the combinational bench
# writes, waits 1 ns, reads, so nothing races.
FAST = {"COCOTB_TRUST_INERTIAL_WRITES": "1"}
UNITS = {"posit_mul": (PositMul, posit_mul), "plam_mul": (PlamMul, plam_mul)}


def check(kind, n, es, a, b, tag=""):
    cls, golden = UNITS[kind]
    want = golden(a, b, n=n, es=es)
    return run_cosim(cls(n=n, es=es), "combinational", inputs={"a": a, "b": b},
                     expected={"p": want}, tag=tag, extra_env=FAST)


@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("es", [0, 1, 2])
def test_exhaustive_n8(kind, es):
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256)))
    assert check(kind, 8, es, a.astype(np.uint8), b.astype(np.uint8)) == 65536


def directed(n, es, full_cross=True):
    """Special classes crossed (0, NaR, +-1, +-minpos, +-maxpos and neighbours, every regime
    boundary; with ``full_cross=False`` the regime boundaries meet only the other classes and
    themselves pairwise), and RNE-tie operands: 1 + j ulp times 1.5, 2^(2^es), 2^(-2 2^es)."""
    classes = special_classes(n, es)
    spec = special_values(n, es).astype(np.int64)
    if full_cross:
        pairs = [np.meshgrid(spec, spec)]
    else:
        regime = classes["regime"].astype(np.int64)
        others = np.concatenate([v for k, v in classes.items() if k != "regime"]).astype(np.int64)
        pairs = [np.meshgrid(spec, others), np.meshgrid(others, regime),
                 (regime, regime), (regime, regime[::-1])]
    one, full = 1 << (n - 2), (1 << n) - 1
    js = range(1, min(64, one))
    near = np.array([one + j for j in js] + [(-(one + j)) & full for j in js])
    factors = float64_to_posit(np.array([1.5, -1.5, 2.0 ** 2 ** es, 2.0 ** (-2 * 2 ** es),
                                         -(2.0 ** 2 ** es)]), n=n, es=es).astype(np.int64)
    pairs.append(np.meshgrid(near, factors))
    return (np.concatenate([np.ravel(p[0]) for p in pairs]),
            np.concatenate([np.ravel(p[1]) for p in pairs]))


def random_and_directed(n, es, count, full_cross=True):
    rng = np.random.default_rng(n * 10 + es)
    da, db = directed(n, es, full_cross)
    return (np.concatenate([rng.integers(0, 1 << n, count), da]),
            np.concatenate([rng.integers(0, 1 << n, count), db]))


@pytest.mark.parametrize("kind", UNITS)
def test_random_and_specials_n16(kind):
    """10^5 random pairs and every special class crossed with every other."""
    a, b = random_and_directed(16, 1, 100_000)
    assert check(kind, 16, 1, a, b) == len(a) >= 100_000 + 10_000


@pytest.mark.parametrize("kind", UNITS)
def test_random_and_specials_n32_quick(kind):
    """n = 32 costs Icarus ~10x more per vector than n = 16: 10^4 random pairs and the special
    classes crossed, regime boundaries against the other classes (the slow test does 10^5 and
    the full cross)."""
    a, b = random_and_directed(32, 2, 10_000, full_cross=False)
    assert check(kind, 32, 2, a, b) == len(a) >= 10_000 + 5_000


@pytest.mark.slow
@pytest.mark.parametrize("kind", UNITS)
def test_random_and_specials_n32(kind):
    """10^5 random pairs and every special class crossed with every other."""
    a, b = random_and_directed(32, 2, 100_000)
    assert check(kind, 32, 2, a, b) == len(a) >= 100_000 + 50_000


@pytest.mark.slow
@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es", [(16, 0), (16, 2), (32, 0), (32, 4), (12, 3), (3, 0)])
def test_random_and_specials_more_configs(kind, n, es):
    a, b = random_and_directed(n, es, 20_000)
    assert check(kind, n, es, a, b) == len(a)


def test_bench_reports_a_wrong_golden_value():
    a, b = np.arange(200), np.arange(200)[::-1].copy()
    want = posit_mul(a, b, n=8, es=1)
    want[77] ^= 1
    with pytest.raises(CosimFailure, match="vector 77"):
        run_cosim(PositMul(n=8, es=1), "combinational", inputs={"a": a, "b": b},
                  expected={"p": want}, tag="_negative", extra_env=FAST)


# ---------------------------------------------------------------- MACs (sequential bench)


MACS = {"posit_mac": PositMac, "plam_mac": PlamMac}


def mac_draw(rng, shape, n, es):
    """Mostly values near +-1 (sums that mean something: cancellation, RNE of the quire), some
    uniform patterns, 2 % special values (NaR among them: sticky until clr / rst)."""
    one = 1 << (n - 2)
    near = (one + rng.integers(-(one >> 1), one >> 1, shape)) * rng.choice([1, -1], shape)
    pick = rng.random(shape)
    return np.where(pick < 0.8, near % (1 << n),
                    np.where(pick < 0.98, rng.integers(0, 1 << n, shape),
                             rng.choice(special_values(n, es), shape))).astype(np.int64)


def mac_control(rng, cycles, streams):
    """As test_cosim_mac.control: a reset first, clr every ~2..40 cycles, en drops, rare resets."""
    en = rng.random((cycles, streams)) >= rng.choice([0.0, 0.1, 0.5], streams)
    clr = rng.random((cycles, streams)) < 1 / rng.integers(2, 40, streams)
    rst = rng.random((cycles, streams)) < 0.003
    rst[0] = True
    return en, clr, rst


def quire_limits(n, es):
    """Directed cycles (one stream), each case starting with clr: maxpos^2 accumulated 40 times
    and taken off again (acc saturates, the quire returns to exactly 0), minpos^2 (the quire's
    ulp) kept under +-maxpos^2, -maxpos^2 accumulated, NaR in a, in b, sticky through later
    products, cleared by clr, NaR with clr, en = 0 with NaR inputs, and a reset."""
    full, nar = (1 << n) - 1, 1 << (n - 1)
    maxpos, minpos, one = nar - 1, 1, 1 << (n - 2)
    neg = lambda v: (-v) & full
    cases = [
        [(maxpos, maxpos)] * 40 + [(neg(maxpos), maxpos)] * 40 + [(one, one)],
        [(minpos, minpos), (maxpos, maxpos), (maxpos, neg(maxpos)), (minpos, neg(minpos)),
         (minpos, minpos), (minpos, minpos)],
        [(neg(maxpos), maxpos)] * 30 + [(one, one)],
        [(one, one), (minpos, minpos), (neg(one), one)],
        [(one, one), (nar, one), (one, one), (one, nar), (maxpos, maxpos)],
        [(nar, nar)], [(0, nar)], [(one, 0), (0, one)],
    ]
    rows = [(x, y, 1, i == 0, 0) for case in cases for i, (x, y) in enumerate(case)]
    rows += [(one, one, 1, 1, 0), (nar, one, 0, 0, 0), (nar, nar, 0, 1, 0), (one, one, 1, 0, 0),
             (nar, one, 1, 0, 0), (one, one, 1, 0, 1), (one, one, 1, 0, 0)]
    a, b, en, clr, rst = (np.array(c) for c in zip(*rows))
    return a, b, en.astype(bool), clr.astype(bool), rst.astype(bool)


def play_mac(kind, n, es, segments, tag=""):
    """Golden acc per (cycle, stream) of each segment's (a, b, en, clr, rst) arrays of shape
    (cycles, streams), every stream from a fresh quire; then all streams back to back through
    one simulation (the Verilog export of a wide quire takes longer than the simulation). Each
    stream's first cycle has rst, or en and clr, so it does not depend on the one before."""
    serial = {k: [] for k in ("a", "b", "en", "clr", "rst", "acc")}
    for a, b, en, clr, rst in segments:
        assert (rst[0] | (en[0] & clr[0])).all()
        want = mac_run(a, b, en, clr, rst, unit=kind, n=n, es=es)
        for k, v in zip(serial, (a, b, en, clr, rst, want)):
            serial[k].append(np.asarray(v).T.ravel())
    serial = {k: np.concatenate(v) for k, v in serial.items()}
    acc = serial.pop("acc")
    return run_cosim(MACS[kind](n=n, es=es), "sequential", inputs=serial,
                     expected={"acc": acc}, tag=tag, extra_env=FAST)


@pytest.mark.parametrize("kind", MACS)
@pytest.mark.parametrize("n,es,streams", [
    (16, 1, 10), (8, 0, 20),
    # <32, 2>: the 512-bit quire's Verilog export alone takes ~95 s: slow runs only
    pytest.param(32, 2, 1, marks=pytest.mark.slow),
    pytest.param(16, 1, 100, marks=pytest.mark.slow), pytest.param(8, 2, 20, marks=pytest.mark.slow),
    pytest.param(32, 2, 20, marks=pytest.mark.slow)])
def test_mac(kind, n, es, streams):
    """streams x 1000 random cycles (<16, 1>: 10^4 in the default run, 10^5 in the slow one;
    <32, 2>, ~20x slower per cycle on Icarus: 1 000 and 2 x 10^4, both with the slow tests), then the directed
    quire-limit and NaR cycles; the limits hold: no stream's quire goes anywhere near
    wrapping."""
    rng = np.random.default_rng(streams + n + es)
    a, b = mac_draw(rng, (1000, streams), n, es), mac_draw(rng, (1000, streams), n, es)
    limits = [v[:, None] for v in quire_limits(n, es)]
    # Own build folders per length: the default and slow runs of one unit may run side by side.
    checked = play_mac(kind, n, es, [(a, b, *mac_control(rng, 1000, streams)), limits],
                       tag=f"_s{streams}")
    assert checked == 1000 * streams + len(limits[0])
