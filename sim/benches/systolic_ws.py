"""cocotb bench for hdl.systolic_ws.WeightStationaryArray: rows in, skewed columns out, cycle-exact.

The .npz (written by the pytest side, sim/systolic_ws_stimulus.py) holds per-cycle inputs
``in_a`` (T, R), ``in_w``, ``in_psum_in`` (T, C), ``in_valid``, ``in_w_load``, ``in_swap``,
``in_rst`` (T,), all bit patterns, and the expected outputs ``out_edge``, ``out_col``, ``out_c``:
after rising edge ``edge``, c_valid[col] is high and c[col] equals ``c`` (golden ws_matmul).

driver      packs cycle i's buses into the array ports before rising edge i
monitor     after each rising edge, records (edge, j, c[j]) for every j with c_valid[j] high
scoreboard  the recorded results must equal the expected ones: same count, order, edge, bits
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from sim.benches.systolic import pack, unpack
from sim.scoreboard import Scoreboard

PERIOD_NS = 10
BUSES = ("a", "w", "psum_in")
BITS = ("valid", "w_load", "swap", "rst")


@cocotb.test()
async def columns_match_golden(dut):
    data = np.load(os.environ["APPROXMAC_VECTORS"])
    cycles = data["in_valid"].shape[0]
    words = {}
    for name in BUSES:
        values = data[f"in_{name}"]
        width = len(getattr(dut, name)) // values.shape[1]
        words[name] = [pack(row, width) for row in values.tolist()]
    bits = {name: data[f"in_{name}"].tolist() for name in BITS}
    cols = data["in_w"].shape[1]
    width = len(dut.c) // cols

    def drive(i):
        for name in BUSES:
            getattr(dut, name).value = words[name][i]
        for name in BITS:
            getattr(dut, name).value = int(bits[name][i])

    seen = []
    Clock(dut.clk, PERIOD_NS, unit="ns").start(start_high=False)
    drive(0)
    for i in range(cycles):
        await FallingEdge(dut.clk)          # rising edge i was half a period ago
        valid = int(dut.c_valid.value)
        if valid:
            c = unpack(int(dut.c.value), width, cols)
            seen += [(i, j, c[j]) for j in range(cols) if valid >> j & 1]
        if i + 1 < cycles:
            drive(i + 1)

    want = list(zip(data["out_edge"].tolist(), data["out_col"].tolist(), data["out_c"].tolist()))
    board = Scoreboard(dut._log)
    board.compare(-1, "result count", len(seen), len(want), "")
    for n, ((edge, j, got), (want_edge, want_j, want_c)) in enumerate(zip(seen, want)):
        board.compare(n, "c_valid edge", edge, want_edge, f"result {n}")
        board.compare(n, "column", j, want_j, f"result {n}")
        board.compare(n, f"c[{j}]", got, int(want_c), f"result {n} (edge {edge})")
    board.report()
