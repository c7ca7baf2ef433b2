"""Where a unit's energy goes: the cost flow's energy (synth/energy.py) split by part and cell type.

    PYTHONPATH=. python tools/energy_breakdown.py build/synth/osu018/<module> [--json OUT]

Reads a finished result folder of synth.flow (netlist.json, toggles.txt, slews.txt, design.v,
cells.lib, details.json) and re-prices every net with synth/energy.py's formulas, so the parts
add up to the flow's ``energy_pj_per_op``. Each cell instance is given one *part*:

* a flip-flop by the register its Q pin drives (its name from the netlist's ``hdlname`` / ``src``
  attributes): ``pe`` (a register inside a PE submodule, or every register of a lone unit),
  ``shadow`` (hdl/systolic.py's shadow/drain registers), ``forward`` (the operands' east/south
  registers), ``skew`` (the input skew registers), ``control`` (everything else: en/clr/capture/
  shift replicas and their delay taps);
* a combinational cell by the parts of the flip-flops (and outputs) its output reaches through
  combinational cells only (the D-side logic of a register is that register's: the hold
  multiplexer of an enabled flip-flop belongs to the flip-flop), ``mixed`` when several.

A net's energy is charged to cells: its driver's internal energy to the driver; its switching
energy (½·C·V² per toggle) to its loads by pin capacitance, and each load pin's own internal
energy to that load. Charges on ``clk`` pins are reported apart (``<part>:clock``): in OSU018
every flip-flop's clock pin toggles every cycle (there is no clock-gating cell; a hold is a
multiplexer in front of D). Leakage goes to the cell's part.
"""
import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from synth import energy, gatesim, liberty
from synth.flow import read_slews
from synth.netlist import read_netlist


def register_names(folder):
    """bit id -> register name (dotted, e.g. 'pe_1_0.acc', 'shadow_1_0') for named wires."""
    design = (folder / "design.v").read_text().splitlines()
    data = json.loads((folder / "netlist.json").read_text())
    top = next(m for m in data["modules"].values()
               if int(m.get("attributes", {}).get("top", "0"), 2))
    names = {}
    for info in top["netnames"].values():
        attrs = info.get("attributes", {})
        if "hdlname" in attrs:
            # An array with split operand ports sits inside a wrapper as ``core``.
            name = attrs["hdlname"].replace(" ", ".").removeprefix("core.")
        else:
            m = re.match(r"design\.v:(\d+)\.(\d+)-(\d+)\.(\d+)$", attrs.get("src", ""))
            if not m:
                continue
            line, c0, _, c1 = (int(x) for x in m.groups())
            name = design[line - 1][c0 - 1:c1 - 1]
        for bit in info["bits"]:
            if isinstance(bit, int):
                names.setdefault(bit, name)
    return names


def register_part(name, lone):
    if name in ("a_q", "b_q"):          # tools/registered_pe.py's operand registers
        return "forward"
    if name in ("en_q", "clr_q"):
        return "control"
    if lone or name.startswith("pe_"):
        return "pe"
    if name.startswith("shadow_") or name == "c":     # the last row's shadows drive port c
        return "shadow"
    if re.match(r"[ab]_\d+_\d+_(east|south)", name):
        return "forward"
    if re.match(r"[ab]\d+_skew", name):
        return "skew"
    return "control"


def cell_parts(nl, lib, names, lone, part_of=register_part):
    """instance -> part (see the module docstring); ``part_of(register name, lone)`` names a
    flip-flop's part (default: register_part)."""
    flops = {inst for inst, (kind, _) in nl.cells.items()
             if any(p.name == "CLK" or p.name.startswith("CLK") for p in lib.cell(kind).pins.values()
                    if p.direction == "input")}
    parts = {}
    for inst in flops:
        kind, conns = nl.cells[inst]
        q = [b for pin, b in conns.items()
             if lib.cell(kind).pins[pin].direction != "input" and isinstance(b, int)]
        reg = next((names[b] for b in q if b in names), "?")
        parts[inst] = part_of(reg, lone)

    memo = {}

    def reach(inst):
        """Parts of the flip-flops / outputs that the combinational cell ``inst`` feeds."""
        if inst in memo:
            return memo[inst]
        memo[inst] = set()          # breaks (impossible) combinational loops
        kind, conns = nl.cells[inst]
        found = set()
        for pin, bit in conns.items():
            if lib.cell(kind).pins[pin].direction == "input" or not isinstance(bit, int):
                continue
            net = nl.nets[bit]
            if net.port == "output":
                found.add("pe" if lone else "output")
            for load, _, _ in net.loads:
                found |= {parts[load]} if load in flops else reach(load)
        memo[inst] = found
        return found

    for inst in nl.cells:
        if inst not in flops:
            found = reach(inst) - {"output"} or reach(inst)
            parts[inst] = found.pop() if len(found) == 1 else "mixed"
    return parts


