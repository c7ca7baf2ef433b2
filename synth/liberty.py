"""The cell library as the energy model needs it, read from a Liberty file with liberty-parser.

For every cell: area, leakage power, and per pin its direction, input capacitance and the
internal-energy tables (``rise_power`` / ``fall_power`` of each ``internal_power`` group, with its
``related_pin``). Units are normalised on the way in: capacitance in pF, energy in pJ, leakage
power in nW, time in ns, so the rest of synth/ never sees a library unit.

Liberty's internal-power unit is voltage_unit² × capacitive_load_unit (1 V² × 1 pF = 1 pJ for
OSU018); that is how OpenSTA reads it too, which the cross-check in synth/flow.py relies on.
Tables are looked up by bilinear interpolation on their grid and linear extrapolation beyond it,
as static timing tools do.
"""

import functools
import re
from dataclasses import dataclass, field

import numpy as np
from liberty.parser import parse_liberty


# Scale factors from a Liberty unit to the unit used here (pF, ns, nW, V).
_CAP = {"ff": 1e-3, "pf": 1.0, "nf": 1e3}
_TIME = {"ps": 1e-3, "ns": 1.0, "us": 1e3}
_POWER = {"pw": 1e-3, "nw": 1.0, "uw": 1e3, "mw": 1e6, "w": 1e9}
_VOLT = {"mv": 1e-3, "v": 1.0}


def _unit(text, table, what):
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]+)\s*", str(text).strip('"'))
    if not m or m.group(2).lower() not in table:
        raise ValueError(f"unsupported Liberty {what} unit {text!r}")
    return float(m.group(1)) * table[m.group(2).lower()]


def _unquote(value):
    return str(value).strip().strip('"')


@dataclass(frozen=True)
class Table:
    """A Liberty lookup table over one or two named variables (values in library units)."""
    variables: tuple          # e.g. ("total_output_net_capacitance", "input_transition_time")
    index: tuple              # one 1-D array per variable
    values: np.ndarray        # shape (len(index[0]),) or (len(index[0]), len(index[1]))

    def lookup(self, **point):
        """The table at ``point`` (keyword per variable), interpolated / extrapolated linearly."""
        x = [point[v] for v in self.variables]
        if not x:
            return float(self.values)
        if len(x) == 1:
            return _lerp(self.index[0], self.values, x[0])
        rows = [_lerp(self.index[1], row, x[1]) for row in self.values]
        return _lerp(self.index[0], np.array(rows), x[0])


def _lerp(grid, values, x):
    """Piecewise-linear value at x; the end segments are extended beyond the grid."""
    grid = np.asarray(grid, dtype=float)
    if len(grid) == 1:
        return float(values[0])
    i = int(np.clip(np.searchsorted(grid, x) - 1, 0, len(grid) - 2))
    t = (x - grid[i]) / (grid[i + 1] - grid[i])
    return float(values[i] + t * (values[i + 1] - values[i]))


@dataclass(frozen=True)
class PowerArc:
    related_pin: str          # "" when the group names none
    rise: Table | None        # energy of a rising transition of the pin that owns the group (pJ)
    fall: Table | None


@dataclass(frozen=True)
class Pin:
    name: str
    direction: str            # "input" | "output" | "inout"
    capacitance: float        # pF
    power: tuple = ()         # PowerArc per internal_power group
    sense: dict = field(default_factory=dict)   # related pin -> timing_sense of its arc

    def input_edge(self, related_pin, output_edge):
        """Which edge of ``related_pin`` ("rise"/"fall"; None = either) makes ``output_edge``."""
        sense = self.sense.get(related_pin, "non_unate")
        if sense == "positive_unate":
            return output_edge
        if sense == "negative_unate":
            return "fall" if output_edge == "rise" else "rise"
        return None


