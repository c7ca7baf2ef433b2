"""bf16_mul as hardware: the circuit of golden.bf16_mul.bf16_mul (exact bf16 x bf16 -> fp32).

    P = (128 + fa) * (128 + fb);  n = P[15];  e = ea + eb - 127 + n
    p = {sa ^ sb, e, P << (9 - n) mod 2^23}, with Inf / NaN / FTZ overrides (golden/bf16_mul.py)

Datapath: unpack (Struct views) -> 8 x 8-bit significand multiplier (the hidden one is the
exponent-nonzero bit, so a flushed subnormal multiplies as 0) -> 10-bit signed exponent adder ->
1-bit normalizing mux -> overflow / underflow detection on the exponent -> special-case mux.
No rounding: the 16-bit product always fits the 24-bit fp32 significand.

Ports (combinational: p follows a and b, no clock)
    a, b : in  16 bits  bf16 patterns
    p    : out 32 bits  fp32 pattern of the exact product
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .floats import Bf16, Fp32, classify, drive_product


class Bf16Mul(wiring.Component):
    """Exact bf16 multiplier with fp32 output (see the module docstring)."""

    def __init__(self):
        self.name = "bf16_mul"
        super().__init__({"a": In(16), "b": In(16), "p": Out(32)})

    def elaborate(self, platform):
        m = Module()
        a, b, p = Bf16(self.a), Bf16(self.b), Fp32(self.p)
        zero_a, zero_b = classify(a)[2], classify(b)[2]     # hidden bit 0 for zero / subnormal
        prod = Signal(16)
        m.d.comb += prod.eq(Cat(a.fraction, ~zero_a) * Cat(b.fraction, ~zero_b))
        norm = prod[15]
        # the bits below the leading one, left-aligned in the 23-bit fraction
        frac = Signal(23)
        m.d.comb += frac.eq(Mux(norm, Cat(Const(0, 8), prod[:15]), Cat(Const(0, 9), prod[:14])))
        # biased sum in 10 signed bits: -127 + 0 .. 254 + 254 - 127 + 1 = 382
        exp = Signal(range(-128, 512))
        m.d.comb += exp.eq(a.exponent + b.exponent - 127 + norm)

        drive_product(m, a, b, p, exp, frac)
        return m
