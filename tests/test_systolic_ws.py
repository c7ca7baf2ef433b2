"""The weight-stationary array: golden model against independent references, Verilator lint,
cocotb benches (weight reloads, psum chaining, resets, the reload rule's bounds) and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from golden.bf16_mul import bf16_mul
from golden.fp32_add import fp32_add
from golden.mitch_bf16_mul import mitch_bf16_mul
from golden.mitchell import mitch_mul
from golden.params import ParameterError
from golden.systolic import matmul, ws_matmul
from hdl.export import write_verilog
from hdl.lint import verilator_lint
from hdl.systolic_ws import WeightStationaryArray
from sim import systolic_ws_stimulus as stim
from sim.runner import CosimFailure, run_cosim
from sim.systolic_stimulus import random_operands

# The four PE kinds of the brief, at the sizes the cost flow prices.
PES = [
    ("bf16_mac", {}),
    ("mitch_bf16_mac", {"w": 6, "variant": "trunc"}),
    ("int_mac", {"n": 16}),
    ("mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"}),
]


def wrap(x, bits):
    x %= 1 << bits
    return x - (1 << bits) if x >> (bits - 1) else x


# --- golden ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pe,params,product", [
    ("int_mac", {"n": 16, "acc_width": 32}, lambda a, b: a * b),
    ("mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"},
     lambda a, b: int(mitch_mul(np.int64(a), np.int64(b), n=16, w=6, variant="trunc",
                                signed="c1"))),
])
def test_golden_integer_pe_is_python_int_sums(pe, params, product):
    """Python ints: P + sum of the products, wrapped to A bits (acc_width 32 wraps often)."""
    rng = np.random.default_rng(5)
    A = rng.integers(-2 ** 15, 2 ** 15, (40, 6))
    B = rng.integers(-2 ** 15, 2 ** 15, (6, 3))
    bits = params.get("acc_width", 40)
    P = rng.integers(-2 ** (bits - 1), 2 ** (bits - 1), (40, 3))
    got = ws_matmul(A, B, P, pe=pe, **params)
    want = [[wrap(int(P[i, j]) + sum(product(int(A[i, k]), int(B[k, j])) for k in range(6)), bits)
             for j in range(3)] for i in range(40)]
    assert got.tolist() == want
    assert any(abs(int(P[i, j]) + sum(int(A[i, k]) * int(B[k, j]) for k in range(6))) >= 2 ** 31
               for i in range(40) for j in range(3)) or pe != "int_mac"   # it did wrap


@pytest.mark.parametrize("pe,mul", [
    ("bf16_mac", bf16_mul),
    ("mitch_bf16_mac", lambda a, b: mitch_bf16_mul(a, b, w=6, variant="trunc")),
])
def test_golden_float_pe_is_the_top_to_bottom_scalar_loop(pe, mul):
    """Per step, scalar golden calls: acc = P; acc = fp32_add(acc, mul(A[i, k], B[k, j]))."""
    params = {"w": 6, "variant": "trunc"} if pe == "mitch_bf16_mac" else {}
    rng = np.random.default_rng(6)
    A = random_operands(rng, (30, 5), pe, params, special_fraction=0.15)
    B = random_operands(rng, (5, 4), pe, params, special_fraction=0.15)
    P = stim.random_psums(rng, (30, 4), pe, params, special_fraction=0.2)
    got = ws_matmul(A, B, P, pe=pe, **params)
    for i in range(30):
        for j in range(4):
            acc = np.uint32(P[i, j])
            for k in range(5):
                acc = fp32_add(acc, mul(A[i, k], B[k, j]))
            assert int(got[i, j]) == int(acc)


def test_golden_bf16_pe_is_numpy_float32_in_order():
    """Independent of golden's adder: bf16 products are exact in float32, and with normal
    values of moderate exponent every float32 sum (RNE) is normal, so NumPy's sequential sums
    are the PE's. The order matters: the same numbers summed bottom to top differ."""
    import ml_dtypes
    rng = np.random.default_rng(7)
    A = random_operands(rng, (200, 8), "bf16_mac", {})
    B = random_operands(rng, (8, 4), "bf16_mac", {})
    P = stim.random_psums(rng, (200, 4), "bf16_mac", {})
    f = lambda x: x.view(ml_dtypes.bfloat16).astype(np.float32)      # noqa: E731
    acc = P.view(np.float32).copy()
    for k in range(8):
        acc = acc + f(A[:, k:k + 1]) * f(B[k:k + 1, :])
    got = ws_matmul(A, B, P, pe="bf16_mac")
    assert np.array_equal(got, acc.view(np.uint32))
    backwards = P.view(np.float32).copy()
    for k in reversed(range(8)):
        backwards = backwards + f(A[:, k:k + 1]) * f(B[k:k + 1, :])
    assert not np.array_equal(backwards, acc)