@dataclass(frozen=True)
class Cell:
    name: str
    area: float               # library area unit (µm² for OSU018)
    leakage_nw: float
    pins: dict = field(default_factory=dict)

    @property
    def outputs(self):
        return [p for p in self.pins.values() if p.direction != "input"]


@dataclass(frozen=True)
class Library:
    name: str
    path: str
    voltage: float            # V, of the default operating conditions
    cells: dict

    def cell(self, name):
        try:
            return self.cells[name]
        except KeyError:
            raise KeyError(f"cell {name!r} is not in the liberty {self.name}") from None


def _templates(lib):
    out = {}
    for kind in ("power_lut_template", "lu_table_template"):
        for g in lib.get_groups(kind):
            out[_unquote(g.args[0])] = tuple(
                _unquote(g[k]) for k in ("variable_1", "variable_2") if g.get(k) is not None)
    return out


def _table(group, templates, scale):
    template = _unquote(group.args[0]) if group.args else ""
    if template == "scalar" or group.get("index_1") is None and template not in templates:
        # A constant (sky130 writes some clear/preset arcs' energy as a "scalar" table).
        value = float(np.asarray(group.get_array("values"), dtype=float).ravel()[0]) * scale
        return Table((), (), np.array(value))
    variables = templates.get(template, ("input_transition_time",))
    index = tuple(np.asarray(group.get_array(f"index_{i + 1}"), dtype=float).ravel()
                  for i in range(len(variables)))
    values = np.asarray(group.get_array("values"), dtype=float) * scale
    values = values.reshape([len(ix) for ix in index])
    return Table(variables, index, values)


def _pin(group, templates, cap_scale, energy_scale):
    arcs = []
    for ip in group.get_groups("internal_power"):
        tables = {}
        for kind in ("rise_power", "fall_power"):
            g = [t for t in ip.groups if t.group_name == kind]
            tables[kind] = _table(g[0], templates, energy_scale) if g else None
        related = ip.get("related_pin")
        arcs.append(PowerArc(_unquote(related) if related is not None else "",
                             tables["rise_power"], tables["fall_power"]))
    sense = {}
    for timing in group.get_groups("timing"):
        if timing.get("timing_sense") is not None:
            for related in _unquote(timing.get("related_pin", "")).split():
                sense[related] = _unquote(timing["timing_sense"])
    return Pin(_unquote(group.args[0]), _unquote(group.get("direction", "input")),
               float(group.get("capacitance", 0.0)) * cap_scale, tuple(arcs), sense)


@functools.lru_cache(maxsize=4)
def load_library(path):
    """Parse a Liberty file into a :class:`Library` (cached per path and process; the build
    copies of synth/libraries.py also keep it pickled beside the file)."""
    with open(path) as f:
        lib = parse_liberty(f.read())
    cap_value, cap_unit = lib.get_attributes("capacitive_load_unit")[0]
    cap_scale = float(cap_value) * _CAP[_unquote(cap_unit).lower()]
    volt_scale = _unit(lib["voltage_unit"], _VOLT, "voltage")
    leak_scale = _unit(lib["leakage_power_unit"], _POWER, "leakage power")
    energy_scale = volt_scale ** 2 * cap_scale          # V² × pF = pJ
    templates = _templates(lib)
    voltage = float(lib.get("nom_voltage", 0.0))
    for oc in lib.get_groups("operating_conditions"):
        if _unquote(oc.args[0]) == _unquote(lib.get("default_operating_conditions", "")):
            voltage = float(oc["voltage"])
    cells = {}
    for g in lib.get_groups("cell"):
        pins = {}
        for p in g.get_groups("pin"):
            pin = _pin(p, templates, cap_scale, energy_scale)
            pins[pin.name] = pin
        name = _unquote(g.args[0])
        cells[name] = Cell(name, float(g.get("area", 0.0)),
                           float(g.get("cell_leakage_power", 0.0)) * leak_scale, pins)
    return Library(_unquote(lib.args[0]), str(path), voltage * volt_scale, cells)
