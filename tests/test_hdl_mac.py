"""hdl int_mul, mitch_bf16_mul and the MACs in the Amaranth simulator and under Verilator lint."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from approxmac.cli import main
from hdl.catalogue import get_unit
from golden.floats import special_bf16_values
from golden.int_mul import int_mul
from golden.mac import mac_run
from golden.mitch_bf16_mul import mitch_bf16_mul
from golden.params import ParameterError
from hdl.export import write_verilog
from hdl.int_mul import IntMul
from hdl.lint import verilator_lint
from hdl.mac import Bf16Mac, IntMac, MitchBf16Mac, MitchMac
from hdl.mitch_bf16_mul import MitchBf16Mul


def run_combinational(dut, a, b, width):
    got = []

    async def bench(ctx):
        for x, y in zip(a.tolist(), b.tolist()):
            ctx.set(dut.a, x % 2 ** width)
            ctx.set(dut.b, y % 2 ** width)
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("n,signed", [(8, "exact"), (8, "none"), (16, "exact"), (32, "none")])
def test_int_mul_matches_golden(n, signed):
    lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    rng = np.random.default_rng(n)
    corners = [lo, hi, 0, 1, lo + 1, hi - 1]
    a = np.concatenate([rng.integers(lo, hi, 400, endpoint=True), np.repeat(corners, 6)])
    b = np.concatenate([rng.integers(lo, hi, 400, endpoint=True), np.tile(corners, 6)])
    got = run_combinational(IntMul(n=n, signed=signed), a, b, n)
    assert got == [int(p) % 2 ** (2 * n) for p in int_mul(a, b, n=n, signed=signed)]


@pytest.mark.parametrize("w,variant", [(2, "trunc"), (2, "unbiased"), (4, "trunc"),
                                       (6, "unbiased"), (8, "trunc")])
def test_mitch_bf16_mul_matches_golden(w, variant):
    special = special_bf16_values()
    rng = np.random.default_rng(w)
    a = np.concatenate([np.repeat(special, len(special)), rng.integers(0, 1 << 16, 1500)])
    b = np.concatenate([np.tile(special, len(special)), rng.integers(0, 1 << 16, 1500)])
    a, b = a.astype(np.uint16), b.astype(np.uint16)
    got = run_combinational(MitchBf16Mul(w=w, variant=variant), a, b, 16)
    assert got == mitch_bf16_mul(a, b, w=w, variant=variant).tolist()


def cycle_stream(rng, cycles, draw):
    """Random operands, en mostly high, clr now and then, a few resets."""
    return (draw(cycles), draw(cycles), rng.random(cycles) < 0.8, rng.random(cycles) < 0.15,
            rng.random(cycles) < 0.03)


def run_mac(dut, a, b, en, clr, rst, width):
    """Drive one cycle's inputs, tick, read acc (the value after that rising edge)."""
    top = Module()
    top.domains.sync = cd = ClockDomain()              # explicit, so the bench can drive rst
    top.submodules.dut = dut
    got = []

    async def bench(ctx):
        for x, y, e, c, r in zip(a.tolist(), b.tolist(), en, clr, rst):
            ctx.set(dut.a, x % 2 ** width)
            ctx.set(dut.b, y % 2 ** width)
            ctx.set(dut.en, int(e))
            ctx.set(dut.clr, int(c))
            ctx.set(cd.rst, int(r))
            await ctx.tick()
            got.append(ctx.get(dut.acc))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


def bf16_operands(rng):
    def draw(size):
        tame = (rng.integers(115, 140, size) << 7 | rng.integers(0, 128, size)
                | rng.integers(0, 2, size) << 15)
        wild = rng.choice(special_bf16_values(), size)
        return np.where(rng.random(size) < 0.95, tame, wild).astype(np.uint16)
    return draw


FLOAT_MACS = [(Bf16Mac, "bf16_mac", {}), (MitchBf16Mac, "mitch_bf16_mac", {"w": 3}),
              (MitchBf16Mac, "mitch_bf16_mac", {"w": 8, "variant": "unbiased"}),
              (Bf16Mac, "bf16_mac", {"pipeline": 1}),
              (MitchBf16Mac, "mitch_bf16_mac", {"w": 6, "pipeline": 1})]