@pytest.mark.parametrize("pe,params", PES)
def test_golden_passes_chain_into_the_output_stationary_order(pe, params):
    """K = 3R as three chained passes (results fed back as P) = one K-deep ws_matmul = matmul."""
    rng = np.random.default_rng(8)
    R = 3
    A = random_operands(rng, (20, 3 * R), pe, params, special_fraction=0.1)
    B = random_operands(rng, (3 * R, 4), pe, params, special_fraction=0.1)
    P = None
    for p in range(3):
        P = ws_matmul(A[:, p * R:(p + 1) * R], B[p * R:(p + 1) * R], P, pe=pe, **params)
    assert np.array_equal(P, ws_matmul(A, B, pe=pe, **params))
    assert np.array_equal(P, matmul(A, B, pe=pe, **params))


def test_bad_parameters():
    A, B = np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64)
    with pytest.raises(ParameterError, match="K >= 1"):
        ws_matmul(A, B.T, pe="int_mac", n=8)
    with pytest.raises(ParameterError, match="psum must have shape"):
        ws_matmul(A, B, np.zeros((3, 2)), pe="int_mac", n=8)
    with pytest.raises(ParameterError, match="pe must be one of"):
        ws_matmul(A, B, pe="posit_mac", n=8, es=0)
    with pytest.raises(ParameterError, match="rows must be in 1..16"):
        WeightStationaryArray(rows=17, cols=4, pe="int_mac", n=8)
    with pytest.raises(ParameterError, match="pe must be one of"):
        WeightStationaryArray(rows=2, cols=2, pe="mitch_mul", n=8, w=4)
    with pytest.raises(ParameterError, match="w must be in 2..8"):
        WeightStationaryArray(rows=2, cols=2, pe="mitch_bf16_mac", w=9)
    with pytest.raises(ParameterError, match="no pipeline option"):
        WeightStationaryArray(rows=2, cols=2, pe="int_mac", n=8, pipeline=1)


# --- RTL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("pe,params", PES)
def test_verilog_lint_clean(tmp_path, pe, params):
    unit = WeightStationaryArray(rows=2, cols=3, pe=pe, **params)
    assert unit.latency(2) == 4 and unit.reload_spacing() == 5
    assert verilator_lint(write_verilog(unit, tmp_path), unit.name) == ""


def schedule_for(rng, rows, cols, pe, params, tiles=6, longest=12):
    """Weight reloads at the fastest legal rate and slower, psum chaining with specials,
    gaps, a reset mid-stream and one while a tile is loading."""
    specials = 0.1 if pe in stim.FLOAT_PES else 0.0
    ops = lambda shape: random_operands(rng, shape, pe, params, specials)      # noqa: E731
    psums = lambda n: stim.random_psums(rng, (n, cols), pe, params, specials)  # noqa: E731
    spacing = 2 * rows + cols - 2
    events = [("weights", ops((rows, cols))), ("rows", ops((spacing, rows)), None)]
    for n in range(tiles):
        events += [("weights", ops((rows, cols))),
                   ("rows", ops((spacing if n % 2 else int(rng.integers(1, longest)), rows)),
                    psums(spacing) if n % 2 else None)]
    events += [("gap", 2), ("rows", ops((3, rows)), psums(3)), ("reset",),      # rows in flight
               ("weights", ops((rows, cols))), ("rows", ops((5, rows)), psums(5)),
               ("weights", ops((rows, cols))),                                   # no rows: swap only
               ("rows", ops((1, rows)), None), ("partial_weights", ops((rows, cols)), rows - 1),
               ("reset",),                                                   # during a load
               ("weights", ops((rows, cols))), ("rows", ops((spacing, rows)), psums(spacing))]
    return events


