"""hdl.bf16_mul and hdl.fp32_add in the Amaranth simulator (quick) and under Verilator lint."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.bf16_mul import bf16_mul
from golden.floats import special_bf16_values, special_fp32_values
from golden.fp32_add import fp32_add
from hdl.bf16_mul import Bf16Mul
from hdl.export import write_verilog
from hdl.fp32_add import Fp32Add
from hdl.lint import verilator_lint


def crossed_with_random(specials, bits, count, seed):
    """Every special crossed with every special, plus ``count`` random pattern pairs."""
    rng = np.random.default_rng(seed)
    a, b = (v.ravel() for v in np.meshgrid(specials, specials))
    ra = rng.integers(0, 1 << bits, count, dtype=np.uint64)
    rb = rng.integers(0, 1 << bits, count, dtype=np.uint64)
    dtype = specials.dtype
    return np.concatenate([a, ra]).astype(dtype), np.concatenate([b, rb]).astype(dtype)


def simulate(dut, in_ports, out_port, a, b):
    got = []

    async def bench(ctx):
        for u, v in zip(a.tolist(), b.tolist()):
            ctx.set(getattr(dut, in_ports[0]), u)
            ctx.set(getattr(dut, in_ports[1]), v)
            got.append(ctx.get(getattr(dut, out_port)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


def test_bf16_mul_amaranth_sim_matches_golden():
    a, b = crossed_with_random(special_bf16_values(), 16, 1500, seed=31)
    got = simulate(Bf16Mul(), ("a", "b"), "p", a, b)
    assert got == bf16_mul(a, b).tolist()


def test_fp32_add_amaranth_sim_matches_golden():
    a, b = crossed_with_random(special_fp32_values(), 32, 1500, seed=32)
    # close exponents exercise cancellation and the leading-zero normalization
    rng = np.random.default_rng(33)
    c = rng.integers(0x3F000000, 0x40800000, 500, dtype=np.uint64).astype(np.uint32)
    d = (c ^ rng.integers(0, 1 << 24, 500, dtype=np.uint64).astype(np.uint32)) | np.uint32(1 << 31)
    a, b = np.concatenate([a, c]), np.concatenate([b, d])
    got = simulate(Fp32Add(), ("x", "y"), "s", a, b)
    assert got == fp32_add(a, b).tolist()


@pytest.mark.parametrize("cls", [Bf16Mul, Fp32Add])
def test_verilog_is_lint_clean(tmp_path, cls):
    unit = cls()
    path = write_verilog(unit, tmp_path)
    assert path.name == f"{unit.name}.v"
    assert f"module {unit.name}(" in path.read_text()
    assert verilator_lint(path, unit.name) == ""
