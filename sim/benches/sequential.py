"""cocotb bench for a clocked unit: per-cycle inputs in, per-cycle outputs checked.

Generic over ports: every ``in_<port>`` array of the .npz is driven one value per cycle, every
``out_<port>`` array holds the value the port must show after that cycle's rising edge. The
clock port is ``clk`` (or $APPROXMAC_CLOCK); a synchronous reset is just another driven input.
Icarus runs it about a third faster with COCOTB_TRUST_INERTIAL_WRITES=1 in ``extra_env`` (writes
go straight to the simulator instead of waiting for a ReadWrite callback); it is correct either
way, since inputs change only at falling edges.

Timing, cycle i (period 10 ns, rising edges at 10 i + 5 ns):
    driver      writes in_*[i] at the falling edge before edge i (t = 10 i ns; half a period of
                setup; cycle 0's inputs at t = 0, before the first edge)
    monitor     reads out_* at the next falling edge, half a period after edge i
    scoreboard  compares with out_*[i] (sim/scoreboard.py)
"""

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from sim.scoreboard import Scoreboard, as_patterns, load_vectors

PERIOD_NS = 10


class Driver:
    """Writes cycle i's input values to the DUT's ports."""

    def __init__(self, dut, inputs):
        self.ports = {name: getattr(dut, name) for name in inputs}
        self.values = {n: as_patterns(v, len(self.ports[n])) for n, v in inputs.items()}

    def drive(self, i):
        for name, handle in self.ports.items():
            value = self.values[name][i]
            if i == 0 or value != self.values[name][i - 1]:   # control inputs rarely change
                handle.value = value


class Monitor:
    """Reads the DUT's output ports as unsigned bit patterns."""

    def __init__(self, dut, names):
        self.ports = {name: getattr(dut, name) for name in names}

    def sample(self):
        return {name: int(handle.value) for name, handle in self.ports.items()}


class Stimulus:
    """Cycle i's inputs, formatted only when the scoreboard reports a mismatch."""

    def __init__(self, driver, i):
        self.driver, self.i = driver, i

    def __repr__(self):
        return repr({n: hex(v[self.i]) for n, v in self.driver.values.items()})


@cocotb.test()
async def cycles_match_golden(dut):
    inputs, expected = load_vectors()
    clock = getattr(dut, os.environ.get("APPROXMAC_CLOCK", "clk"))
    driver, monitor = Driver(dut, inputs), Monitor(dut, expected)
    want = {n: as_patterns(v, len(monitor.ports[n])) for n, v in expected.items()}
    board = Scoreboard(dut._log)
    cycles = len(next(iter(want.values())))

    # The clock toggles in the simulator (GPI), not in Python (4.3 -> 3.1 s CPU for 3e4 cycles).
    # Inputs change only at falling edges, so its writes never share a time step with a rising
    # edge. Low at 0, rising at 5 ns.
    Clock(clock, PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
    driver.drive(0)
    # Wait for edge 0 first: the clock's start (x -> 0 at t = 0) may count as a falling edge.
    await RisingEdge(clock)
    for i in range(cycles):
        await FallingEdge(clock)            # rising edge i happened half a period ago
        if i == 0:   # the protocol above depends on it: exactly one rising edge so far
            assert get_sim_time("ns") == PERIOD_NS, f"first falling edge at {get_sim_time('ns')} ns"
        got = monitor.sample()
        for name in want:
            board.compare(i, name, got[name], want[name][i], Stimulus(driver, i))
        if i + 1 < cycles:
            driver.drive(i + 1)
    board.report()
