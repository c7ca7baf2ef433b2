"""The cost flow's energy arithmetic, liberty and activity plumbing, on a hand-checkable netlist.

The netlist is an inverter chain written out in this file:

    a -> u1 -> n1 -> u2 -> n2 -> u3 -> y        (u4 also loads n1, its output n3 is unused)

Its toggles follow from the input pattern by hand, and its energy from liberty numbers this file
reads itself with liberty-parser and interpolates itself (independent of synth/liberty.py).
"""

import json
import re
import subprocess

import numpy as np
import pytest
from liberty.parser import parse_liberty

from synth import energy, gatesim
from synth import libraries

OSU = libraries.build(libraries.resolve("osu018"))
DEFAULT_LIBERTY = str(OSU.lib)          # the build copy (osu018 needs no normalisation)
DEFAULT_CELL_MODELS = str(OSU.models)   # generated from the liberty (synth/cellmodels.py)


def load_library():
    return OSU.library()
from synth.netlist import read_netlist

CHAIN_V = """module chain(a, y);
  input a; output y;
  wire a, y, n1, n2, n3;
  INVX1 u1 (.A(a), .Y(n1));
  INVX1 u2 (.A(n1), .Y(n2));
  INVX1 u3 (.A(n2), .Y(y));
  INVX1 u4 (.A(n1), .Y(n3));
endmodule
"""
# The same netlist as Yosys's write_json would describe it (bit ids 2..6).
CHAIN_JSON = {"modules": {"chain": {
    "attributes": {"top": "00000000000000000000000000000001"},
    "ports": {"a": {"direction": "input", "bits": [2]}, "y": {"direction": "output", "bits": [5]}},
    "cells": {"u1": {"type": "INVX1", "connections": {"A": [2], "Y": [3]}},
              "u2": {"type": "INVX1", "connections": {"A": [3], "Y": [4]}},
              "u3": {"type": "INVX1", "connections": {"A": [4], "Y": [5]}},
              "u4": {"type": "INVX1", "connections": {"A": [3], "Y": [6]}}},
    "netnames": {"a": {"bits": [2]}, "y": {"bits": [5]}, "n1": {"bits": [3]},
                 "n2": {"bits": [4]}, "n3": {"bits": [6]}}}}}


@pytest.fixture(scope="module")
def raw_inv():
    """INVX1 as the liberty text gives it: pin cap, leakage, the Y rise/fall tables."""
    with open(DEFAULT_LIBERTY) as f:
        lib = parse_liberty(f.read())
    cell = lib.get_group("cell", "INVX1")
    y = cell.get_group("pin", "Y")
    power = y.get_groups("internal_power")[0]
    tables = {}
    for name in ("rise_power", "fall_power"):
        t = power.get_group(name)
        tables[name] = (np.asarray(t.get_array("index_1")).ravel(),
                        np.asarray(t.get_array("index_2")).ravel(), np.asarray(t.get_array("values")))
    return {"cap": float(cell.get_group("pin", "A")["capacitance"]),
            "leak_nw": float(cell["cell_leakage_power"]), "area": float(cell["area"]),
            "volt": float(lib["nom_voltage"]), **tables}


def table_at(table, cap, slew):
    """Energy (pJ) from a raw 2-D table at a slew on its grid, linear in cap between the two
    nearest grid caps (extended beyond the first / last one, as timing tools do)."""
    caps, slews, values = table
    column = values[:, list(slews).index(slew)]
    i = min(max(int(np.searchsorted(caps, cap)) - 1, 0), len(caps) - 2)
    return float(column[i] + (cap - caps[i]) * (column[i + 1] - column[i]) / (caps[i + 1] - caps[i]))


@pytest.fixture()
def chain(tmp_path):
    (tmp_path / "netlist.json").write_text(json.dumps(CHAIN_JSON))
    (tmp_path / "netlist.v").write_text(CHAIN_V)
    return tmp_path, read_netlist(tmp_path / "netlist.json", load_library())


