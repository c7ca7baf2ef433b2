"""Generated Verilog of posit_mul and plam_mul on Icarus under cocotb, checked bit for bit
against golden/: exhaustive for n = 8 (es = 0, 1, 2), 10^5 seeded random pairs plus every
special class crossed (and RNE-tie and saturation operands) for n = 16 and 32."""

import numpy as np
import pytest

from golden.posit import float64_to_posit, plam_mul, posit_mul, special_values
from hdl.plam_mul import PlamMul
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


def directed(n, es):
    """Every special class crossed (0, NaR, +-1, +-minpos, +-maxpos and neighbours, every
    regime boundary), and RNE-tie operands: 1 + j ulp times 1.5, 2^(2^es), 2^(-2 2^es)."""
    spec = special_values(n, es).astype(np.int64)
    one, full = 1 << (n - 2), (1 << n) - 1
    js = range(1, min(64, one))
    near = np.array([one + j for j in js] + [(-(one + j)) & full for j in js])
    factors = float64_to_posit(np.array([1.5, -1.5, 2.0 ** 2 ** es, 2.0 ** (-2 * 2 ** es),
                                         -(2.0 ** 2 ** es)]), n=n, es=es).astype(np.int64)
    pairs = [np.meshgrid(spec, spec), np.meshgrid(near, factors)]
    return (np.concatenate([p[0].ravel() for p in pairs]),
            np.concatenate([p[1].ravel() for p in pairs]))


@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es", [(16, 1), (32, 2)])
def test_random_and_specials_wide(kind, n, es):
    rng = np.random.default_rng(n * 10 + es)
    da, db = directed(n, es)
    a = np.concatenate([rng.integers(0, 1 << n, 100_000), da])
    b = np.concatenate([rng.integers(0, 1 << n, 100_000), db])
    assert check(kind, n, es, a, b) == len(a) >= 100_000 + 4000


@pytest.mark.slow
@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es", [(16, 0), (16, 2), (32, 0), (32, 4), (12, 3), (3, 0)])
def test_random_and_specials_more_configs(kind, n, es):
    rng = np.random.default_rng(n * 10 + es)
    da, db = directed(n, es)
    a = np.concatenate([rng.integers(0, 1 << n, 20_000), da])
    b = np.concatenate([rng.integers(0, 1 << n, 20_000), db])
    assert check(kind, n, es, a, b) == len(a)


def test_bench_reports_a_wrong_golden_value():
    a, b = np.arange(200), np.arange(200)[::-1].copy()
    want = posit_mul(a, b, n=8, es=1)
    want[77] ^= 1
    with pytest.raises(CosimFailure, match="vector 77"):
        run_cosim(PositMul(n=8, es=1), "combinational", inputs={"a": a, "b": b},
                  expected={"p": want}, tag="_negative", extra_env=FAST)