@pytest.mark.parametrize("cls,unit,params", FLOAT_MACS)
def test_float_mac_matches_golden(cls, unit, params):
    rng = np.random.default_rng(11)
    stream = cycle_stream(rng, 600, bf16_operands(rng))
    got = run_mac(cls(**params), *stream, 16)
    want = mac_run(*stream, unit=unit, **params)
    assert got == want.tolist()
    assert len(set(got)) > 200                             # the accumulator did move


INT_MACS = [(IntMac, "int_mac", {"n": 8}), (IntMac, "int_mac", {"n": 16, "acc_width": 33}),
            (MitchMac, "mitch_mac", {"n": 8, "w": 3, "signed": "exact"}),
            (MitchMac, "mitch_mac", {"n": 8, "w": 8, "variant": "unbiased", "signed": "c1",
                                     "acc_width": 16}),
            (MitchMac, "mitch_mac", {"n": 16, "w": 6, "signed": "none", "acc_width": 34}),
            (MitchMac, "mitch_mac", {"n": 16, "w": 6, "signed": "c1", "acc_width": 24}),
            (IntMac, "int_mac", {"n": 8, "pipeline": 1}),
            (MitchMac, "mitch_mac", {"n": 16, "w": 6, "signed": "c1", "pipeline": 1})]


@pytest.mark.parametrize("cls,unit,params", INT_MACS)
def test_integer_mac_matches_golden(cls, unit, params):
    n = params["n"]
    lo, hi = (0, 2 ** n - 1) if params.get("signed") == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
    rng = np.random.default_rng(n)
    stream = cycle_stream(rng, 600, lambda s: rng.integers(lo, hi, s, endpoint=True))
    dut = cls(**params)
    got = run_mac(dut, *stream, n)
    want = mac_run(*stream, unit=unit, **params)
    assert got == [int(v) % 2 ** dut.acc_width for v in want]


def test_mac_latency_enable_clear_and_reset():
    """acc shows a cycle's result right after its edge; en low holds; clr restarts; rst wins."""
    a = np.array([3, 4, 5, 6, 7, 2])
    got = run_mac(IntMac(n=8), a, a, en=[1, 1, 0, 1, 1, 1], clr=[0, 0, 1, 1, 0, 0],
                  rst=[0, 0, 0, 0, 1, 0], width=8)
    assert got == [9, 25, 25, 36, 0, 4]


def test_pipelined_mac_latency_and_reset():
    """pipeline=1: a cycle's result shows one edge later; rst also clears the stage register."""
    a = np.array([3, 4, 5, 6, 7, 2])
    dut = IntMac(n=8, pipeline=1)
    assert (dut.latency, dut.name) == (2, "int_mac_n8_acc24_p1")
    got = run_mac(dut, a, a, en=[1, 1, 0, 1, 1, 1], clr=[0, 0, 1, 1, 0, 0],
                  rst=[0, 0, 0, 0, 1, 0], width=8)
    assert got == [0, 9, 25, 25, 0, 0]