def driver_energy_toggling(lib, nl, net, cap, slews, toggled):
    """energy.driver_energy, averaged only over the arcs whose related input toggled at all in
    the window (an output edge is caused by an input edge; a reset input that never moves
    cannot cause one, however slow its slew)."""
    inst, kind, pin = net.driver
    conns = nl.cells[inst][1]
    out = lib.cell(kind).pins[pin]

    def arc_energy(arc, edge):
        table = arc.rise if edge == "rise" else arc.fall
        bit = conns.get(arc.related_pin)
        if table is None or (isinstance(bit, int) and bit not in toggled):
            return None
        slew = energy.pin_slew(slews, inst, arc.related_pin,
                               out.input_edge(arc.related_pin, edge))
        return table.lookup(**energy._point(cap, slew))

    rise = [arc_energy(a, "rise") for a in out.power]
    fall = [arc_energy(a, "fall") for a in out.power]
    if all(v is None for v in rise + fall):
        return energy.driver_energy(lib, net, cap, slews)
    return energy._mean(rise), energy._mean(fall)


def breakdown(folder, lone=None, toggling_arcs=False, part_of=register_part):
    """The flow's energy of a result folder split by part and cell type; ``part_of`` as in
    cell_parts (e.g. to split a pipelined MAC at its product register)."""
    folder = Path(folder)
    result = json.loads((folder / "result.json").read_text())
    details = json.loads((folder / "details.json").read_text())
    lone = result["unit"] != "systolic" if lone is None else lone
    lib = liberty.load_library(str(folder / "cells.lib"))
    nl = read_netlist(folder / "netlist.json", lib)
    rises, falls, _ = gatesim.read_toggles(folder / "toggles.txt")
    slews = read_slews(folder / "slews.txt")
    parts = cell_parts(nl, lib, register_names(folder), lone, part_of)
    ops = details["measured_ops"]
    toggled = {bit for bit, net in nl.nets.items() if rises.get(net.name, 0) + falls.get(net.name, 0)}
    v2 = lib.voltage ** 2
    by_part, by_kind = defaultdict(float), defaultdict(float)

    def charge(inst, pj, clock=False):
        part = parts[inst]
        by_part[part + (":clock" if clock else "")] += pj / ops
        by_kind[nl.cells[inst][0]] += pj / ops

    for net in nl.nets.values():
        r, f = rises.get(net.name, 0), falls.get(net.name, 0)
        if not (r or f):
            continue
        cap = energy.load_capacitance(lib, net)
        if net.driver is not None:
            e_rise, e_fall = (driver_energy_toggling(lib, nl, net, cap, slews, toggled)
                              if toggling_arcs else energy.driver_energy(lib, net, cap, slews))
            charge(net.driver[0], r * e_rise + f * e_fall)
        clock = net.port == "input" and net.name == "clk"
        for inst, kind, pin in net.loads:
            c = lib.cell(kind).pins[pin].capacitance
            l_rise, l_fall = energy.load_pin_energy(lib, inst, kind, pin, slews)
            charge(inst, (r + f) * 0.5 * c * v2 + r * l_rise + f * l_fall, clock)
    per_period = details["ops_per_period"]
    for inst, (kind, _) in nl.cells.items():
        charge(inst, lib.cell(kind).leakage_nw * result["clock_ns"] * 1e-6 / per_period * ops)
    counts = defaultdict(int)
    for inst, (kind, _) in nl.cells.items():
        counts[(parts[inst], kind)] += 1
    flops_per_part = defaultdict(int)
    for (part, kind), n in counts.items():
        if kind.startswith("DFF"):
            flops_per_part[part] += n
    return {"module": result["module"], "toggling_arcs": toggling_arcs,
            "energy_pj_per_op": result["energy_pj_per_op"],
            "sum_pj_per_op": sum(by_part.values()), "clock_ns": result["clock_ns"],
            "ops_per_period": per_period,
            "by_part": dict(sorted(by_part.items(), key=lambda kv: -kv[1])),
            "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
            "flops_per_part": dict(flops_per_part)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--json", default=None)
    p.add_argument("--toggling-arcs", action="store_true",
                   help="average driver arcs only over inputs that toggled (not the flow's model)")
    args = p.parse_args(argv)
    b = breakdown(args.folder, toggling_arcs=args.toggling_arcs)
    if args.json:
        Path(args.json).write_text(json.dumps(b, indent=2) + "\n")
    print(f"{b['module']}: flow {b['energy_pj_per_op']:.3f} pJ/op, parts sum "
          f"{b['sum_pj_per_op']:.3f} (clock {b['clock_ns']} ns, {b['ops_per_period']} ops/cycle)")
    print("part              pJ/op    flip-flops")
    for part, pj in b["by_part"].items():
        print(f"  {part:16s}{pj:8.3f}  {b['flops_per_part'].get(part, '') if ':' not in part else ''}")
    print("cell type         pJ/op")
    for kind, pj in list(b["by_kind"].items())[:12]:
        print(f"  {kind:16s}{pj:8.3f}")


if __name__ == "__main__":
    sys.exit(main())
