"""cocotb bench for a combinational unit: apply each input vector, wait 1 ns, compare outputs."""

import cocotb
from cocotb.triggers import Timer

from sim.scoreboard import Scoreboard, as_patterns, load_vectors


@cocotb.test()
async def vectors_match_golden(dut):
    inputs, expected = load_vectors()
    ports_in = {name: getattr(dut, name) for name in inputs}
    ports_out = {name: getattr(dut, name) for name in expected}
    stim = {n: as_patterns(v, len(ports_in[n])) for n, v in inputs.items()}
    want = {n: as_patterns(v, len(ports_out[n])) for n, v in expected.items()}
    board = Scoreboard(dut._log)
    count = len(next(iter(stim.values())))
    for i in range(count):
        for name, handle in ports_in.items():        # driver
            handle.value = stim[name][i]
        await Timer(1, unit="ns")
        for name, handle in ports_out.items():       # monitor -> scoreboard
            board.compare(i, name, int(handle.value), want[name][i],
                          {n: hex(stim[n][i]) for n in stim})
    board.report()