@pytest.mark.parametrize("unit,params,name", [
    ("int_mul", {"n": 16, "signed": "exact"}, "int_mul_n16_exact"),
    ("int_mul", {"n": 8, "signed": "none"}, "int_mul_n8_none"),
    ("mitch_bf16_mul", {"w": 2, "variant": "trunc"}, "mitch_bf16_mul_w2_trunc"),
    ("mitch_bf16_mul", {"w": 8, "variant": "unbiased"}, "mitch_bf16_mul_w8_unbiased"),
    ("bf16_mac", {}, "bf16_mac"),
    ("mitch_bf16_mac", {"w": 5, "variant": "unbiased"}, "mitch_bf16_mac_w5_unbiased"),
    ("int_mac", {"n": 8}, "int_mac_n8_acc24"),
    ("int_mac", {"n": 32}, "int_mac_n32_acc64"),
    ("int_mac", {"n": 16, "pipeline": 1}, "int_mac_n16_acc40_p1"),
    ("bf16_mac", {"pipeline": 1}, "bf16_mac_p1"),
    ("mitch_bf16_mac", {"w": 6, "pipeline": 1, "gate_zero": True}, "mitch_bf16_mac_w6_trunc_p1_zg"),
    ("mitch_mac", {"n": 16, "w": 6, "signed": "c1", "gate_zero": True},
     "mitch_mac_n16_w6_trunc_c1_acc40_zg"),
    ("mitch_mac", {"n": 8, "w": 4, "signed": "c1"}, "mitch_mac_n8_w4_trunc_c1_acc24"),
    ("mitch_mac", {"n": 16, "w": 16, "variant": "unbiased", "signed": "none", "acc_width": 40},
     "mitch_mac_n16_w16_unbiased_none_acc40"),
])
def test_catalogued_verilog_is_lint_clean(tmp_path, unit, params, name):
    component = get_unit(unit).build(**params)
    assert component.name == name
    path = write_verilog(component, tmp_path)
    assert path.name == f"{name}.v"
    assert verilator_lint(path, name) == ""


@pytest.mark.parametrize("build,message", [
    (lambda: IntMul(n=8, signed="c1"), "signed must be one of none, exact"),
    (lambda: IntMul(n=3), "n must be in 4..32"),
    (lambda: MitchBf16Mul(w=1), "w must be in 2..8"),
    (lambda: MitchBf16Mul(w=9), "w must be in 2..8"),
    (lambda: MitchBf16Mac(w=4, variant="exact"), "variant must be one of trunc, unbiased"),
    (lambda: IntMac(n=8, acc_width=7), "acc_width must be in 8..64"),
    (lambda: IntMac(n=20, acc_width=65), "acc_width must be in 20..64, got 65"),
    (lambda: MitchMac(n=8, w=9), "w must be in 2..8"),
    (lambda: MitchMac(n=8, w=4, signed="twos"), "signed must be one of none, exact, c1"),
    (lambda: Bf16Mac(pipeline=2), "pipeline must be in 0..1"),
    (lambda: IntMac(n=8, gate_zero=1), "gate_zero must be True or False"),
])
def test_components_reject_bad_parameters(build, message):
    with pytest.raises(ParameterError, match=message):
        build()