def run(rows, cols, pe, params, schedule, tag="", **build_args):
    inputs, out = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params,
                             **build_args)
    unit = WeightStationaryArray(rows=rows, cols=cols, pe=pe, **params)
    checked = run_cosim(unit, "systolic_ws", inputs=inputs, expected=out, tag=tag)
    assert checked == 1 + 3 * len(out["c"])
    return inputs, out


@pytest.mark.cosim
@pytest.mark.parametrize("pe,params", PES)
def test_cosim_short_streams(pe, params):
    rows, cols = (2, 2) if pe in stim.FLOAT_PES else (3, 3)
    rng = np.random.default_rng(len(pe) + len(params))
    inputs, out = run(rows, cols, pe, params, schedule_for(rng, rows, cols, pe, params), "_short")
    assert len(out["c"]) > 60 * cols // 2


@pytest.mark.cosim
@pytest.mark.slow
@pytest.mark.parametrize("pe,params", PES)
def test_cosim_4x4_long_streams(pe, params):
    rows = cols = 4
    rng = np.random.default_rng(100 + len(pe))
    schedule = []
    for _ in range(6):
        schedule += schedule_for(rng, rows, cols, pe, params, tiles=12, longest=40) + [("reset",)]
    inputs, out = run(rows, cols, pe, params, schedule, "_long")
    assert len(out["c"]) > 3000


@pytest.mark.cosim
def test_reload_at_the_spacing_keeps_one_mac_per_pe_per_cycle(capsys):
    """Weight tiles of exactly reload_spacing() rows each, back to back: no idle cycle, every
    PE busy every cycle, and the loads of the next tile overlap the rows of the current one."""
    rows, cols, tiles = 3, 2, 8
    pe, params = "int_mac", {"n": 16}
    rng = np.random.default_rng(11)
    unit = WeightStationaryArray(rows=rows, cols=cols, pe=pe, **params)
    unit._MustUse__silence = True                     # only asked for its spacing
    n = unit.reload_spacing()
    assert n == 2 * rows + cols - 2
    schedule = [("weights", random_operands(rng, (rows, cols), pe, params))]
    for _ in range(tiles):
        schedule += [("rows", random_operands(rng, (n, rows), pe, params), None),
                     ("weights", random_operands(rng, (rows, cols), pe, params))]
    inputs, out = run(rows, cols, pe, params, schedule, "_spacing")
    first = int(np.argmax(inputs["valid"]))
    streaming = inputs["valid"][first:first + tiles * n]
    assert streaming.all()                                  # one row per cycle throughout
    assert (inputs["w_load"][first:first + tiles * n] == 1).sum() == tiles * rows
    assert len(out["c"]) == tiles * n * cols
    # Column j of the row in cycle t after edge t + R + j - 1: every edge of the stream shows a
    # result in every column once the skew has filled.
    for j in range(cols):
        edges = out["edge"][out["col"] == j]
        assert (np.diff(edges) == 1).all() and edges[0] == first + rows + j - 1
    with capsys.disabled():
        print(f"\n{rows}x{cols} WS int_mac array, {tiles} weight tiles x {n} rows: "
              f"{tiles * n} rows in {tiles * n} cycles (1 MAC/PE/cycle while streaming), "
              f"column j of a row {rows}+j cycles after it")


@pytest.mark.cosim
def test_the_reload_rule_is_tight():
    """One cycle earlier than the rule allows (swap, or the next tile's first load) corrupts
    results: the bench must catch it."""
    rows, cols = 2, 2
    pe, params = "int_mac", {"n": 16}
    rng = np.random.default_rng(12)
    ops = lambda shape: random_operands(rng, shape, pe, params)       # noqa: E731
    schedule = [("weights", ops((rows, cols))), ("rows", ops((1, rows)), None),
                ("weights", ops((rows, cols))), ("rows", ops((12, rows)), None)]
    inputs, _ = run(rows, cols, pe, params, schedule, "_rule")       # by the rule: exact
    swaps, loads = np.flatnonzero(inputs["swap"]), np.flatnonzero(inputs["w_load"])
    assert swaps[0] == loads[rows - 1] + 2 and loads[rows] == swaps[0] + rows + cols - 3
    for early in ({"swap": -1}, {"load": -1}):
        with pytest.raises(CosimFailure, match="mismatched"):
            run(rows, cols, pe, params, schedule, f"_rule_{next(iter(early))}", early=early)


