"""cocotb bench for hdl.systolic.SystolicArray: tiles in, rows of finished tiles out, cycle-exact.

The .npz (written by the pytest side, sim/systolic_stimulus.py) holds per-cycle inputs
``in_a`` (T, R), ``in_b`` (T, C), ``in_valid``, ``in_last``, ``in_rst`` (T,) (with cv also
``in_kappa``, ``in_kappa_col``, ``in_kappa_load`` (T,)) and the expected
outputs ``out_cycle`` (rows,) -- the rising-edge index after which c_valid shows a row of a
finished tile -- and ``out_c`` (rows, C) from golden.systolic.matmul (matmul_cv).

driver      packs cycle i's a[i], b[j] into the array ports before rising edge i
monitor     after each rising edge, records (edge, c) whenever c_valid is high
scoreboard  the recorded rows must equal the expected ones: same count, order, edge, bits
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from sim.scoreboard import Scoreboard

PERIOD_NS = 10


def pack(values, width):
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << width) - 1)) << (i * width)
    return word


def unpack(word, width, count):
    return [(word >> (i * width)) & ((1 << width) - 1) for i in range(count)]


class ArrayDriver:
    def __init__(self, dut, data):
        self.dut = dut
        self.wa = len(dut.a) // data["in_a"].shape[1]
        self.wb = len(dut.b) // data["in_b"].shape[1]
        self.a = [pack(row, self.wa) for row in data["in_a"].tolist()]
        self.b = [pack(row, self.wb) for row in data["in_b"].tolist()]
        self.valid, self.last, self.rst = (data[k].tolist() for k in ("in_valid", "in_last", "in_rst"))
        self.kappa = None
        if "in_kappa" in data:
            mask = (1 << len(dut.kappa)) - 1
            self.kappa = [int(v) & mask for v in data["in_kappa"].tolist()]
            self.col, self.load = data["in_kappa_col"].tolist(), data["in_kappa_load"].tolist()

    def drive(self, i):
        self.dut.a.value, self.dut.b.value = self.a[i], self.b[i]
        self.dut.valid.value, self.dut.last.value = self.valid[i], self.last[i]
        self.dut.rst.value = self.rst[i]
        if self.kappa is not None:
            self.dut.kappa.value, self.dut.kappa_col.value = self.kappa[i], self.col[i]
            self.dut.kappa_load.value = self.load[i]


class RowMonitor:
    def __init__(self, dut, count):
        self.dut, self.count = dut, count
        self.width = len(dut.c) // count
        self.rows = []

    def sample(self, edge):
        if int(self.dut.c_valid.value):
            self.rows.append((edge, unpack(int(self.dut.c.value), self.width, self.count)))


@cocotb.test()
async def tiles_match_golden(dut):
    data = np.load(os.environ["APPROXMAC_VECTORS"])
    cycles = data["in_valid"].shape[0]
    count = data["out_c"].shape[1]
    driver, monitor = ArrayDriver(dut, data), RowMonitor(dut, count)
    mask = (1 << monitor.width) - 1
    want = [(int(e), [int(v) & mask for v in c]) for e, c in zip(data["out_cycle"], data["out_c"])]

    Clock(dut.clk, PERIOD_NS, unit="ns").start(start_high=False)
    driver.drive(0)
    for i in range(cycles):
        await FallingEdge(dut.clk)          # rising edge i was half a period ago
        monitor.sample(i)
        if i + 1 < cycles:
            driver.drive(i + 1)

    board = Scoreboard(dut._log)
    board.compare(-1, "row count", len(monitor.rows), len(want), "")
    for n, ((edge, got), (want_edge, want_c)) in enumerate(zip(monitor.rows, want)):
        board.compare(n, "c_valid edge", edge, want_edge, f"row {n}")
        for k, (g, w) in enumerate(zip(got, want_c)):
            board.compare(n, f"c[{k}]", g, w, f"row {n}")
    board.report()