def test_liberty_model_matches_the_file(raw_inv):
    lib = load_library()
    inv = lib.cell("INVX1")
    assert lib.voltage == raw_inv["volt"] == 1.8
    assert inv.area == raw_inv["area"]
    assert inv.leakage_nw == raw_inv["leak_nw"]          # leakage_power_unit is 1 nW
    assert inv.pins["A"].capacitance == raw_inv["cap"]   # capacitive_load_unit is 1 pF
    arc = inv.pins["Y"].power[0]
    assert arc.related_pin == "A" and inv.pins["Y"].sense == {"A": "negative_unate"}
    caps, slews, values = raw_inv["rise_power"]
    # On a grid point the table value itself; between caps, linear interpolation.
    assert arc.rise.lookup(total_output_net_capacitance=caps[2], input_transition_time=slews[1]) \
        == pytest.approx(values[2, 1], rel=1e-12)
    cap = (caps[1] + caps[2]) / 2
    assert arc.rise.lookup(total_output_net_capacitance=cap, input_transition_time=slews[3]) \
        == pytest.approx(table_at(raw_inv["rise_power"], cap, slews[3]), rel=1e-12)
    with pytest.raises(KeyError, match="NOSUCHCELL"):
        lib.cell("NOSUCHCELL")


def test_netlist_graph(chain):
    _, nl = chain
    assert nl.top == "chain"
    names = {n.name: n for n in nl.nets.values()}
    assert sorted(names) == ["a", "n1", "n2", "n3", "y"]
    assert names["a"].driver is None and names["a"].port == "input"
    assert names["n1"].driver == ("u1", "INVX1", "Y")
    assert sorted(names["n1"].loads) == [("u2", "INVX1", "A"), ("u4", "INVX1", "A")]
    assert names["y"].loads == [] and names["y"].port == "output"
    assert nl.cell_counts() == {"INVX1": 4}


def test_energy_of_the_chain_by_hand(chain, raw_inv):
    _, nl = chain
    slew = 0.18                       # a grid point of the tables' slew axis
    slews = {f"{u}/{p}": (slew, slew) for u in ("u1", "u2", "u3", "u4") for p in ("A", "Y")}
    rises = {"a": 3, "n1": 2, "n2": 3, "y": 2, "n3": 2}
    falls = {"a": 2, "n1": 3, "n2": 2, "y": 3, "n3": 3}
    ops, clock = 5, 2.0
    rep = energy.price(nl, load_library(), rises, falls, ops=ops, clock_ns=clock, slews=slews)

    c, v = raw_inv["cap"], raw_inv["volt"]
    load = {"a": c, "n1": 2 * c, "n2": c, "y": 0.0, "n3": 0.0}      # input pins only
    switching = sum((rises[n] + falls[n]) * 0.5 * load[n] * v * v for n in load)
    internal = sum(rises[n] * table_at(raw_inv["rise_power"], load[n], slew)
                   + falls[n] * table_at(raw_inv["fall_power"], load[n], slew)
                   for n in ("n1", "n2", "y", "n3"))               # a has no driving cell
    leakage = 4 * raw_inv["leak_nw"] * clock * 1e-6                 # nW x ns = 1e-6 pJ
    assert rep.switching_pj == pytest.approx(switching / ops, rel=1e-12)
    assert rep.internal_pj == pytest.approx(internal / ops, rel=1e-12)
    assert rep.leakage_pj == pytest.approx(leakage, rel=1e-12)
    assert rep.total_pj == pytest.approx((switching + internal) / ops + leakage, rel=1e-12)
    assert rep.toggles_per_op == 25 / 5
    with pytest.raises(KeyError, match="n1"):
        energy.price(nl, load_library(), {"a": 1}, {"a": 1}, ops=1, clock_ns=1.0)