@pytest.mark.parametrize("args,module", [
    (["int_mul", "--n", "12", "--signed", "none"], "int_mul_n12_none"),
    (["mitch_bf16_mul", "--w", "3", "--variant", "unbiased"], "mitch_bf16_mul_w3_unbiased"),
    (["bf16_mac"], "bf16_mac"),
    (["mitch_bf16_mac"], "mitch_bf16_mac_w6_trunc"),
    (["int_mac", "--n", "16"], "int_mac_n16_acc40"),
    (["mitch_mac", "--n", "8", "--w", "4", "--acc-width", "20"], "mitch_mac_n8_w4_trunc_exact_acc20"),
    (["bf16_mac", "--pipeline", "1"], "bf16_mac_p1"),
    (["mitch_mac", "--n", "16", "--signed", "c1", "--gate-zero"], "mitch_mac_n16_w6_trunc_c1_acc40_zg"),
    (["systolic", "--rows", "2", "--cols", "2", "--pe", "int_mac", "--pipeline", "1"],
     "systolic_r2_c2_int_mac_n8_acc24_p1"),
])
def test_cli_writes_each_unit(tmp_path, capsys, args, module):
    assert main(["verilog", *args, "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / f"{module}.v")
    assert f"module {module}(" in (tmp_path / f"{module}.v").read_text()


@pytest.mark.parametrize("args,message", [
    (["mitch_bf16_mac", "--w", "9"], "w must be in 2..8, got 9"),
    (["mitch_bf16_mul", "--w", "1"], "w must be in 2..8, got 1"),
    (["int_mac", "--n", "8", "--acc-width", "7"], "acc_width must be in 8..64, got 7"),
    (["mitch_mac", "--n", "8", "--w", "9"], "w must be in 2..8, got 9"),
    (["int_mul", "--n", "40"], "n must be in 4..32, got 40"),
])
def test_cli_rejects_bad_parameters_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["verilog", *args, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_every_mac_has_the_mac_signature():
    from hdl.mac import MacSignature
    macs = [Bf16Mac(), MitchMac(n=8, w=4, acc_width=20), IntMac(n=16)]
    for mac in macs:
        mac._MustUse__silence = True               # built only to read the signature
    assert macs[0].signature == MacSignature(16, 32)
    assert macs[1].signature == MacSignature(8, 20)
    assert macs[2].signature == MacSignature(16, 40) != MacSignature(16, 41)
    assert macs[2].signature.flip().members["acc"].flow == wiring.In
    assert dict(MacSignature(8, 24).members)["en"].flow == wiring.In


def test_clr_start_value_is_add_of_zero():
    """The float MACs take fp32_add(+0, p) as p (-0 -> +0) without an adder: exact because
    products are never subnormal and NaN products are canonical (every multiplier, 10^5 random
    pairs plus every special class crossed)."""
    from golden.bf16_mul import bf16_mul
    from golden.fp32_add import fp32_add
    rng = np.random.default_rng(5)
    special = special_bf16_values()
    a = np.concatenate([np.repeat(special, len(special)), rng.integers(0, 1 << 16, 100_000)])
    b = np.concatenate([np.tile(special, len(special)), rng.integers(0, 1 << 16, 100_000)])
    a, b = a.astype(np.uint16), b.astype(np.uint16)
    products = [bf16_mul(a, b)] + [mitch_bf16_mul(a, b, w=w, variant=v)
                                   for w in (2, 6, 8) for v in ("trunc", "unbiased")]
    for p in products:
        start = np.where(p == 0x8000_0000, np.uint32(0), p)
        assert np.array_equal(fp32_add(np.zeros_like(p), p), start)
        assert (p == 0x8000_0000).any() and (p == 0x7FC0_0000).any()


def zero_heavy(draw, rng, zeros):
    """draw(size) with 40 % of the values replaced by ``zeros`` (zero-class values)."""
    def wrapped(size):
        x = draw(size)
        return np.where(rng.random(size) < 0.4, rng.choice(zeros, size), x).astype(x.dtype)
    return wrapped


@pytest.mark.parametrize("cls,unit,params", [
    (IntMac, "int_mac", {"n": 8}), (MitchMac, "mitch_mac", {"n": 8, "w": 4, "signed": "c1"}),
    (MitchMac, "mitch_mac", {"n": 8, "w": 6, "signed": "none", "pipeline": 1}),
    (Bf16Mac, "bf16_mac", {}), (MitchBf16Mac, "mitch_bf16_mac", {"w": 6, "pipeline": 1})])
def test_zero_gated_mac_gives_the_ungated_results(cls, unit, params):
    rng = np.random.default_rng(23)
    if unit.endswith("bf16_mac"):
        zeros = np.array([0x0000, 0x8000, 0x0001, 0x807F], np.uint16)     # +-0, subnormals
        draw, width = zero_heavy(bf16_operands(rng), rng, zeros), 16
    else:
        n, signed = params["n"], params.get("signed", "exact")
        lo, hi = (0, 2 ** n - 1) if signed == "none" else (-(2 ** (n - 1)), 2 ** (n - 1) - 1)
        zeros = np.array([0, 0, hi if signed == "none" else -1])
        draw = zero_heavy(lambda s: rng.integers(lo, hi, s, endpoint=True), rng, zeros)
        width = n
    stream = cycle_stream(rng, 800, draw)
    dut = cls(gate_zero=True, **params)
    assert dut.name.endswith("_zg")
    assert dut.latency == 2 + params.get("pipeline", 0)
    got = run_mac(dut, *stream, width)
    golden = {**params, "pipeline": params.get("pipeline", 0) + 1}     # the operand stage
    want = mac_run(*stream, unit=unit, **golden)
    assert got == [int(v) % 2 ** dut.acc_width for v in want]
