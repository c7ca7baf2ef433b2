"""The mapped netlist as a graph of nets: who drives each net, which cell pins load it.

Read from the JSON that synth/synth.ys writes next to the Verilog netlist (the same design
state, and ``rename -enumerate`` has given every wire a public name, so the JSON's names are the
Verilog's names and the VCD's names). A *net* is one Yosys bit id; constants ("0", "1", "x")
are not nets. Pin directions come from the liberty, since the JSON holds the library cells as
black boxes.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Net:
    bit: int
    name: str                    # "wire" or "wire[i]": how the simulator names this bit
    driver: tuple | None = None  # (instance, cell type, pin) of the driving cell output
    port: str = ""               # "input" / "output" when the net is a top-level port bit
    loads: list = field(default_factory=list)   # (instance, cell type, pin) of each input pin


@dataclass
class Netlist:
    top: str
    ports: dict                  # port name -> (direction, [bit ids or constants], lsb index)
    cells: dict                  # instance -> (cell type, {pin: bit id or constant})
    nets: dict                   # bit id -> Net

    def cell_counts(self):
        counts = {}
        for kind, _ in self.cells.values():
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))


def _bit_names(netnames):
    """bit id -> (wire, index or None); ports and short names win, so the choice is stable."""
    names = {}
    for wire in sorted(netnames, key=lambda w: (len(w), w)):
        info = netnames[wire]
        bits, offset = info["bits"], info.get("offset", 0)
        for i, bit in enumerate(bits):
            if isinstance(bit, int) and bit not in names:
                names[bit] = (wire, None if len(bits) == 1 and offset == 0 and not info.get("upto")
                              else offset + i)
    return names


def read_netlist(path, library):
    """Read ``netlist.json`` (Yosys ``write_json``) of a flat design mapped to ``library``."""
    data = json.loads(Path(path).read_text())
    # Yosys marks the top module with attribute top = 1 (written as a binary string).
    tops = [name for name, m in data["modules"].items()
            if int(m.get("attributes", {}).get("top", "0"), 2)]
    if len(tops) != 1:
        raise ValueError(f"{path}: expected one top module, got {sorted(data['modules'])}")
    top = tops[0]
    module = data["modules"][top]
    names = _bit_names(module["netnames"])
    nets = {}

    def net(bit):
        if bit not in nets:
            wire, index = names[bit]
            nets[bit] = Net(bit, wire if index is None else f"{wire}[{index}]")
        return nets[bit]

    ports = {}
    for pname, p in module["ports"].items():
        ports[pname] = (p["direction"], p["bits"], module["netnames"][pname].get("offset", 0))
        for bit in p["bits"]:
            if isinstance(bit, int):
                net(bit).port = p["direction"]

    cells = {}
    for inst, c in sorted(module["cells"].items()):
        cell = library.cell(c["type"])
        conns = {}
        for pin, bits in c["connections"].items():
            if len(bits) != 1:
                raise ValueError(f"{inst}.{pin}: library pins are 1 bit wide, got {len(bits)}")
            bit = bits[0]
            conns[pin] = bit
            if not isinstance(bit, int):
                continue
            if cell.pins[pin].direction == "input":
                net(bit).loads.append((inst, c["type"], pin))
            else:
                n = net(bit)
                if n.driver is not None:
                    raise ValueError(f"net {n.name} has two drivers: {n.driver} and {inst}.{pin}")
                n.driver = (inst, c["type"], pin)
        cells[inst] = (c["type"], conns)
    return Netlist(top, ports, cells, dict(sorted(nets.items())))
