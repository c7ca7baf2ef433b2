"""The systolic array's control variate (cv=True): golden.systolic.matmul_cv against Python ints
and Fractions, parameter checks, Verilator lint and cocotb benches (kappa reloads, resets)."""

from fractions import Fraction

import numpy as np
import pytest

from golden import control_variate as cv
from golden.params import ParameterError
from golden.systolic import cv_widths, matmul, matmul_cv
from hdl.export import write_verilog
from hdl.lint import verilator_lint
from hdl.systolic import SystolicArray
from sim import systolic_stimulus as stim
from sim.runner import run_cosim

F = cv.KAPPA_FRAC_BITS
MITCH16 = {"n": 16, "w": 3, "variant": "trunc", "signed": "c1"}
MITCH8 = {"n": 8, "w": 3, "variant": "trunc", "signed": "c1"}


def wrap(x, bits):
    x %= 1 << bits
    return x - (1 << bits) if x >> (bits - 1) else x


def test_matmul_cv_int_against_python_ints():
    """c = wrap((2^F y - kq S + 2^(F-1)) div 2^F) with S wrapped to acc_width - N bits and
    kq = m 2^e from the port value's bit fields; a narrow accumulator (acc_width = 2N) makes S
    and y wrap; E = 0 is the plain fixed-point kappa."""
    rng = np.random.default_rng(5)
    wrapped = 0
    shifts = set()
    for params, K, ew in (({"n": 8}, 7, None), ({"n": 8, "acc_width": 16}, 40, None),
                          (MITCH16, 9, None), (MITCH16, 9, 0), (MITCH16, 5, 3)):
        pe = "mitch_mac" if "w" in params else "int_mac"
        for _ in range(4):
            A = stim.random_operands(rng, (4, K), pe, params)
            B = stim.random_operands(rng, (K, 3), pe, params)
            kind, kw, sw, e_bits = cv_widths(pe, kappa_exp_width=ew, **params)
            port = stim.random_kappa(rng, 3, pe, params, kappa_exp_width=ew)
            got = matmul_cv(A, B, port, pe=pe, kappa_exp_width=ew, **params)
            y = matmul(A, B, pe=pe, **params)
            acc = params.get("acc_width", 2 * params["n"] + 8)
            assert sw == acc - params["n"] and e_bits == (5 if ew is None else ew)
            assert kw == 8 + e_bits
            for i in range(4):
                s = wrap(sum(int(v) for v in A[i]), sw)
                wrapped += s != sum(int(v) for v in A[i])
                for j in range(3):
                    bits = int(port[j]) % (1 << kw)
                    e = bits % (1 << e_bits)
                    kq = wrap(bits >> e_bits, kw - e_bits) * 2 ** e
                    shifts.add(e)
                    want = (int(y[i, j]) * 2 ** F - kq * s + 2 ** (F - 1)) >> F
                    assert int(got[i, j]) == wrap(want, acc), (params, i, j)
    assert wrapped                       # acc_width 16, n 8: S has 8 bits and wraps
    assert len(shifts) > 12 and 0 in shifts


def test_kappa_port_round_trip_and_quantize():
    """quantize_kappa(sig_bits=M) gives kq = m 2^e (|m| < 2^(M-1), nearest even from the exact
    value, checked with Fractions); kappa_port encodes them with the smallest e and
    kappa_from_port decodes them back."""
    from golden.systolic import kappa_from_port, kappa_port
    rng = np.random.default_rng(8)
    k = np.concatenate([rng.standard_normal(400) * 10.0 ** rng.uniform(-5, 3, 400),
                        [0.0, 127 / 2 ** F, 127.5 / 2 ** F, 128.5 / 2 ** F, -255 / 2 ** F]])
    kq = cv.quantize_kappa(k, "int", sig_bits=8)
    for v, q in zip(k, kq):
        x = Fraction(float(v)) * 2 ** F          # exact; the smallest e whose m fits
        e = 0
        while abs(round(x / 2 ** e)) > 127:      # round: half to even
            e += 1
        assert int(q) == round(x / 2 ** e) * 2 ** e, v
    assert list(kq[-5:]) == [0, 127, 128, 128, -256]
    port = kappa_port(kq, exp_width=5, width=13)
    assert port.min() >= -(1 << 12) and port.max() < 1 << 12
    assert np.array_equal(kappa_from_port(port, exp_width=5), kq)
    assert (port & 31).max() > 16
    # the full fixed-point value is kept where it fits the significand
    small = np.array([3, -100, 127, -128, 128])
    assert np.array_equal(kappa_port(small, exp_width=5, width=13) & 31, [0, 0, 0, 0, 1])


