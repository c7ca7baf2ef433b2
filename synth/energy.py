r"""Energy per operation from counted toggles, priced with the liberty.

For every net n with R_n rising and F_n falling transitions counted over ``ops`` operations
(synth/gatesim.py), load capacitance C_n = sum of the input-pin capacitances it drives (no wire
capacitance: the flow has no placement; top-level outputs are unloaded), supply voltage V:

    E_switch(n) = (R_n + F_n) · ½ · C_n · V²
    E_int(n)    = R_n · e_rise(d, C_n, s) + F_n · e_fall(d, C_n, s)
                  + Σ_{input pins l on n} (R_n · e_rise(l, s_l) + F_n · e_fall(l, s_l))
    E_op        = Σ_n (E_switch(n) + E_int(n)) / ops  +  P_leak · T_clk / k

where e_rise / e_fall(d, C, s) are the ``internal_power`` rise/fall tables of the output pin d
that drives n (by output transition), looked up at output load C and input transition s, and
averaged over the pin's arcs (its related pins: the simulation does not record which input
caused a toggle); s is the slew at the related pin of the edge that causes the output edge
(by the arc's timing_sense; non-unate arcs use the mean of both), as OpenSTA computes the slews
on the same netlist. Input pins with their own internal_power (flip-flop
CLK and D pins) add their tables at their own slew. P_leak is the sum of the cells'
``cell_leakage_power``, T_clk the clock period and k the operations per period (1 for a unit;
R·C for an R × C systolic array, whose operation is one MAC). Nets driven by a
top-level input count their switching energy (the unit's input capacitance is charged per
operation whoever drives it) but have no driver internal energy.
"""

from dataclasses import dataclass

DEFAULT_SLEW_NS = 0.1     # slew assumed at top-level inputs (the STA script sets the same)


@dataclass
class EnergyReport:
    ops: int
    switching_pj: float       # per operation
    internal_pj: float        # per operation: driver arcs + input-pin tables
    leakage_pj: float         # per operation
    leakage_nw: float
    toggles_per_op: float
    nets: int

    @property
    def dynamic_pj(self):
        return self.switching_pj + self.internal_pj

    @property
    def total_pj(self):
        return self.dynamic_pj + self.leakage_pj


def _point(cap, slew):
    # The names Liberty templates use for the two variables of a power table.
    return {"total_output_net_capacitance": cap, "input_transition_time": slew,
            "input_net_transition": slew}


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else 0.0


def pin_slew(slews, inst, pin, edge=None):
    """Slew (ns) at ``inst/pin`` for a rising or falling edge (None: their mean)."""
    rise_fall = slews.get(f"{inst}/{pin}")
    if rise_fall is None:
        return DEFAULT_SLEW_NS
    if edge is None:
        return (rise_fall[0] + rise_fall[1]) / 2
    return rise_fall[0] if edge == "rise" else rise_fall[1]


def driver_energy(library, net, cap, slews):
    """(rise, fall) internal energy in pJ of one transition of ``net``'s driving output pin."""
    if net.driver is None:
        return 0.0, 0.0
    inst, kind, pin = net.driver
    out = library.cell(kind).pins[pin]

    def arc_energy(arc, edge):
        table = arc.rise if edge == "rise" else arc.fall
        if table is None:
            return None
        slew = pin_slew(slews, inst, arc.related_pin, out.input_edge(arc.related_pin, edge))
        return table.lookup(**_point(cap, slew))

    return (_mean(arc_energy(a, "rise") for a in out.power),
            _mean(arc_energy(a, "fall") for a in out.power))


def load_pin_energy(library, inst, kind, pin, slews):
    """(rise, fall) internal energy in pJ of one transition at an input pin (0 for most cells)."""
    arcs = library.cell(kind).pins[pin].power
    rise, fall = pin_slew(slews, inst, pin, "rise"), pin_slew(slews, inst, pin, "fall")
    return (_mean(a.rise.lookup(**_point(0.0, rise)) if a.rise else None for a in arcs),
            _mean(a.fall.lookup(**_point(0.0, fall)) if a.fall else None for a in arcs))


def load_capacitance(library, net):
    return sum(library.cell(kind).pins[pin].capacitance for _, kind, pin in net.loads)


def price(netlist, library, rises, falls, *, ops, clock_ns, slews=None, ops_per_period=1):
    """The :class:`EnergyReport` of toggles ``rises`` / ``falls`` (net name -> count)."""
    if ops < 1 or ops_per_period < 1:
        raise ValueError("price(): ops and ops_per_period must be >= 1")
    slews = slews or {}
    v2 = library.voltage ** 2
    switching = internal = 0.0
    toggles = 0
    for net in netlist.nets.values():
        if not net.loads and net.driver is None:
            continue
        if net.name not in rises:
            raise KeyError(f"no toggle count for net {net.name} (was it dumped?)")
        r, f = rises[net.name], falls[net.name]
        toggles += r + f
        if not r and not f:
            continue
        cap = load_capacitance(library, net)
        switching += (r + f) * 0.5 * cap * v2
        e_rise, e_fall = driver_energy(library, net, cap, slews)
        internal += r * e_rise + f * e_fall
        for inst, kind, pin in net.loads:
            l_rise, l_fall = load_pin_energy(library, inst, kind, pin, slews)
            internal += r * l_rise + f * l_fall
    leak_nw = sum(library.cell(kind).leakage_nw for kind, _ in netlist.cells.values())
    return EnergyReport(ops, switching / ops, internal / ops, leak_nw * clock_ns * 1e-6 / ops_per_period,
                        leak_nw, toggles / ops, len(netlist.nets))
