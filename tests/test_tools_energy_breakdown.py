"""tools/energy_breakdown.py: the parts of a priced array add up to the flow's figure, and every
flip-flop lands in the part its register name says."""
import pytest

from synth.flow import synth_unit
from tools.energy_breakdown import breakdown


def test_array_parts_add_up_and_name_the_registers(tmp_path):
    record = synth_unit("systolic", {"rows": 2, "cols": 2, "pe": "int_mac", "n": 4},
                        stream="uniform", vectors=70, out_root=tmp_path, cache=False)
    b = breakdown(tmp_path / "osu018" / record["module"])
    assert b["sum_pj_per_op"] == pytest.approx(record["energy_pj_per_op"], rel=1e-4)
    # 2 x 2 PEs of 16-bit accumulators; one 4-bit east register per row, one south per column;
    # the skew triangle delays row 1 and column 1 by one cycle.
    assert b["flops_per_part"]["pe"] == 4 * 16
    assert b["flops_per_part"]["shadow"] == 4 * 16
    assert b["flops_per_part"]["forward"] == 2 * 4 + 2 * 4
    assert b["flops_per_part"]["skew"] == 4 + 4
    # Every flip-flop's clock pin is charged each cycle: the shadows (held almost always) pay as
    # much clock energy as the accumulators.
    assert b["by_part"]["shadow:clock"] == pytest.approx(b["by_part"]["pe:clock"], rel=1e-6)
    assert b["by_part"]["pe"] > b["by_part"]["shadow"] > 0
    # The diagnostic pricing changes only driver arcs: clock-pin charges stay the same.
    t = breakdown(tmp_path / "osu018" / record["module"], toggling_arcs=True)
    assert t["toggling_arcs"] and t["by_part"]["shadow:clock"] == b["by_part"]["shadow:clock"]
    assert t["sum_pj_per_op"] != b["sum_pj_per_op"]