def ref_bf16(x):
    """Fraction rounded to 8 significant bits, nearest even (no range limits needed here)."""
    x = Fraction(x)
    if x == 0:
        return x
    e = abs(x).numerator.bit_length() - abs(x).denominator.bit_length()
    if Fraction(2) ** e > abs(x):
        e -= 1
    ulp = Fraction(2) ** (e - 7)
    return round(x / ulp) * ulp


def test_matmul_cv_float_against_fractions():
    """S the float32 running sum in k order (NumPy, IEEE: no subnormals at these magnitudes),
    then R(y - bf16(kappa) bf16(S)) from Fractions."""
    rng = np.random.default_rng(6)
    A = stim.random_operands(rng, (5, 11), "mitch_bf16_mac", {})
    B = stim.random_operands(rng, (11, 4), "mitch_bf16_mac", {})
    params = {"w": 3, "variant": "trunc"}
    kq = stim.random_kappa(rng, 4, "mitch_bf16_mac", params).astype(np.uint16)
    got = matmul_cv(A, B, kq, pe="mitch_bf16_mac", **params).view(np.float32)
    y = matmul(A, B, pe="mitch_bf16_mac", **params).view(np.float32)
    av = (A.astype(np.uint32) << 16).view(np.float32)
    kv = (kq.astype(np.uint32) << 16).view(np.float32)
    for i in range(5):
        s = np.float32(0)
        for v in av[i]:
            s = np.float32(s + v)
        for j in range(4):
            exact = Fraction(float(y[i, j])) - Fraction(float(kv[j])) * ref_bf16(Fraction(float(s)))
            assert float(got[i, j]) == (0.0 if exact == 0 else _round24(exact)), (i, j)


def _round24(x):
    e = abs(x).numerator.bit_length() - abs(x).denominator.bit_length()
    if Fraction(2) ** e > abs(x):
        e -= 1
    ulp = Fraction(2) ** (e - 23)
    return float(round(x / ulp) * ulp)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="signed='none' is not supported"):
        SystolicArray(rows=2, cols=2, pe="mitch_mac", cv=True, n=8, w=3, signed="none")
    with pytest.raises(ParameterError, match="kappa_width must be 16"):
        SystolicArray(rows=2, cols=2, pe="bf16_mac", cv=True, kappa_width=12)
    # M + 2^E + Ws <= 64: with S's 24 bits M <= 8 at E = 5, M <= 39 at E = 0
    with pytest.raises(ParameterError, match="must be in 2..8 with 5 shift bits"):
        SystolicArray(rows=2, cols=2, pe="mitch_mac", cv=True, kappa_width=14, **MITCH16)
    with pytest.raises(ParameterError, match="must be in 2..39 with 0 shift bits"):
        SystolicArray(rows=2, cols=2, pe="mitch_mac", cv=True, kappa_width=40, kappa_exp_width=0,
                      **MITCH16)
    with pytest.raises(ParameterError, match="kappa_exp_width must be in 0..5"):
        SystolicArray(rows=2, cols=2, pe="mitch_mac", cv=True, kappa_exp_width=6, **MITCH16)
    with pytest.raises(ParameterError, match="kappa_exp_width is for integer PEs"):
        SystolicArray(rows=2, cols=2, pe="bf16_mac", cv=True, kappa_exp_width=2)
    with pytest.raises(ParameterError, match="need cv=True"):
        SystolicArray(rows=2, cols=2, pe="int_mac", kappa_width=20, n=8)
    with pytest.raises(ParameterError, match="need cv=True"):
        SystolicArray(rows=2, cols=2, pe="int_mac", kappa_exp_width=0, n=8)
    with pytest.raises(ParameterError, match="cv must be True or False"):
        SystolicArray(rows=2, cols=2, pe="int_mac", cv=1, n=8)
    with pytest.raises(ParameterError, match=r"pe \(with cv\) must be one of"):
        cv_widths("posit_mac", n=8, es=0)
    with pytest.raises(ParameterError, match="fit a signed 20-bit port"):
        matmul_cv(np.ones((1, 1), np.int64), np.ones((1, 1), np.int64), np.array([1 << 19]),
                  pe="int_mac", n=8, kappa_width=20, kappa_exp_width=0)
    # a kappa the port cannot hold: kappa_port names the bits it needs and the port's
    from golden.systolic import kappa_port
    with pytest.raises(ParameterError, match="needs 21 significand bits at shift 0; the kappa port has 20 significand "
                                             "and 0 shift"):
        kappa_port(cv.quantize_kappa(np.array([12.5]), "int"), exp_width=0, width=20)
    with pytest.raises(ParameterError, match=r"needs 9 significand bits at shift 31; the kappa "
                                             r"port has 8 significand and 5 shift bits"):
        kappa_port(cv.quantize_kappa(np.array([2.0 ** 22]), "int", sig_bits=8), exp_width=5,
                   width=13)


