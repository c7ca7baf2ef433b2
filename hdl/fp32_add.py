"""fp32_add as hardware: the circuit of golden.fp32_add.fp32_add (RNE binary32 addition, FTZ).

    s = round_RNE(x + y), subnormal inputs and results flushed to signed zero,
        NaN in or Inf - Inf -> 0x7FC00000, overflow -> +-Inf          (golden/fp32_add.py)

Datapath, in the order of the golden model's steps:
magnitude comparator and swap (B = larger |.|) -> 8-bit exponent difference, clamped to 27 ->
alignment shifter of S's {1, fraction, 000} with a sticky OR of the bits shifted out ->
27-bit adder / subtractor -> carry right-shift or leading-zero count + normalizing left shifter
-> RNE increment on {significand, guard, round | sticky} with carry-out renormalization ->
exponent overflow / underflow detection -> special-case mux (NaN, Inf, signed zero).

Ports (combinational: s follows x and y, no clock)
    x, y : in  32 bits  fp32 patterns
    s    : out 32 bits  fp32 pattern of the rounded sum
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .floats import QNAN_FP32, Fp32, classify
from .mitchell import leading_one_position

WIDTH = 27          # 24-bit significand + guard, round, sticky


class Fp32Add(wiring.Component):
    """Round-to-nearest-even binary32 adder (see the module docstring)."""

    def __init__(self):
        self.name = "fp32_add"
        super().__init__({"x": In(32), "y": In(32), "s": Out(32)})

    def elaborate(self, platform):
        m = Module()
        x, y, s = Fp32(self.x), Fp32(self.y), Fp32(self.s)
        nan_x, inf_x, zero_x = classify(x)
        nan_y, inf_y, zero_y = classify(y)

        # FTZ: a subnormal's magnitude becomes 0, so it compares and adds as a zero
        mag_x, mag_y = Signal(31), Signal(31)
        m.d.comb += [mag_x.eq(Mux(zero_x, 0, self.x[:31])), mag_y.eq(Mux(zero_y, 0, self.y[:31]))]
        x_big = mag_x >= mag_y
        big, small = Fp32(Signal(32)), Fp32(Signal(32))
        m.d.comb += [big.eq(Mux(x_big, Cat(mag_x, x.sign), Cat(mag_y, y.sign))),
                     small.eq(Mux(x_big, Cat(mag_y, y.sign), Cat(mag_x, x.sign)))]
        sub = big.sign ^ small.sign

        sig_big = Cat(Const(0, 3), big.fraction, big.exponent.any())     # hidden one unless zero
        sig_small = Cat(Const(0, 3), small.fraction, small.exponent.any())

        diff = Signal(8)
        shift = Signal(range(WIDTH + 1))
        m.d.comb += [diff.eq(big.exponent - small.exponent),
                     shift.eq(Mux(diff > WIDTH, WIDTH, diff))]   # from 27 on, all bits are sticky
        wide = Signal(2 * WIDTH)
        m.d.comb += wide.eq(Cat(Const(0, WIDTH), sig_small) >> shift)
        aligned = Signal(WIDTH)
        m.d.comb += aligned.eq(wide[WIDTH:] | wide[:WIDTH].any())

        z = Signal(WIDTH + 1)
        m.d.comb += z.eq(Mux(sub, sig_big - aligned, sig_big + aligned))
        carry = z[WIDTH]
        z_low = Signal(WIDTH)
        m.d.comb += z_low.eq(z[:WIDTH])
        top = leading_one_position(m, z_low, WIDTH)
        lz = Signal(range(WIDTH))
        m.d.comb += lz.eq(WIDTH - 1 - top)

        norm = Signal(WIDTH)
        m.d.comb += norm.eq(Mux(carry, Cat(z[0] | z[1], z[2:]), z_low << lz))
        exp = Signal(range(-WIDTH, 512))
        # on a carry the leading-zero count is meaningless (z_low lost its top bit): bypass it
        m.d.comb += exp.eq(Mux(carry, big.exponent + 1, big.exponent - lz))

        sig, guard, rest = norm[3:], norm[2], norm[:2].any()
        rounded = Signal(25)
        m.d.comb += rounded.eq(sig + (guard & (rest | sig[0])))
        exp_r = Signal(range(-WIDTH, 512))
        # a carry out of the rounding leaves rounded = 2^24, whose low 23 bits are already the
        # zero fraction of the renormalized result: only the exponent needs the increment
        m.d.comb += exp_r.eq(exp + rounded[24])

        with m.If(nan_x | nan_y | (inf_x & inf_y & (x.sign ^ y.sign))):
            m.d.comb += self.s.eq(QNAN_FP32)
        with m.Elif(inf_x):
            m.d.comb += self.s.eq(self.x)
        with m.Elif(inf_y):
            m.d.comb += self.s.eq(self.y)
        with m.Elif(z == 0):
            m.d.comb += s.sign.eq(big.sign & ~sub)          # x + (-x) = +0; -0 + -0 = -0
        with m.Elif(exp_r <= 0):
            m.d.comb += s.sign.eq(big.sign)                 # FTZ of a result below 2^-126
        with m.Elif(exp_r >= 255):
            m.d.comb += [s.sign.eq(big.sign), s.exponent.eq(255)]
        with m.Else():
            m.d.comb += [s.sign.eq(big.sign), s.exponent.eq(exp_r[:8]), s.fraction.eq(rounded[:23])]
        return m
