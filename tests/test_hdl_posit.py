"""hdl posit_mul / plam_mul (and the shared decoder and rounder) in the Amaranth simulator,
under Verilator lint, and from the command line."""

import subprocess
import sys

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.mac import mac_run
from golden.params import ParameterError
from golden.posit import plam_mul, posit_mul, special_values
from hdl.export import write_verilog
from hdl.lint import verilator_lint
from hdl.plam_mul import PlamMul
from hdl.posit_mac import PlamMac, PositMac
from hdl.posit_mul import PositMul
from test_hdl_mac import run_mac  # noqa: E402  (the MAC protocol bench, any MacSignature unit)

UNITS = {"posit_mul": (PositMul, posit_mul), "plam_mul": (PlamMul, plam_mul)}


def operands(n, es, count, seed):
    rng = np.random.default_rng(seed)
    spec = special_values(n, es).astype(np.int64)[:40]
    sa, sb = (v.ravel() for v in np.meshgrid(spec, spec))
    return (np.concatenate([rng.integers(0, 1 << n, count), sa]),
            np.concatenate([rng.integers(0, 1 << n, count), sb]))


def simulate(dut, a, b, clocked=False):
    got = []

    async def bench(ctx):
        for x, y in zip(a.tolist(), b.tolist()):
            ctx.set(dut.a, x)
            ctx.set(dut.b, y)
            if clocked:
                await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es", [(3, 0), (6, 3), (8, 0), (8, 2), (16, 1), (32, 2), (32, 0), (20, 4)])
def test_amaranth_sim_matches_golden(kind, n, es):
    cls, golden = UNITS[kind]
    a, b = operands(n, es, 300, seed=n + es)
    assert simulate(cls(n=n, es=es), a, b) == golden(a, b, n=n, es=es).tolist()


@pytest.mark.parametrize("kind", UNITS)
def test_registered_output_has_one_cycle_latency(kind):
    cls, golden = UNITS[kind]
    a, b = operands(16, 1, 100, seed=3)
    assert simulate(cls(n=16, es=1, registered=True), a, b, clocked=True) == \
        golden(a, b, n=16, es=1).tolist()


@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es,match", [(2, 0, "n must be in 3..32"), (8, 5, "es must be in 0..4"),
                                        (4, 2, "es must be in 0..1 for n=4")])
def test_component_rejects_bad_parameters(kind, n, es, match):
    with pytest.raises(ParameterError, match=match):
        UNITS[kind][0](n=n, es=es)


@pytest.mark.parametrize("kind", UNITS)
@pytest.mark.parametrize("n,es,registered", [(3, 0, False), (8, 0, False), (8, 2, True),
                                             (16, 1, False), (32, 2, False), (32, 0, True),
                                             (12, 4, False)])
def test_verilog_is_lint_clean(tmp_path, kind, n, es, registered):
    unit = UNITS[kind][0](n=n, es=es, registered=registered)
    path = write_verilog(unit, tmp_path)
    assert verilator_lint(path, unit.name) == ""


CLI = [sys.executable, "-m", "approxmac.cli"]


@pytest.mark.parametrize("kind", UNITS)
def test_cli_writes_the_unit(tmp_path, kind):
    proc = subprocess.run([*CLI, "verilog", kind, "--n", "16", "--es", "1", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / f"{kind}_n16_es1.v"
    assert proc.stdout.strip() == str(path) and f"module {kind}_n16_es1(" in path.read_text()


@pytest.mark.parametrize("args,message", [
    (["--n", "8", "--es", "6"], "es must be in 0..4, got 6"),
    (["--n", "4", "--es", "2"], "es must be in 0..1 for n=4 (es <= n - 3), got 2"),
    (["--n", "33", "--es", "2"], "n must be in 3..32, got 33"),
])
def test_cli_bad_parameters_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, "verilog", "posit_mul", *args, "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr
    assert not out.exists()


# ---------------------------------------------------------------- MACs


MACS = {"posit_mac": PositMac, "plam_mac": PlamMac}


@pytest.mark.parametrize("kind", MACS)
@pytest.mark.parametrize("n,es", [(8, 0), (16, 1), (32, 2)])
def test_mac_amaranth_sim_matches_golden(kind, n, es):
    rng = np.random.default_rng(n + es)
    cycles = 300
    spec = special_values(n, es)
    a = np.where(rng.random(cycles) < 0.1, rng.choice(spec, cycles), rng.integers(0, 1 << n, cycles))
    b = np.where(rng.random(cycles) < 0.1, rng.choice(spec, cycles), rng.integers(0, 1 << n, cycles))
    en, clr, rst = rng.random(cycles) < 0.8, rng.random(cycles) < 0.1, rng.random(cycles) < 0.02
    got = run_mac(MACS[kind](n=n, es=es), a, b, en, clr, rst, n)
    assert got == mac_run(a, b, en, clr, rst, unit=kind, n=n, es=es).tolist()


@pytest.mark.parametrize("kind", MACS)
@pytest.mark.parametrize("n,es,quire", [(3, 0, None), (8, 0, None), (16, 1, 150), (32, 2, None)])
def test_mac_verilog_is_lint_clean(tmp_path, kind, n, es, quire):
    unit = MACS[kind](n=n, es=es, quire=quire)
    assert unit.name == f"{kind}_n{n}_es{es}_q{quire or 32 + 4 * (n - 2) * 2 ** es}"
    path = write_verilog(unit, tmp_path)
    assert verilator_lint(path, unit.name) == ""


def test_mac_rejects_a_narrow_quire():
    with pytest.raises(ParameterError, match="quire must be in 144..4096, got 100"):
        PositMac(n=16, es=1, quire=100)
