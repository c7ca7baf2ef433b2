r"""posit<n, es> decoder and rounder as hardware, shared by every posit unit (HardFloat style:
one place turns patterns into fields and fields back into patterns). golden/posit.py defines the
format and the rounding rule.

PositDecoder: x -> {nar, zero, sign, scale, sig}
    two's complement of a negative pattern -> regime run length m by a leading-zero count of the
    body XOR its first bit -> k = m - 1 or -m -> a left shift by m + 1 drops regime and
    terminator -> the top es bits are e, the rest the fraction, top-aligned in FB = n - 1 - es
    bits. scale = k 2^es + e, sig = 2^FB + fraction.

PositRounder: {sign, scale, frac (F bits), sticky, zero, nar} -> p
    the value (-1)^sign 2^scale (1 + frac / 2^F + sticky*tiny): fraction bits beyond
    n - 1 - es fold into sticky -> k = scale >> es, e = scale mod 2^es -> the bit string
    {r, ~r, e, frac} (r = k >= 0) shifted right by k (k >= 0) or ~k (k < 0), filled with r,
    makes the regime -> the top n - 1 bits, a guard bit and a sticky OR -> round to nearest even
    -> saturation (k >= n - 2: maxpos, k <= -(n - 1): minpos) -> two's complement for the sign;
    zero and NaR override.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.posit import quire_frac_bits


def scale_shape(n, es):
    """A signed shape that holds every scale of any posit<n, es> unit (operands, products,
    the quire's leading one): |scale| <= 2 (n-2) 2^es + 31."""
    return signed(Shape.cast(range(quire_frac_bits(n, es) + 64)).width + 1)


def leading_zeros(m, x, width, name):
    """Count of leading zeros of the ``width``-bit value ``x`` (``width`` when x = 0), as a
    log-depth tree: x is padded below with ones to a power of two W > width (so the padded word
    is never 0), and each node picks its low half's count, plus W/2, when its high half is 0."""
    size = 1 << width.bit_length()                    # W > width
    padded = Cat(Const((1 << (size - width)) - 1, size - width), x)

    def tree(v):                                      # (all zero, count mod len(v))
        if len(v) == 1:
            return ~v[0], Const(0, 0)
        half = len(v) // 2
        zero_lo, count_lo = tree(v[:half])
        zero_hi, count_hi = tree(v[half:])
        return zero_hi & zero_lo, Mux(zero_hi, Cat(count_lo, Const(1, 1)), Cat(count_hi, Const(0, 1)))

    count = Signal(range(width + 1), name=name)
    m.d.comb += count.eq(tree(padded)[1])
    return count


class PositDecoder(wiring.Component):
    """Fields of a posit<n, es> pattern (see the module docstring).

    Attributes (ports)
    ------------------
    x : In(n)                   the pattern
    nar, zero, sign : Out(1)
    scale : Out(scale_shape)    SF = k 2^es + e
    sig : Out(n - es)           2^FB + fraction, FB = n - 1 - es
    """

    def __init__(self, n, es):
        self.n, self.es, self.fb = n, es, n - 1 - es
        super().__init__({"x": In(n), "nar": Out(1), "zero": Out(1), "sign": Out(1),
                          "scale": Out(scale_shape(n, es)), "sig": Out(self.fb + 1)})

    def elaborate(self, platform):
        m = Module()
        n, es, fb = self.n, self.es, self.fb
        x = self.x
        mag = Signal(n, name="mag")
        m.d.comb += mag.eq(Mux(x[n - 1], -x, x))
        body = mag[:n - 1]
        r = body[n - 2]
        run = leading_zeros(m, body ^ r.replicate(n - 1), n - 1, "run")
        k = Signal(signed(Shape.cast(range(n)).width + 1), name="k")
        m.d.comb += k.eq(Mux(r, run - 1, -run))
        # exponent and fraction, top-aligned: body << (run + 1), written so that no
        # intermediate is wider than 2n - 2 bits (Icarus is much slower beyond 64 bits)
        rest = Signal(n - 1, name="rest")
        m.d.comb += rest.eq(Cat(Const(0, 1), (body << run)[:n - 2]))
        e = rest[fb:] if es else Const(0, 0)
        m.d.comb += [
            self.nar.eq(x == 1 << (n - 1)),
            self.zero.eq(x == 0),
            self.sign.eq(x[n - 1]),
            self.scale.eq(Cat(e, k).as_signed()),
            self.sig.eq(Cat(rest[:fb], Const(1, 1))),
        ]
        return m


class PositRounder(wiring.Component):
    """The posit<n, es> pattern of a sign, scale and F-bit fraction, rounded to nearest even
    on the bit string with saturation (see the module docstring).

    Attributes (ports)
    ------------------
    sign, sticky, zero, nar : In(1)
    scale : In(scale_shape)
    frac : In(frac_bits)        the bits below the leading one
    p : Out(n)
    """

    def __init__(self, n, es, frac_bits):
        self.n, self.es, self.frac_bits = n, es, frac_bits
        super().__init__({"sign": In(1), "scale": In(scale_shape(n, es)), "frac": In(frac_bits),
                          "sticky": In(1), "zero": In(1), "nar": In(1), "p": Out(n)})

    def elaborate(self, platform):
        m = Module()
        n, es, f = self.n, self.es, self.frac_bits
        keep = n - 1 - es            # the body holds at most n-3-es fraction bits, + guard
        if f > keep:
            frac, sticky = self.frac[f - keep:], self.sticky | self.frac[:f - keep].any()
        else:
            frac, sticky = Cat(Const(0, keep - f), self.frac), self.sticky
        k = self.scale >> es                    # arithmetic: floor(scale / 2^es)
        e = self.scale.as_unsigned()[:es]
        r = ~k[-1]
        high, low = k >= n - 2, k <= -(n - 1)
        shift = Signal(range(max(n - 2, 2)), name="regime_shift")   # run - 1 <= n - 3 unless saturated
        m.d.comb += shift.eq(Mux(r, k, ~k))
        word = Cat(Const(0, n - 3), frac, e, ~r, r)   # LSB first: {r, ~r, e, frac, 0...}
        string = Signal(len(word), name="string")
        m.d.comb += string.eq(word.as_signed() >> shift)   # fills with r: the regime run
        low_bits = keep + es                           # below the n-1 body bits
        body, guard = string[low_bits:], string[low_bits - 1]
        rest = string[:low_bits - 1].any() if low_bits > 1 else Const(0, 1)
        rounded = Signal(n - 1, name="rounded")
        m.d.comb += rounded.eq(body + (guard & (sticky | rest | body[0])))
        result = Signal(n - 1, name="body")
        m.d.comb += result.eq(Mux(high, (1 << (n - 1)) - 1, Mux(low, 1, rounded)))
        signed_result = Signal(n, name="signed_body")
        m.d.comb += signed_result.eq(Mux(self.sign, -result, result))
        m.d.comb += self.p.eq(Mux(self.nar, 1 << (n - 1), Mux(self.zero, 0, signed_result)))
        return m