@pytest.mark.cosim
def test_cosim_catches_a_wrong_cycle():
    rows, cols = 2, 2
    pe, params = "int_mac", {"n": 16}
    rng = np.random.default_rng(13)
    schedule = [("weights", random_operands(rng, (rows, cols), pe, params)),
                ("rows", random_operands(rng, (4, rows), pe, params), None)]
    inputs, out = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params)
    out["edge"] = out["edge"] + 1
    with pytest.raises(CosimFailure, match="c_valid edge"):
        run_cosim(WeightStationaryArray(rows=rows, cols=cols, pe=pe, **params), "systolic_ws",
                  inputs=inputs, expected=out, tag="_negative")


def test_cli_writes_the_array(tmp_path):
    cmd = [sys.executable, "-m", "approxmac.cli", "verilog", "systolic_ws"]
    proc = subprocess.run(cmd + ["--rows", "3", "--cols", "2", "--pe", "mitch_mac", "--n", "16",
                                 "--w", "6", "--signed", "c1", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "systolic_ws_r3_c2_mitch_mac_n16_w6_trunc_c1_acc40.v"
    assert proc.stdout.strip() == str(path)
    assert verilator_lint(path, path.stem) == ""
    bad = subprocess.run(cmd + ["--pe", "int_mac", "--w", "6", "-o", str(tmp_path / "bad")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "int_mac has no parameter(s) w" in bad.stderr
    assert not (tmp_path / "bad").exists()


# --- cost flow -------------------------------------------------------------------------------

def test_synth_prices_per_mac_and_the_netlist_computes_golden(tmp_path):
    """The flow's WS driver (synth.flow.build_ws_array_steps): reset, tile loads overlapping
    the stream, a swap every DOT_LENGTH rows; the gate-level netlist's results are golden's."""
    from synth import libraries, streams
    from synth.flow import synth_unit
    from synth.netlist import read_netlist
    rows = cols = 2
    record = synth_unit("systolic_ws", {"rows": rows, "cols": cols, "pe": "int_mac", "n": 4},
                        stream="uniform", vectors=90, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    assert record["module"] == "systolic_ws_r2_c2_int_mac_n4_acc16"
    details = json.loads((out / "details.json").read_text())
    assert details["ops_per_period"] == 4 and details["measured_ops"] == 4 * 90
    hexes = {p: np.array([int(x, 16) for x in (out / f"in_{p}.hex").read_text().split()],
                         dtype=object)
             for p in ("a", "w", "valid", "w_load", "swap", "rst", "psum_in")}
    assert hexes["valid"].sum() == 90 + rows + cols - 1 and not any(hexes["psum_in"])
    swaps = np.flatnonzero(hexes["swap"])
    assert (np.diff(swaps) == streams.DOT_LENGTH).all() and len(swaps) == 2
    loads = np.flatnonzero(hexes["w_load"])
    signed = lambda x: x - 16 if x >= 8 else x                               # noqa: E731
    field = lambda word, i: signed((int(word) >> (4 * i)) & 15)              # noqa: E731
    nl = read_netlist(out / "netlist.json",
                      libraries.build(libraries.resolve("osu018")).library())
    assert [p for p, (d, _, _) in nl.ports.items() if d == "output"] == ["c", "c_valid"]
    # outputs.txt: c and c_valid in hex during each step; a column still X (before its first
    # row) reads as x in its own 4 digits only.
    shows = [line.split() for line in (out / "outputs.txt").read_text().splitlines()]
    checked = 0
    for t in np.flatnonzero(hexes["valid"]):
        s = swaps[swaps < t].max()
        tile = [hexes["w"][u] for u in loads[loads < s][-rows:]][::-1]      # B[0] loaded last
        B = np.array([[field(word, j) for j in range(cols)] for word in tile])
        A = np.array([[field(hexes["a"][t], k) for k in range(rows)]])
        want = ws_matmul(A, B, pe="int_mac", n=4)[0]
        for j in range(cols):
            shown = t + rows + j                     # outputs.txt: the value during each step
            if shown < len(shows):
                c, c_valid = shows[shown]
                assert int(c_valid, 16) >> j & 1
                assert int(c[len(c) - 4 * (j + 1):len(c) - 4 * j], 16) == int(want[j]) & 0xFFFF
                checked += 1
    assert checked >= 2 * 90
