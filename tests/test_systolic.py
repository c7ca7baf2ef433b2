"""The systolic array: golden model, Verilator lint and cocotb benches with timing checks."""

import numpy as np
import pytest

from golden.params import ParameterError
from golden.systolic import matmul
from hdl.export import write_verilog
from hdl.lint import verilator_lint
from hdl.systolic import SystolicArray
from sim import systolic_stimulus as stim
from sim.runner import CosimFailure, run_cosim

PES = [
    ("int_mac", {"n": 8}),
    ("mitch_mac", {"n": 8, "w": 4, "variant": "trunc", "signed": "c1"}),
    ("bf16_mac", {}),
    ("mitch_bf16_mac", {"w": 6, "variant": "trunc"}),
    ("int_mac", {"n": 8, "pipeline": 1}),
    pytest.param("bf16_mac", {"pipeline": 1}, marks=pytest.mark.slow),
    ("mitch_mac", {"n": 8, "w": 4, "variant": "trunc", "signed": "c1", "gate_zero": True}),
    pytest.param("mitch_bf16_mac", {"w": 6, "variant": "trunc", "gate_zero": True, "pipeline": 1},
                 marks=pytest.mark.slow),
]


def test_golden_matmul_is_the_pe_dot_in_k_order():
    rng = np.random.default_rng(3)
    A = rng.integers(-128, 128, (3, 5))
    B = rng.integers(-128, 128, (5, 2))
    assert np.array_equal(matmul(A, B, pe="int_mac", n=8), A @ B)
    with pytest.raises(ParameterError, match="K >= 1"):
        matmul(A, B.T, pe="int_mac", n=8)
    with pytest.raises(ParameterError, match="pe must be one of"):
        matmul(A, B, pe="mitch_mul", n=8, w=4)


def test_float_pe_order_matters_and_is_kept():
    # (big + 1) - big: fp32 addition is not associative; k order 0..K-1 from +0 gives 0 here.
    from golden.floats import BF16
    big, one = 0x4B80, 0x3F80                  # 2^24 in bf16, 1.0
    A = np.array([[big, one, big | 0x8000]], dtype=np.uint16)
    B = np.array([[one], [one], [one]], dtype=np.uint16)
    assert int(matmul(A, B, pe="bf16_mac")[0, 0]) == 0
    assert BF16.bits(A).shape == (1, 3)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="rows must be in 1..16"):
        SystolicArray(rows=0, cols=4, pe="int_mac", n=8)
    with pytest.raises(ParameterError, match="pe must be one of"):
        SystolicArray(rows=2, cols=2, pe="mitch_mul", n=8, w=4)
    with pytest.raises(ParameterError, match="w must be in 2..8"):
        SystolicArray(rows=2, cols=2, pe="mitch_bf16_mac", w=9)


@pytest.mark.parametrize("pe,params", PES)
def test_verilog_lint_clean(tmp_path, pe, params):
    unit = SystolicArray(rows=2, cols=3, pe=pe, **params)
    assert verilator_lint(write_verilog(unit, tmp_path), unit.name) == ""


def schedule_for(rng, rows, cols, pe, params, specials):
    zeros = 0.4 if params.get("gate_zero") else 0.0

    def tile(K):
        return ("tile", stim.random_operands(rng, (rows, K), pe, params, specials, zeros),
                stim.random_operands(rng, (K, cols), pe, params, specials, zeros))
    events = [tile(K) for K in (5, 1, 3, 1, 1, 8, 2)]            # back to back, K = 1 included
    events += [("gap", 3), tile(4), ("gap", 1), tile(1)]
    partial = tile(6)
    events += [tile(3), ("partial", partial[1], partial[2], 4), ("reset",)]   # reset mid-tile
    events += [tile(2), tile(1), ("reset",)]                      # reset with tiles in flight
    events += [tile(K) for K in rng.integers(1, 9, 40)]
    return events


@pytest.mark.cosim
@pytest.mark.parametrize("pe,params", PES)
def test_cosim_tiles_back_to_back(pe, params):
    rows, cols = 4, 4
    rng = np.random.default_rng(sum(map(ord, pe)) + params.get("pipeline", 0)
                                + 2 * params.get("gate_zero", False))
    specials = 0.1 if pe in stim.FLOAT_PES else 0.0
    schedule = schedule_for(rng, rows, cols, pe, params, specials)
    inputs, cycle, c = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params)
    unit = SystolicArray(rows=rows, cols=cols, pe=pe, **params)
    assert unit.latency() == rows + cols + params.get("pipeline", 0) + params.get("gate_zero", 0)
    checked = run_cosim(unit, "systolic", inputs=inputs, expected={"cycle": cycle, "c": c})
    assert checked == 1 + len(cycle) * (1 + cols) and len(cycle) > 40 * rows


