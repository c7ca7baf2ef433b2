r"""Multiply-accumulate units: one clocked MAC shell around a multiplier and an accumulate adder.

The circuit of golden/mac.py (which defines the arithmetic):

    rst                 -> acc <- 0                              (synchronous, highest priority)
    en (and not rst)    -> acc <- add(clr ? 0 : acc, mul(a, b))
    otherwise           -> acc holds                             (clr without en does nothing)

    unit             multiplier (submodule)                  adder                       acc
    bf16_mac         hdl.bf16_mul.Bf16Mul                    hdl.fp32_add.Fp32Add        fp32
    mitch_bf16_mac   hdl.mitch_bf16_mul.MitchBf16Mul(w, v)   Fp32Add                     fp32
    int_mac          hdl.int_mul.IntMul(n, "exact")          A-bit adder, wraps mod 2^A  A bits
    mitch_mac        hdl.mitchell.MitchMul(n, w, v, signed)  A-bit adder, wraps mod 2^A  A bits

The integer adder sign-extends the 2N-bit product (zero-extends it for signed="none") to
A = acc_width bits (default 2N + 8, 64 for N > 28; allowed N..64) and keeps the low A bits of the sum
(below 2N the product wraps too: still exact modulo 2^A).

Ports
    clk, rst : in  1      clock; synchronous reset (acc <- 0)
    en, clr  : in  1      accumulate this cycle; start from 0 instead of acc
    a, b     : in  16 (bf16 patterns) or N (integers; two's complement unless signed="none")
    acc      : out 32 (fp32 pattern) or A bits
Timing: one MAC per cycle; ``acc`` shows the result of the inputs present at a rising edge right
after that edge (latency 1 cycle). The multiply and the add form one combinational path; clr
selects add(0, p) (p itself, -0 -> +0 for fp32) after the adder, so it is off that path.

``pipeline=1`` puts a register stage (the product, en and clr; cleared by rst) between the
multiplier and the accumulate adder: acc shows the result of an edge's inputs after the next
edge (latency 2 cycles, ``latency`` attribute), still one MAC per cycle; the module name ends in
``_p1``. golden.mac.mac_run(..., pipeline=1) models it.

``gate_zero=True`` (module name ``..._zg``): the operands, en and clr enter through one more
register stage (latency + 1; golden mac_run(..., pipeline=stages) with one more stage). When the
product is known to be zero from the operands (``product_is_zero``: a = 0 or b = 0; for floats a
zero/subnormal times a finite value; for signed="c1" see IntegerMac.product_is_zero), that
operand register holds, so the multiplier's inputs do not move, and the accumulate is skipped
(acc holds; with clr acc <- 0). The results are the ungated ones, one stage later: adding a zero
product never changes acc. ``latency`` = 1 + pipeline + gate_zero.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.mac import mac_spec
from golden.params import ParameterError, check_int

from .bf16_mul import Bf16Mul
from .fp32_add import Fp32Add
from .int_mul import IntMul
from .mitch_bf16_mul import MitchBf16Mul
from .mitchell import MitchMul


class MacSignature(wiring.Signature):
    """The port protocol of every MAC (clk and rst are the ``sync`` domain's).

    Parameters
    ----------
    operand_width : int
        Bits of ``a`` and ``b`` (16 for bf16 patterns, N for integers).
    acc_width : int
        Bits of ``acc`` (32 for an fp32 accumulator, A for integers).

    Attributes
    ----------
    en : In(1)
        Accumulate this cycle: ``acc <- add(clr ? 0 : acc, mul(a, b))`` at the rising edge.
    clr : In(1)
        With ``en``: start from 0 instead of ``acc``.
    a, b : In(operand_width)
        The operands.
    acc : Out(acc_width)
        The accumulator register.
    """

    def __init__(self, operand_width, acc_width):
        self.operand_width, self.acc_width = operand_width, acc_width
        super().__init__({"en": In(1), "clr": In(1), "a": In(operand_width),
                          "b": In(operand_width), "acc": Out(acc_width)})

    def __eq__(self, other):
        return (type(other) is type(self) and
                (self.operand_width, self.acc_width) == (other.operand_width, other.acc_width))

    def __hash__(self):
        return hash((type(self), self.operand_width, self.acc_width))

    def __repr__(self):
        return f"MacSignature({self.operand_width}, {self.acc_width})"


class MacShell(wiring.Component):
    """The register, enable, clear and reset around ``multiplier()`` and ``accumulate()``."""

    def __init__(self, unit, params, operand_width, pipeline=0, gate_zero=False):
        try:
            self.spec = mac_spec(unit, **params)       # the one parameter check, in golden/
            self.pipeline = check_int("pipeline", pipeline, 0, 1)
            if not isinstance(gate_zero, bool):
                raise ParameterError(f"gate_zero must be True or False, got {gate_zero!r}")
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.unit, self.params, self.gate_zero = unit, params, gate_zero
        self.latency = 1 + self.pipeline + gate_zero
        self.acc_width = self.spec.acc_width or 32
        self.name = (self.module_name() + ("_p1" if self.pipeline else "")
                     + ("_zg" if gate_zero else ""))
        super().__init__(MacSignature(operand_width, self.acc_width))

    def elaborate(self, platform):
        m = Module()
        m.submodules.mul = mul = self.multiplier()
        a, b, en, clr = self.a, self.b, self.en, self.clr
        if self.gate_zero:
            # The operands enter through a register that holds them when the product is known
            # to be zero: the multiplier's inputs then do not move at all. (A hold mux behind the
            # ports instead lets each new operand glitch through before the zero test settles.)
            skip = Signal(name="zero_product")
            a, b = Signal.like(self.a, name="a_stage"), Signal.like(self.b, name="b_stage")
            en, clr = Signal(name="en_in_stage"), Signal(name="clr_in_stage")
            zero = self.product_is_zero(self.a, self.b)
            with m.If(~zero):
                m.d.sync += [a.eq(self.a), b.eq(self.b)]
            m.d.sync += [en.eq(self.en), clr.eq(self.clr), skip.eq(zero)]
        m.d.comb += [mul.a.eq(a), mul.b.eq(b)]
        product = mul.p
        if self.pipeline:
            product = Signal.like(mul.p, name="product")
            en_stage, clr_stage = Signal(name="en_stage"), Signal(name="clr_stage")
            m.d.sync += [product.eq(mul.p), en_stage.eq(en), clr_stage.eq(clr)]
            en, clr = en_stage, clr_stage
            if self.gate_zero:
                skip_stage = Signal(name="zero_product_stage")
                m.d.sync += skip_stage.eq(skip)
                skip = skip_stage
        # clr picks add(0, p) after the adder instead of zeroing the adder's input: the control
        # signal (one net to every acc bit, the highest fanout of the MAC) then meets the data only
        # at the last gate before the register, off the multiply-add path.
        total = self.accumulate(m, self.acc, product)
        # Amaranth's sync domain has a synchronous reset: rst clears acc whatever en says.
        with m.If(en):
            if self.gate_zero:
                with m.If(skip):
                    with m.If(clr):
                        m.d.sync += self.acc.eq(0)        # add(0, +-0) = +0 (0 for integers)
                with m.Else():
                    m.d.sync += self.acc.eq(Mux(clr, self.start(product), total))
            else:
                m.d.sync += self.acc.eq(Mux(clr, self.start(product), total))
        return m


class FloatMac(MacShell):
    """fp32 accumulator: acc <- fp32_add(addend, product) through an Fp32Add submodule."""

    def __init__(self, unit, params, pipeline=0, gate_zero=False):
        super().__init__(unit, params, 16, pipeline, gate_zero)

    def accumulate(self, m, addend, product):
        m.submodules.add = add = Fp32Add()
        m.d.comb += [add.x.eq(addend), add.y.eq(product)]
        return add.s

    def start(self, product):
        """fp32_add(+0, p) without an adder: p itself, except -0 -> +0 (RNE: +0 + -0 = +0).
        Exact because a product is never subnormal (FTZ) and its NaN is the canonical one."""
        return Mux(product == 0x8000_0000, 0, product)

    def product_is_zero(self, a, b):
        """A zero or subnormal (flushed) operand times a finite one: the product is +-0, and
        fp32_add(acc, +-0) = acc for every acc a MAC can hold (never -0: it starts at +0,
        clr gives add(+0, p), and only -0 + -0 is -0; never subnormal: FTZ)."""
        ea, eb = a[7:15], b[7:15]
        return ((ea == 0) & (eb != 0xFF)) | ((eb == 0) & (ea != 0xFF))


class IntegerMac(MacShell):
    """A-bit wrap-around accumulator: acc <- (addend + extend(product)) mod 2^A."""

    def accumulate(self, m, addend, product):
        total = Signal(self.acc_width, name="total")
        m.d.comb += total.eq(addend + self.start(product))   # .eq keeps the low A bits: mod 2^A
        return total

    def start(self, product):
        """0 + p mod 2^A: the product sign-extended (zero-extended for signed="none") to A bits."""
        return product if self.signed == "none" else product.as_signed()

    def product_is_zero(self, a, b):
        """a = 0 or b = 0. signed="c1" multiplies the magnitudes |x| - 1 of negative operands
        and inverts a result of differing signs: the product is 0 only when a magnitude is 0
        (x = 0 or x = -1) and the signs agree (0 x -5 = -1 is not skipped)."""
        if self.signed != "c1":
            return (a == 0) | (b == 0)
        n = len(a)
        zero_mag = lambda x: (x == 0) | (x == (1 << n) - 1)                  # noqa: E731
        return (zero_mag(a) | zero_mag(b)) & (a[n - 1] == b[n - 1])


class Bf16Mac(FloatMac):
    """bf16_mac: acc <- fp32_add(clr ? +0 : acc, bf16_mul(a, b))."""

    def __init__(self, *, pipeline=0, gate_zero=False):
        super().__init__("bf16_mac", {}, pipeline, gate_zero)

    def module_name(self):
        return "bf16_mac"

    def multiplier(self):
        return Bf16Mul()


class MitchBf16Mac(FloatMac):
    """mitch_bf16_mac: acc <- fp32_add(clr ? +0 : acc, mitch_bf16_mul(a, b, w, variant))."""

    def __init__(self, *, w, variant="trunc", pipeline=0, gate_zero=False):
        self.w, self.variant = w, variant
        super().__init__("mitch_bf16_mac", {"w": w, "variant": variant}, pipeline, gate_zero)

    def module_name(self):
        return f"mitch_bf16_mac_w{self.w}_{self.variant}"

    def multiplier(self):
        return MitchBf16Mul(w=self.w, variant=self.variant)


class IntMac(IntegerMac):
    """int_mac: acc <- (clr ? 0 : acc) + a * b mod 2^A, two's-complement N-bit operands."""

    def __init__(self, *, n, acc_width=None, pipeline=0, gate_zero=False):
        self.n, self.signed = n, "exact"
        super().__init__("int_mac", {"n": n, "acc_width": acc_width}, n, pipeline, gate_zero)

    def module_name(self):
        return f"int_mac_n{self.n}_acc{self.acc_width}"

    def multiplier(self):
        return IntMul(n=self.n, signed="exact")


class MitchMac(IntegerMac):
    """mitch_mac: acc <- (clr ? 0 : acc) + mitch_mul(a, b, n, w, variant, signed) mod 2^A."""

    def __init__(self, *, n, w, variant="trunc", signed="exact", acc_width=None, pipeline=0,
                 gate_zero=False):
        self.n, self.w, self.variant, self.signed = n, w, variant, signed
        super().__init__("mitch_mac", {"n": n, "w": w, "variant": variant, "signed": signed,
                                       "acc_width": acc_width}, n, pipeline, gate_zero)

    def module_name(self):
        return f"mitch_mac_n{self.n}_w{self.w}_{self.variant}_{self.signed}_acc{self.acc_width}"

    def multiplier(self):
        return MitchMul(n=self.n, w=self.w, variant=self.variant, signed=self.signed)