def test_ports_and_latency():
    unit = SystolicArray(rows=3, cols=2, pe="mitch_mac", cv=True, **MITCH16)
    assert len(unit.kappa) == 8 + 5 and len(unit.kappa_col) == 1 and len(unit.kappa_load) == 1
    assert unit.latency() == 3 + 2 + 1 and unit.name.endswith("_cv")
    assert SystolicArray(rows=3, cols=2, pe="mitch_mac", cv=True, kappa_width=24,
                         kappa_exp_width=0, **MITCH16).name.endswith("_cv_k24e0")
    wide = SystolicArray(rows=1, cols=5, pe="bf16_mac", cv=True)
    assert len(wide.kappa) == 16 and len(wide.kappa_col) == 3


@pytest.mark.parametrize("pe,params", [("mitch_bf16_mac", {"w": 3}),
                                       ("mitch_mac", dict(MITCH16, pipeline=1, gate_zero=True))])
def test_verilog_lint_clean(tmp_path, pe, params):
    unit = SystolicArray(rows=2, cols=3, pe=pe, cv=True, **params)
    assert verilator_lint(write_verilog(unit, tmp_path), unit.name) == ""


def cv_schedule(rng, rows, cols, pe, params, tiles, ew=None):
    """Back-to-back tiles (K = 1 included), kappa reloads at random cycles (during tiles, in
    drains), a reset mid-tile and one with tiles in flight, then ``tiles`` random tiles."""
    specials = 0.1 if pe in stim.FLOAT_PES else 0.0
    zeros = 0.4 if params.get("gate_zero") else 0.0

    def tile(K):
        return ("tile", stim.random_operands(rng, (rows, K), pe, params, specials, zeros),
                stim.random_operands(rng, (K, cols), pe, params, specials, zeros))

    def kappa():
        return ("kappa", stim.random_kappa(rng, cols, pe, params, kappa_exp_width=ew))
    events = [kappa(), tile(5), tile(1), kappa(), tile(3), tile(8), ("gap", 2), kappa(), tile(2)]
    partial = tile(6)
    events += [tile(3), ("partial", partial[1], partial[2], 4), ("reset",)]   # reset mid-tile
    events += [tile(2), kappa(), tile(1), ("reset",), tile(4)]              # kappa kept by rst
    for K in rng.integers(1, 9, tiles):
        if rng.random() < 0.4:
            events.append(kappa())
        events.append(tile(int(K)))
        if rng.random() < 0.2:
            events.append(("gap", int(rng.integers(0, 6))))
    return events


def run_cv(pe, params, tiles, rows=4, cols=4, seed=0, tag=""):
    rng = np.random.default_rng(seed)
    params = dict(params)
    ew = params.pop("kappa_exp_width", None)
    schedule = cv_schedule(rng, rows, cols, pe, params, tiles, ew)
    inputs, cycle, c = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params, cv=True,
                                  kappa_exp_width=ew)
    unit = SystolicArray(rows=rows, cols=cols, pe=pe, cv=True, kappa_exp_width=ew, **params)
    checked = run_cosim(unit, "systolic", inputs=inputs, expected={"cycle": cycle, "c": c},
                        tag=tag)
    assert checked == 1 + len(cycle) * (1 + cols)
    # the correction did something on most rows, and kappa changed mid-stream
    plain = stim.build([e for e in schedule if e[0] != "kappa"], rows=rows, cols=cols, pe=pe,
                       pe_params=params, cv=True, kappa_exp_width=ew)[2]
    assert (plain != c).any(axis=1).mean() > 0.5
    assert inputs["kappa_load"].sum() >= 4 * cols
    return len(cycle)


@pytest.mark.cosim
@pytest.mark.parametrize("pe,params", [("mitch_bf16_mac", {"w": 3}), ("mitch_mac", MITCH8)])
def test_cosim_cv_tiles_kappa_reloads_resets(pe, params):
    assert run_cv(pe, params, tiles=12, seed=len(pe)) > 12 * 4


@pytest.mark.cosim
@pytest.mark.slow
@pytest.mark.parametrize("pe,params", [
    ("bf16_mac", {}), ("int_mac", {"n": 8}), ("int_mac", {"n": 8, "acc_width": 16}),
    ("mitch_mac", MITCH16), ("mitch_mac", dict(MITCH16, kappa_exp_width=0)),
    ("mitch_mac", dict(MITCH16, kappa_exp_width=2)),
    ("mitch_bf16_mac", {"w": 3, "pipeline": 1, "gate_zero": True}),
    ("mitch_mac", dict(MITCH16, pipeline=1, gate_zero=True)),
    ("mitch_mac", dict(MITCH16, pipeline=1))])
def test_cosim_cv_long(pe, params):
    assert run_cv(pe, params, tiles=150, seed=7, tag="_long") > 150 * 4