def test_gate_level_toggles_of_the_chain(chain):
    work, nl = chain
    pattern = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1], dtype=np.uint64)
    act = gatesim.simulate(nl, work, {"a": pattern}, period_ns=2.0, first=1,
                           netlist_v=work / "netlist.v", cell_models=DEFAULT_CELL_MODELS, vcd=True)
    # Window: steps 1..10; each change of a toggles every inverter output once.
    ups = int(np.sum((pattern[1:] == 1) & (pattern[:-1] == 0)))
    downs = int(np.sum((pattern[1:] == 0) & (pattern[:-1] == 1)))
    assert (ups, downs) == (4, 3)
    assert act.ops == 10 and act.window_ns == 20.0
    assert (act.rises["a"], act.falls["a"]) == (ups, downs)
    for inverted in ("n1", "y"):                 # odd number of inverters after a
        assert (act.rises[inverted], act.falls[inverted]) == (downs, ups)
    for same in ("n2", "n3"):
        assert (act.rises[same], act.falls[same]) == (ups, downs)
    assert 0 < act.settle_ns < 2.0
    assert list(act.outputs["y"]) == list(1 - pattern)
    # The independent count: pyvcd reading the dump of the same window.
    assert gatesim.count_toggles(work / "activity.vcd") == (act.rises, act.falls)


def test_opensta_internal_power_convention(chain, raw_inv):
    """This OpenSTA build charges rise + fall internal energy per transition (twice the Liberty
    meaning) and ½CV² per transition: why the report shows its internal part halved."""
    work, _ = chain
    (work / "cells.lib").write_text(open(DEFAULT_LIBERTY).read())
    (work / "p.tcl").write_text(
        "read_liberty cells.lib\nread_verilog netlist.v\nlink_design chain\n"
        "create_clock -name clk -period 10\nset_input_delay 0 -clock clk [all_inputs]\n"
        "set_output_delay 0 -clock clk [all_outputs]\nset_input_transition 0.18 [all_inputs]\n"
        "set_power_activity -input_ports [get_ports a] -activity 1 -duty 0.5\n"
        "report_power -instances [get_cells u1] -digits 8\n")
    out = subprocess.run(["sta", "-no_splash", "-exit", "p.tcl"], cwd=work, capture_output=True,
                         text=True, check=True).stdout
    internal_w, switching_w = map(float, re.search(r"^\s*(\S+)\s+(\S+)\s+\S+\s+\S+\s+u1$", out,
                                                   re.M).groups())
    load = 2 * raw_inv["cap"]                     # n1 drives u2 and u4
    per_second = 1 / 10e-9                        # one transition per 10 ns clock period
    rise = table_at(raw_inv["rise_power"], load, 0.18)
    fall = table_at(raw_inv["fall_power"], load, 0.18)
    assert internal_w == pytest.approx((rise + fall) * 1e-12 * per_second, rel=1e-5)
    assert switching_w == pytest.approx(0.5 * load * 1e-12 * 1.8 ** 2 * per_second, rel=1e-5)


