r"""Exact integer multiplier as hardware: the circuit of golden.int_mul.int_mul.

    p = a * b       (2N bits, exact)

``signed="none"``: unsigned operands and product; ``signed="exact"``: two's-complement operands
and product (the same mode names as mitch_mul; ``c1`` does not apply to an exact multiplier).
The product is written as one ``*`` so that synthesis picks its multiplier architecture
(Yosys's Booth/array mapping), as a designer using an exact MAC as the baseline would.

Ports
    a, b : in  N bits   operands
    p    : out 2N bits  product
Protocol: combinational (p follows a, b).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.int_mul import check_int_mul_params
from golden.params import ParameterError


def module_name(n, signed):
    """The Verilog module name, e.g. int_mul_n16_exact."""
    return f"int_mul_n{n}_{signed}"


class IntMul(wiring.Component):
    """Exact N x N -> 2N multiplier (see the module docstring)."""

    def __init__(self, *, n, signed="exact"):
        try:
            check_int_mul_params(n, signed)
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.n, self.signed = n, signed
        self.name = module_name(n, signed)
        super().__init__({"a": In(n), "b": In(n), "p": Out(2 * n)})

    def elaborate(self, platform):
        m = Module()
        if self.signed == "exact":
            m.d.comb += self.p.eq(self.a.as_signed() * self.b.as_signed())
        else:
            m.d.comb += self.p.eq(self.a * self.b)
        return m