def test_back_to_back_tiles_each_get_their_own_kappa():
    """Tiles of K = R + C - 1 steps back to back, each tile's C kappa values written in the C
    free cycles between two tiles' corrections (from 2R + C - 2 cycles after the tile's first
    step: the edge of the previous tile's last row): every tile's rows use its own kappa."""
    rows, cols, pe, params = 3, 2, "mitch_mac", MITCH16
    rng = np.random.default_rng(12)
    K = rows + cols - 1
    schedule, kappas = [], []
    for _ in range(6):
        kappas.append(stim.random_kappa(rng, cols, pe, params))
        A = stim.random_operands(rng, (rows, K), pe, params)
        B = stim.random_operands(rng, (K, cols), pe, params)
        schedule += [("kappa", kappas[-1], 2 * rows + cols - 2), ("tile", A, B)]
    inputs, cycle, c = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params, cv=True)
    assert inputs["valid"][1:1 + 6 * K].all()            # no stall for the reloads
    tiles = [e for e in schedule if e[0] == "tile"]
    for t, ((_, A, B), k) in enumerate(zip(tiles, kappas)):
        want = matmul_cv(A, B, k, pe=pe, **params)[::-1]
        assert np.array_equal(c[t * rows:(t + 1) * rows], want)


def test_cli_bad_cv_input_exits_2(tmp_path):
    import subprocess
    import sys
    cli = [sys.executable, "-m", "approxmac.cli", "verilog", "systolic", "--rows", "2", "--cols", "2"]
    for args, msg in ((["--pe", "mitch_mac", "--n", "8", "--w", "3", "--signed", "none", "--cv"],
                       "signed='none' is not supported"),
                      (["--pe", "int_mac", "--n", "8", "--kappa-width", "20"], "need cv=True"),
                      (["--pe", "int_mac", "--n", "8", "--cv", "--kappa-width", "50"],
                       "must be in 2..16 with 5 shift bits"),
                      (["--pe", "int_mac", "--n", "8", "--cv", "--kappa-exp-width", "7"],
                       "kappa_exp_width must be in 0..5")):
        out = tmp_path / "bad"
        bad = subprocess.run(cli + args + ["-o", str(out)], capture_output=True, text=True)
        assert bad.returncode == 2 and msg in bad.stderr, bad.stderr
        assert not out.exists()


@pytest.mark.slow
def test_gate_level_cv_array_computes_matmul_cv(tmp_path):
    """The cost flow's netlist of a 2 x 2 cv array (kappa from the stream, written during
    reset) shows the first tile's rows equal to golden matmul_cv."""
    import json
    from synth import gatesim, libraries
    from synth.flow import synth_unit
    from synth.netlist import read_netlist
    pe = {"n": 4, "w": 2, "signed": "c1"}
    params = {"rows": 2, "cols": 2, "pe": "mitch_mac", "cv": True, **pe}
    record = synth_unit("systolic", params, stream="uniform", vectors=70, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    assert record["module"] == "systolic_r2_c2_mitch_mac_n4_w2_trunc_c1_acc16_cv"
    hexes = {p: np.array([int(x, 16) for x in (out / f"in_{p}.hex").read_text().split()])
             for p in ("a", "b", "valid", "kappa", "kappa_col", "kappa_load")}
    lead = int(np.argmax(hexes["valid"]))
    assert lead == 2 and list(hexes["kappa_load"][:3]) == [1, 1, 0]
    signed = lambda x, bits: np.where(x >= 1 << (bits - 1), x - (1 << bits), x)   # noqa: E731
    kw = cv_widths("mitch_mac", **pe)[1]
    kappa = signed(hexes["kappa"][:2], kw)          # m 2^E + e port values
    assert kw == 13 and (kappa != 0).all()
    A = np.stack([signed((hexes["a"][lead:lead + 64] >> (4 * i)) & 15, 4) for i in range(2)])
    B = np.stack([signed((hexes["b"][lead:lead + 64] >> (4 * j)) & 15, 4) for j in range(2)], axis=1)
    want = matmul_cv(A, B, kappa, pe="mitch_mac", **pe) & 0xFFFF
    assert not np.array_equal(want, matmul(A, B, pe="mitch_mac", **pe) & 0xFFFF)
    nl = read_netlist(out / "netlist.json", libraries.build(libraries.resolve("osu018")).library())
    outputs = gatesim.read_outputs(out / "outputs.txt", nl)
    shown = np.flatnonzero(outputs["c_valid"])
    assert len(shown) == 2 and shown[1] == shown[0] + 1
    rows = [int(outputs["c"][t]) for t in shown]
    assert [[(c >> (16 * k)) & 0xFFFF for k in range(2)] for c in rows] == [list(want[1]), list(want[0])]
    assert json.loads((out / "details.json").read_text())["ops_per_period"] == 4
