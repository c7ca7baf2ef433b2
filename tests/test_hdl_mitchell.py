"""hdl.mitchell in the Amaranth simulator (quick feedback) and under Verilator lint."""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.mitchell import mitch_mul, operand_range
from golden.params import ParameterError
from hdl.export import write_verilog
from hdl.lint import verilator_lint
from hdl.mitchell import MitchMul

CONFIGS = list(itertools.product(("trunc", "unbiased"), ("none", "exact", "c1")))


def operands(n, signed, count, seed):
    lo, hi = operand_range(n, signed)
    rng = np.random.default_rng(seed)
    corners = np.array([lo, hi, 0, 1, 2, 3, hi // 2 + 1, lo // 2])
    a = np.concatenate([rng.integers(lo, hi, count, endpoint=True), np.repeat(corners, len(corners))])
    b = np.concatenate([rng.integers(lo, hi, count, endpoint=True), np.tile(corners, len(corners))])
    return a, b


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("n,w", [(8, 3), (16, 6), (32, 8)])
def test_amaranth_sim_matches_golden(n, w, variant, signed):
    dut = MitchMul(n=n, w=w, variant=variant, signed=signed)
    a, b = operands(n, signed, 300, seed=n + w)
    want = mitch_mul(a, b, n=n, w=w, variant=variant, signed=signed)
    got = []

    async def bench(ctx):
        for x, y in zip(a.tolist(), b.tolist()):
            ctx.set(dut.a, x % 2 ** n)
            ctx.set(dut.b, y % 2 ** n)
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == [int(v) % 2 ** (2 * n) for v in want.tolist()]


def test_registered_output_has_one_cycle_latency():
    dut = MitchMul(n=8, w=4, signed="exact", registered=True)
    a, b = operands(8, "exact", 100, seed=7)
    want = [int(v) % 2 ** 16 for v in mitch_mul(a, b, n=8, w=4, signed="exact").tolist()]
    got = []

    async def bench(ctx):
        for x, y in zip(a.tolist(), b.tolist()):
            ctx.set(dut.a, x % 256)
            ctx.set(dut.b, y % 256)
            await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


def test_component_rejects_bad_parameters():
    with pytest.raises(ParameterError, match="w must be in 2..16"):
        MitchMul(n=16, w=17)
    with pytest.raises(ParameterError, match="n must be in 4..32"):
        MitchMul(n=2, w=2)


@pytest.mark.parametrize("variant,signed", CONFIGS)
@pytest.mark.parametrize("n,w,registered", [(8, 2, False), (16, 6, False), (16, 16, True), (32, 6, False)])
def test_verilog_is_lint_clean(tmp_path, n, w, registered, variant, signed):
    unit = MitchMul(n=n, w=w, variant=variant, signed=signed, registered=registered)
    path = write_verilog(unit, tmp_path)
    assert verilator_lint(path, unit.name) == ""


def test_lint_catches_a_broken_file(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output [1:0] y); assign y = a & b_undeclared; endmodule\n")
    assert "b_undeclared" in verilator_lint(bad, "bad")