def test_opensta_clock_pin_power_convention(tmp_path):
    """A flip-flop with a quiet D: OpenSTA charges 2 x (rise + fall) of the CLK pin's table per
    clock cycle, where the clock makes one rise and one fall."""
    (tmp_path / "cells.lib").write_text(open(DEFAULT_LIBERTY).read())
    (tmp_path / "ff.v").write_text("module ff(clk, d, q);\n  input clk, d; output q;\n"
                                   "  DFFPOSX1 u1 (.CLK(clk), .D(d), .Q(q));\nendmodule\n")
    (tmp_path / "p.tcl").write_text(
        "read_liberty cells.lib\nread_verilog ff.v\nlink_design ff\n"
        "create_clock -name clk -period 10 [get_ports clk]\n"
        "set_input_delay 0 -clock clk [get_ports d]\nset_output_delay 0 -clock clk [all_outputs]\n"
        "set_input_transition 0.18 [all_inputs]\n"
        "set_power_activity -input_ports [get_ports d] -activity 0 -duty 0\n"
        "report_power -digits 8\n")
    out = subprocess.run(["sta", "-no_splash", "-exit", "p.tcl"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    internal_w = float(re.search(r"^Total\s+(\S+)", out, re.M).group(1))
    clk = load_library().cell("DFFPOSX1").pins["CLK"].power[0]
    per_cycle = clk.rise.lookup(input_transition_time=0.18) + clk.fall.lookup(
        input_transition_time=0.18)
    assert internal_w == pytest.approx(2 * per_cycle * 1e-12 / 10e-9, rel=1e-5)


def test_reset_release_waits_before_the_next_edge(chain):
    work, nl = chain
    a = np.zeros(6, dtype=np.uint64)
    gatesim.write_testbench(work / "tb.v", nl, {"a": a, "rst": np.array([1, 1, 0, 0, 0, 0])},
                            period_ns=2.0, first=3)
    tb = (work / "tb.v").read_text()
    for step in (0, 2):          # rst rises with step 0 and falls with step 2
        assert f"if (i == {step}) #{gatesim.RESET_SETTLE_NS:.3f};" in tb
    assert "if (i == 1) #" not in tb
    with pytest.raises(ValueError, match="rst changes at step 5, inside the measured window"):
        gatesim.write_testbench(work / "tb.v", nl, {"a": a, "rst": np.array([1, 1, 0, 0, 1, 0])},
                                period_ns=2.0, first=3)


def test_a_change_to_x_inside_the_window_is_an_error(chain):
    """The packed counter of a net that changes to X holds X (one add, no branch): reported."""
    work, nl = chain
    pattern = np.array([0, 1, 0, 1, 0, 1], dtype=np.uint64)
    gatesim.write_testbench(work / "tb.v", nl, {"a": pattern}, period_ns=2.0, first=1)
    gatesim.instrument_netlist(nl, work / "netlist.v", work / "netlist_counted.v")
    rows = (work / "in_a.hex").read_text().splitlines()
    rows[3] = "x"                               # step 3: a goes X, inside the window
    (work / "in_a.hex").write_text("\n".join(rows) + "\n")
    gatesim.run_icarus(work, (work / "netlist_counted.v").resolve(), DEFAULT_CELL_MODELS)
    gatesim.name_toggle_counts(nl, work / "toggle_counts.txt", work / "toggles.txt")
    # a, n1, n2, y and n3 all go X
    assert (work / "toggles.txt").read_text().splitlines()[0] == "unknown 5"
    with pytest.raises(RuntimeError, match="5 nets change to X/Z inside the measured window"):
        gatesim.read_toggles(work / "toggles.txt")


def _vcd_changes(path):
    """(time in ps, net bit) of every change after the $dumpvars section of a VCD."""
    from vcd.reader import TokenKind, tokenize
    scale = {"s": 10 ** 12, "ms": 10 ** 9, "us": 10 ** 6, "ns": 10 ** 3, "ps": 1, "fs": 10 ** -3}
    unit, now, changes, in_dump = 1, 0, [], False
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.TIMESCALE:
                unit = tok.timescale.magnitude.value * scale[tok.timescale.unit.value]
            elif tok.kind is TokenKind.CHANGE_TIME:
                now = tok.time_change * unit
            elif tok.kind is TokenKind.DUMPVARS:
                in_dump = True
            elif tok.kind is TokenKind.END:
                in_dump = False
            elif tok.kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR) and not in_dump:
                changes.append(now)
    return changes


def test_settle_time_is_the_latest_change_after_a_step_start(tmp_path, monkeypatch):
    """settle_ns (timed only once a step is older than the maximum so far) equals the latest
    change after its step's start over the whole window, read independently from the VCD, on a
    multiplier whose settling differs from vector to vector."""
    from synth.flow import synth_unit
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    rec = synth_unit("mitch_mul", {"n": 4, "w": 2}, stream="uniform", vectors=60,
                     out_root=tmp_path, keep_vcd=True, cache=False)
    out = tmp_path / "osu018" / rec["module"]
    period_ps = round(rec["clock_ns"] * 1000)
    offsets = [t % period_ps for t in _vcd_changes(out / "activity.vcd")]
    assert len(set(offsets)) > 3                 # settling differs between vectors
    details = json.loads((out / "details.json").read_text())
    assert details["settle_ns"] == max(offsets) / 1000
    assert gatesim.count_toggles(out / "activity.vcd") == gatesim.read_toggles(out / "toggles.txt")[:2]
