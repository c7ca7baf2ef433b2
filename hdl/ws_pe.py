r"""The processing element of the weight-stationary array (hdl/systolic_ws.py).

On every rising edge (all four actions are independent; each reads the values before the edge):

    load  -> shadow <- north.w                          (weights shift down the column)
    swap  -> weight <- shadow                           (the next weights become active)
    en    -> south.psum <- add(north.psum, mul(west.a, weight))
    always   east.a <- west.a                           (activations move east)

``south.w`` is ``shadow`` (the PE below shifts it in), ``south.psum`` the partial-sum register,
``east.a`` the activation register. ``mul`` and ``add`` are the catalogued MAC's own multiplier
and accumulate adder (hdl.mac: ``multiplier()`` and ``accumulate()`` of the MAC named by ``pe``),
so a PE computes exactly golden.mac's ``spec.add(psum, spec.mul(a, w))``: for float PEs
``fp32_add(psum, bf16 product)`` (psum first, as the MAC's ``add(acc, p)``), for integer PEs
``psum + extend(product) mod 2^A``. Two weight registers (shadow and active) let the next
weights load while the current ones are in use. No register of a PE has a reset: the array
resets only its control (see hdl/systolic_ws.py).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.params import ParameterError, check_choice
from golden.systolic import WS_PE_UNITS as PE_UNITS
from hdl.catalogue import get_unit


class RowLink(wiring.Signature):
    """An activation moving east: ``a`` (Wa bits), driven by the west side."""

    def __init__(self, a_width):
        self.a_width = a_width
        super().__init__({"a": Out(a_width)})

    def __eq__(self, other):
        return type(other) is type(self) and other.a_width == self.a_width

    def __hash__(self):
        return hash((type(self), self.a_width))


class ColumnLink(wiring.Signature):
    """What moves south down a column: a weight ``w`` (Wb bits, while loading) and a partial
    sum ``psum`` (Wacc bits), both driven by the north side."""

    def __init__(self, w_width, psum_width):
        self.w_width, self.psum_width = w_width, psum_width
        super().__init__({"w": Out(w_width), "psum": Out(psum_width)})

    def __eq__(self, other):
        return (type(other) is type(self) and
                (other.w_width, other.psum_width) == (self.w_width, self.psum_width))

    def __hash__(self):
        return hash((type(self), self.w_width, self.psum_width))


class WsPeSignature(wiring.Signature):
    """The ports of a weight-stationary PE (clk is the ``sync`` domain's; no reset is used).

    Parameters
    ----------
    a_width, w_width, psum_width : int
        Bits of an activation, a weight and a partial sum.

    Attributes
    ----------
    west : In(RowLink)
        The activation of this cycle.
    east : Out(RowLink)
        The activation, one cycle later (to the PE on the east).
    north : In(ColumnLink)
        The weight to shift in and the partial sum to add to.
    south : Out(ColumnLink)
        This PE's shadow weight and partial-sum register (to the PE below).
    en, load, swap : In(1)
        Multiply-add this cycle; shift ``north.w`` into the shadow; make the shadow active.
    """

    def __init__(self, a_width, w_width, psum_width):
        self.widths = (a_width, w_width, psum_width)
        super().__init__({
            "west": In(RowLink(a_width)), "east": Out(RowLink(a_width)),
            "north": In(ColumnLink(w_width, psum_width)),
            "south": Out(ColumnLink(w_width, psum_width)),
            "en": In(1), "load": In(1), "swap": In(1)})

    def __eq__(self, other):
        return type(other) is type(self) and other.widths == self.widths

    def __hash__(self):
        return hash((type(self), self.widths))


def mac_template(pe, pe_params):
    """The catalogued MAC whose multiplier and adder a WS PE uses (built, never elaborated).

    Raises
    ------
    golden.params.ParameterError
        An unknown PE, a bad PE parameter, or a MAC option a WS PE does not have
        (pipeline, gate_zero)."""
    check_choice("pe", pe, PE_UNITS)
    unsupported = sorted(k for k in ("pipeline", "gate_zero") if pe_params.get(k))
    if unsupported:
        raise ParameterError(f"systolic_ws PEs have no {', '.join(unsupported)} option "
                             f"(the output-stationary systolic array has)")
    params = {k: v for k, v in pe_params.items() if k not in ("pipeline", "gate_zero")}
    mac = get_unit(pe).build(**params)
    mac._MustUse__silence = True
    return mac


class WsPe(wiring.Component):
    """One weight-stationary PE (see the module docstring for what it computes).

    Parameters
    ----------
    pe : str
        The catalogued MAC whose multiplier and adder it uses, one of PE_UNITS.
    pe_params
        That MAC's parameters (n, w, variant, signed, acc_width as it takes them).

    Raises
    ------
    golden.params.ParameterError
        As :func:`mac_template`.
    """

    def __init__(self, pe, **pe_params):
        try:
            self.mac = mac_template(pe, pe_params)
        except ParameterError:
            self._MustUse__silence = True
            raise
        w = len(self.mac.a)
        self.a_width = self.w_width = w
        self.psum_width = len(self.mac.acc)
        self.name = f"ws_pe_{self.mac.name}"
        super().__init__(WsPeSignature(w, w, self.psum_width))

    def elaborate(self, platform):
        m = Module()
        shadow = Signal(self.w_width, name="shadow", reset_less=True)
        weight = Signal(self.w_width, name="weight", reset_less=True)
        psum = Signal(self.psum_width, name="psum", reset_less=True)
        a = Signal(self.a_width, name="a_east", reset_less=True)
        m.submodules.mul = mul = self.mac.multiplier()
        m.d.comb += [mul.a.eq(self.west.a), mul.b.eq(weight)]
        total = self.mac.accumulate(m, self.north.psum, mul.p)
        with m.If(self.load):
            m.d.sync += shadow.eq(self.north.w)
        with m.If(self.swap):
            m.d.sync += weight.eq(shadow)
        with m.If(self.en):
            m.d.sync += psum.eq(total)
        m.d.sync += a.eq(self.west.a)
        m.d.comb += [self.east.a.eq(a), self.south.w.eq(shadow), self.south.psum.eq(psum)]
        return m
