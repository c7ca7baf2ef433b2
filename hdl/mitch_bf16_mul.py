r"""Mitch-w bf16 multiplier as hardware: the circuit of golden.mitch_bf16_mul.mitch_bf16_mul.

    p = mitch_bf16_mul(a, b, w=w, variant=variant)       bf16 x bf16 -> fp32, exact, no rounding

Datapath: field split (Bf16/Fp32 Struct views of hdl.floats) -> per operand the top w-1
fraction bits (unbiased: lowest forced to 1) -> one w-bit fraction adder s = fa' + fb' whose
carry c = s[w-1] is the exponent increment -> exponent adder ea + eb - 127 + c -> overflow /
underflow / special-value mux (NaN -> 0x7FC00000, Inf, FTZ zero), sign XOR. The fp32 fraction is
s mod 2^(w-1), left-aligned, in both cases of c: golden's P has its leading one at bit 14 + c
and s's low w-1 bits directly below it, so no normalizing shifter is needed.

This is Mitch-w (golden.mitchell, step 3) specialized to operands whose leading one is the
hidden bit: no leading-one detector, no normalizing or antilog shifter. hdl.mitchell.MitchMul
(n=8) is not reused: with the constant hidden bit, Amaranth's Verilog holds its folded priority
encoders as ``always @*`` blocks that read no signal, which Icarus never runs (its outputs stay
X), and a non-constant hidden bit keeps two real leading-one detectors (+146 / +188 gates for
w = 4 / 8, Yosys + ABC). Equality with golden (which reuses golden.mitchell) is checked by
co-simulation on every significand pair.

Ports
    a, b : in  16 bits   bf16 bit patterns
    p    : out 32 bits   fp32 bit pattern
Protocol: combinational (p follows a, b).
"""

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.mitch_bf16_mul import check_mitch_bf16_params
from golden.params import ParameterError

from .floats import Bf16, Fp32, drive_product


def module_name(w, variant):
    """The Verilog module name, e.g. mitch_bf16_mul_w6_trunc."""
    return f"mitch_bf16_mul_w{w}_{variant}"


class MitchBf16Mul(wiring.Component):
    """bf16 x bf16 -> fp32 with a Mitch-w significand product (see the module docstring)."""

    def __init__(self, *, w, variant="trunc"):
        try:
            check_mitch_bf16_params(w, variant)
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.w, self.variant = w, variant
        self.name = module_name(w, variant)
        super().__init__({"a": In(16), "b": In(16), "p": Out(32)})

    def elaborate(self, platform):
        m = Module()
        w = self.w
        a, b, p = Bf16(self.a), Bf16(self.b), Fp32(self.p)

        kept_a, kept_b = a.fraction[8 - w:], b.fraction[8 - w:]     # the top w-1 bits
        if self.variant == "unbiased":                 # midpoint of the dropped remainder
            kept_a, kept_b = Cat(Const(1, 1), kept_a[1:]), Cat(Const(1, 1), kept_b[1:])
        s = Signal(w, name="frac_sum")
        m.d.comb += s.eq(kept_a + kept_b)
        carry = s[w - 1]
        exp = Signal(signed(10), name="exp")           # -125 .. 254 + 254 - 127 + 1 = 382
        m.d.comb += exp.eq(a.exponent + b.exponent - 127 + carry)

        drive_product(m, a, b, p, exp, Cat(Const(0, 23 - (w - 1)), s[:w - 1]))
        return m