@pytest.mark.cosim
def test_cosim_catches_a_wrong_cycle():
    rng = np.random.default_rng(1)
    pe, params = "int_mac", {"n": 8}
    schedule = [("tile", stim.random_operands(rng, (2, 3), pe, params),
                 stim.random_operands(rng, (3, 2), pe, params))]
    inputs, cycle, c = stim.build(schedule, rows=2, cols=2, pe=pe, pe_params=params)
    with pytest.raises(CosimFailure, match="c_valid edge"):
        run_cosim(SystolicArray(rows=2, cols=2, pe=pe, **params), "systolic", inputs=inputs,
                  expected={"cycle": cycle + 1, "c": c}, tag="_negative")


@pytest.mark.cosim
def test_steady_state_throughput_and_utilization(capsys):
    """Tiles of K = R + C - 1 steps (the spacing rule's least K) back to back: one tile out every
    K cycles, every PE busy every cycle, each tile's R rows in R consecutive cycles."""
    rows, cols, tiles = 4, 4, 12
    rng = np.random.default_rng(9)
    pe, params = "int_mac", {"n": 8}
    unit = SystolicArray(rows=rows, cols=cols, pe=pe, **params)
    K = unit.tile_spacing()
    schedule = [("tile", stim.random_operands(rng, (rows, K), pe, params),
                 stim.random_operands(rng, (K, cols), pe, params)) for _ in range(tiles)]
    inputs, cycle, c = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params)
    assert inputs["valid"][1:1 + tiles * K].all()     # no idle cycle was needed
    run_cosim(unit, "systolic", inputs=inputs, expected={"cycle": cycle, "c": c}, tag="_throughput")
    # The bench checked every row's edge exactly; from those edges:
    first_rows = cycle[::rows]
    assert (np.diff(first_rows) == K).all()           # one K-step tile leaves every K cycles
    assert (np.diff(cycle.reshape(tiles, rows), axis=1) == 1).all()
    assert first_rows[0] == K + unit.latency() - 1     # last step of tile 0 in cycle K
    run_cycles = int(cycle[-1]) + 1           # cycle 1 (after the reset) .. the one showing the last row
    utilization = tiles * K * rows * cols / (rows * cols * run_cycles)
    with capsys.disabled():
        print(f"\n4x4 int_mac array, {tiles} tiles of K={K} back to back: "
              f"{np.diff(first_rows).mean():.1f} cycles per tile, first row {unit.latency()} cycles "
              f"after the last step, PE utilization {utilization:.3f} over {run_cycles} cycles "
              f"(fill and drain included)")
    assert run_cycles == tiles * K + rows + cols + rows - 1


@pytest.mark.cosim
def test_short_tiles_wait_for_the_drain():
    """Below the spacing rule the stimulus inserts idle cycles; with them, K = 1 tiles are exact."""
    rows, cols = 3, 2
    rng = np.random.default_rng(4)
    pe, params = "mitch_mac", {"n": 8, "w": 4, "variant": "trunc", "signed": "c1"}
    schedule = [("tile", stim.random_operands(rng, (rows, K), pe, params),
                 stim.random_operands(rng, (K, cols), pe, params)) for K in (1, 1, 2, 4, 1)]
    inputs, cycle, c = stim.build(schedule, rows=rows, cols=cols, pe=pe, pe_params=params)
    lasts = np.flatnonzero(inputs["last"])
    assert (np.diff(lasts) == rows + cols - 1).all()
    unit = SystolicArray(rows=rows, cols=cols, pe=pe, **params)
    assert run_cosim(unit, "systolic", inputs=inputs, expected={"cycle": cycle, "c": c},
                     tag="_short") == 1 + 5 * rows * (1 + cols)


def test_cli_writes_the_array(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "approxmac.cli", "verilog", "systolic", "--rows", "4",
                           "--cols", "4", "--pe", "mitch_bf16_mac", "--w", "6", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "systolic_r4_c4_mitch_bf16_mac_w6_trunc.v"
    assert proc.stdout.strip() == str(path)
    assert verilator_lint(path, path.stem) == ""
    bad = subprocess.run([sys.executable, "-m", "approxmac.cli", "verilog", "systolic", "--pe", "int_mac",
                          "--w", "6", "-o", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and "int_mac has no parameter(s) w" in bad.stderr
    assert not (tmp_path / "bad").exists()
