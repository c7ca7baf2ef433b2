"""tools/p1_study.py: a pipelined MAC's energy split at its product register adds up to the
flow's figure, with every flip-flop in its part."""
import pytest

from approxmac.p1 import Run
from synth.flow import synth_unit
from tools.p1_study import mac_split


def test_split_of_a_pipelined_mac(tmp_path):
    record = synth_unit("int_mac", {"n": 4, "pipeline": 1}, stream="uniform", vectors=60,
                        out_root=tmp_path, cache=False)
    s = mac_split(tmp_path / "osu018" / record["module"], Run("lone", "osu018", "int16", 1))
    parts = s["multiplier_pj"] + s["accumulate_pj"] + s["clock_pj"] + s["control_pj"]
    assert parts == pytest.approx(record["energy_pj_per_op"], rel=1e-4)
    # a 16-bit accumulator (2N + 8), the 8-bit product stage, the en/clr stage
    assert s["flops"] == {"accumulate": 16, "multiplier": 8, "control": 2}
    assert s["multiplier_pj"] > 0 and s["accumulate_pj"] > 0 and s["clock_pj"] > 0
