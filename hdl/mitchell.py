"""Mitch-w multiplier as hardware: the circuit of golden.mitchell.mitch_mul.

    p = mitch_mul(a, b, n=N, w=w, variant=variant, signed=signed)      (2N-bit two's complement)

Datapath: sign handling -> per operand a leading-one detector and priority encoder (k) and a
normalizing left shifter that puts the leading one at bit N-1 and keeps the w-1 bits below it
(f) -> one adder for the log words {k, f} (a carry out of the fraction sum increments k, step 3
of the definition) -> antilog shifter ({1, s} << k, then drop w-1 bits) -> zero detection ->
sign handling of the result.

Ports
    a, b : in  N bits   operands (two's complement unless signed == "none")
    p    : out 2N bits  product
With ``registered=True`` the product goes through one register stage: ``p`` shows the product
of the operands presented before the last rising edge of ``clk`` (latency 1 cycle, one result
per cycle); the synchronous reset ``rst`` clears it to 0. Otherwise the unit is combinational.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.params import ParameterError, check_mitch_params


def module_name(n, w, variant, signed, registered=False):
    """The Verilog module name that encodes every parameter, e.g. mitch_mul_n16_w6_trunc_none."""
    return f"mitch_mul_n{n}_w{w}_{variant}_{signed}" + ("_reg" if registered else "")


def leading_one_position(m, x, width):
    """A priority encoder: floor(log2 x) of ``x`` (0 when x = 0), as a new signal."""
    k = Signal(range(width), name=f"{x.name}_k")
    for i in range(width):  # later statements win, so the highest set bit decides
        with m.If(x[i]):
            m.d.comb += k.eq(i)
    return k


class MitchMul(wiring.Component):
    """Mitch-w multiplier (see the module docstring for formula and protocol)."""

    def __init__(self, *, n, w, variant="trunc", signed="none", registered=False):
        try:
            check_mitch_params(n, w, variant, signed)
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.n, self.w, self.variant, self.signed = n, w, variant, signed
        self.registered = bool(registered)
        self.name = module_name(n, w, variant, signed, self.registered)
        super().__init__({"a": In(n), "b": In(n), "p": Out(2 * n)})

    def magnitude(self, m, x):
        """|x| for exact, x XOR sign (|x| - 1 when negative) for c1; x itself when unsigned."""
        n = self.n
        if self.signed == "none":
            return x, Const(0, 1)
        neg = x[n - 1]
        mag = Signal(n, name=f"{x.name}_mag")
        if self.signed == "exact":
            m.d.comb += mag.eq(Mux(neg, -x, x))
        else:
            m.d.comb += mag.eq(x ^ neg.replicate(n))
        return mag, neg

    def log_word(self, m, x):
        """{k, f}: leading-one position and the w-1 bits below the leading one."""
        n, w = self.n, self.w
        k = leading_one_position(m, x, n)
        shift = Signal(range(n), name=f"{x.name}_shift")
        normalized = Signal(n, name=f"{x.name}_norm")
        m.d.comb += [shift.eq((n - 1) - k), normalized.eq(x << shift)]
        f = Signal(w - 1, name=f"{x.name}_f")
        if w - 1 <= n - 1:
            m.d.comb += f.eq(normalized[n - w:n - 1])
        if self.variant == "unbiased":
            f = Cat(Const(1, 1), f[1:])
        return Cat(f, k)

    def elaborate(self, platform):
        m = Module()
        n, w = self.n, self.w
        mag_a, neg_a = self.magnitude(m, self.a)
        mag_b, neg_b = self.magnitude(m, self.b)

        log_sum = Signal(w - 1 + Shape.cast(range(2 * n)).width, name="log_sum")
        m.d.comb += log_sum.eq(self.log_word(m, mag_a) + self.log_word(m, mag_b))
        s, k = log_sum[:w - 1], log_sum[w - 1:]

        mantissa = Cat(s, Const(1, 1))                      # m = 2^(w-1) + s mod 2^(w-1)
        shifted = Signal(w + 2 * n, name="antilog")
        m.d.comb += shifted.eq(mantissa << k)
        product = Signal(2 * n, name="product")
        m.d.comb += product.eq(Mux((mag_a == 0) | (mag_b == 0), 0, shifted[w - 1:w - 1 + 2 * n]))

        result = Signal(2 * n, name="result")
        differ = neg_a ^ neg_b
        if self.signed == "none":
            m.d.comb += result.eq(product)
        elif self.signed == "exact":
            m.d.comb += result.eq(Mux(differ, -product, product))
        else:
            m.d.comb += result.eq(product ^ differ.replicate(2 * n))

        if self.registered:
            m.d.sync += self.p.eq(result)
        else:
            m.d.comb += self.p.eq(result)
        return m
