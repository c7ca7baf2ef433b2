"""Generated Verilog of mitch_mul on Icarus under cocotb, checked bit for bit against golden."""

import itertools

import numpy as np
import pytest

from golden.mitchell import mitch_mul, operand_range
from hdl.mitchell import MitchMul
from sim.runner import CosimFailure, run_cosim

pytestmark = pytest.mark.cosim

CONFIGS = list(itertools.product(("trunc", "unbiased"), ("none", "exact", "c1")))


def corner_operands(n, w, signed):
    """0, +-1, max, min, powers of two, all-ones, and operands on the carry boundary s = 2^(w-1)."""
    lo, hi = operand_range(n, signed)
    vals = {0, 1, 2, 3, hi, hi - 1, (1 << n) - 1 if signed == "none" else -1}
    vals |= {1 << i for i in range(n - (signed != "none"))}
    vals |= {(1 << i) - 1 for i in range(1, n + (signed == "none"))}
    # f = 2^(w-2) on both sides sums to exactly 2^(w-1): 1.1000b patterns at every position
    vals |= {3 << i for i in range(n - 1 - (signed != "none"))}
    vals |= {((1 << (w - 1)) + 1) << i for i in range(max(0, n - w - (signed != "none")))}
    if signed != "none":
        vals |= {lo, lo + 1, -2, -3}
        vals |= {-v for v in list(vals) if lo <= -v <= hi}
    vals = np.array(sorted(v for v in vals if lo <= v <= hi), dtype=np.int64)
    a, b = np.meshgrid(vals, vals)
    return a.ravel(), b.ravel()


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("w", [2, 3, 4, 6, 8])
def test_exhaustive_n8(w, variant, signed):
    lo, hi = operand_range(8, signed)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(lo, hi + 1), np.arange(lo, hi + 1)))
    unit = MitchMul(n=8, w=w, variant=variant, signed=signed)
    want = mitch_mul(a, b, n=8, w=w, variant=variant, signed=signed)
    assert run_cosim(unit, "combinational", inputs={"a": a, "b": b}, expected={"p": want}) == 65536


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("n,w", [(16, 6), (32, 6)])
def test_random_and_corners_wide(n, w, variant, signed):
    lo, hi = operand_range(n, signed)
    rng = np.random.default_rng(1000 * n + w)
    ca, cb = corner_operands(n, w, signed)
    a = np.concatenate([rng.integers(lo, hi, 100_000, endpoint=True), ca])
    b = np.concatenate([rng.integers(lo, hi, 100_000, endpoint=True), cb])
    unit = MitchMul(n=n, w=w, variant=variant, signed=signed)
    want = mitch_mul(a, b, n=n, w=w, variant=variant, signed=signed)
    assert run_cosim(unit, "combinational", inputs={"a": a, "b": b}, expected={"p": want}) == len(a)


@pytest.mark.parametrize("n,w", [(16, 2), (16, 16), (32, 32)])
def test_extreme_w(n, w):
    a, b = corner_operands(n, w, "c1")
    unit = MitchMul(n=n, w=w, signed="c1")
    want = mitch_mul(a, b, n=n, w=w, signed="c1")
    assert run_cosim(unit, "combinational", inputs={"a": a, "b": b}, expected={"p": want}) == len(a)


def test_bench_reports_a_wrong_golden_value():
    a, b = np.arange(1, 200), np.arange(1, 200)
    want = mitch_mul(a, b, n=8, w=4)
    want[57] += 1
    with pytest.raises(CosimFailure, match="vector 57"):
        run_cosim(MitchMul(n=8, w=4), "combinational", inputs={"a": a, "b": b},
                  expected={"p": want}, tag="_negative")
