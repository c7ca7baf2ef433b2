r"""Posit MACs with a quire: the circuits of golden/mac.py's posit_mac and plam_mac.

    rst                 -> quire <- 0                                   (synchronous)
    en (and not rst)    -> quire <- NaR                   if a or b is NaR,
                                    NaR                   if quire is NaR and not clr,
                                    (clr ? 0 : quire) + P  mod 2^Q       otherwise
    otherwise           -> quire holds
    acc = the quire rounded to posit<n, es>                             (combinational)

P is the product of a and b *before rounding*: the exact product sig_a sig_b 2^(SF_a + SF_b)
(posit_mac, hdl.posit_mul.exact_significand) or PLAM's 2^(SF_a + SF_b + c) (1 + (f_a + f_b mod 1))
(plam_mac, hdl.plam_mul.plam_significand), placed in the quire's fixed point by one left shift
(by SF + QF) and negated for a negative sign. The quire is a Q-bit two's-complement number with
QF = 2 (n-2) 2^es fraction bits (ulp minpos^2), Q = quire (default and minimum
golden.posit.quire_width(n, es) = 32 + 4 (n-2) 2^es); its pattern 1 0...0 is NaR. The output
path: quire -> magnitude -> leading-zero count -> normalizing shift -> PositRounder.

Ports (the MAC protocol of hdl/mac.py)
    clk, rst : in  1      clock; synchronous reset (quire <- 0, so acc = 0)
    en, clr  : in  1      accumulate this cycle; start from 0 instead of the quire
    a, b     : in  n      posit<n, es> patterns
    acc      : out n      the quire rounded to posit<n, es>
Timing: one MAC per cycle; ``acc`` shows the result of the inputs present at a rising edge right
after that edge (latency 1 cycle). clr selects P instead of quire + P after the adder.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.mac import mac_spec
from golden.params import ParameterError
from golden.posit import quire_frac_bits

from .plam_mul import plam_significand
from .posit import PositDecoder, PositRounder, leading_zeros
from .posit_mul import exact_significand


class QuireMac(wiring.Component):
    """Decoders, an unrounded product, the quire register and the quire-to-posit rounder."""

    kind = significand = None

    def __init__(self, *, n, es, quire=None):
        try:
            spec = mac_spec(self.kind, n=n, es=es, quire=quire)   # the one check, in golden/
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.n, self.es, self.quire_width = n, es, spec.quire
        self.name = f"{self.kind}_n{n}_es{es}_q{self.quire_width}"
        super().__init__({"en": In(1), "clr": In(1), "a": In(n), "b": In(n), "acc": Out(n)})

    def elaborate(self, platform):
        m = Module()
        n, es, q = self.n, self.es, self.quire_width
        qf = quire_frac_bits(n, es)
        m.submodules.dec_a = da = PositDecoder(n, es)
        m.submodules.dec_b = db = PositDecoder(n, es)
        m.d.comb += [da.x.eq(self.a), db.x.eq(self.b)]
        scale, sig, f = self.significand(m, da, db, n, es)

        # SF >= -QF for every product (minpos^2 = 2^-QF), so the shift SF + QF is never negative;
        # the f bits below the quire's ulp that it drops are zeros.
        shift = Signal(range(2 * qf + 3), name="quire_shift")
        m.d.comb += shift.eq(scale + qf)
        placed = Signal(q + f, name="placed")
        m.d.comb += placed.eq(sig << shift)
        term = Signal(q, name="term")
        m.d.comb += term.eq(Mux(da.zero | db.zero, 0,
                                Mux(da.sign ^ db.sign, -placed[f:], placed[f:])))

        quire = Signal(q, name="quire")
        nar = 1 << (q - 1)
        total = Signal(q, name="total")
        m.d.comb += total.eq(quire + term)                # mod 2^Q
        with m.If(self.en):
            with m.If(da.nar | db.nar | (~self.clr & (quire == nar))):
                m.d.sync += quire.eq(nar)
            with m.Else():
                m.d.sync += quire.eq(Mux(self.clr, term, total))

        magnitude = Signal(q, name="magnitude")
        m.d.comb += magnitude.eq(Mux(quire[-1], -quire, quire))
        lz = leading_zeros(m, magnitude, q, "quire_lz")
        normalized = Signal(q, name="normalized")         # leading one at bit Q-1
        m.d.comb += normalized.eq(magnitude << lz)
        m.submodules.round = rnd = PositRounder(n, es, q - 1)
        m.d.comb += [
            rnd.sign.eq(quire[-1]),
            rnd.scale.eq((q - 1 - qf) - lz),
            rnd.frac.eq(normalized[:q - 1]),
            rnd.sticky.eq(0),
            rnd.zero.eq(quire == 0),
            rnd.nar.eq(quire == nar),
            self.acc.eq(rnd.p),
        ]
        return m


class PositMac(QuireMac):
    """posit_mac: quire <- (clr ? 0 : quire) + a b exactly; acc = round(quire)."""

    kind = "posit_mac"
    significand = staticmethod(exact_significand)


class PlamMac(QuireMac):
    """plam_mac: quire <- (clr ? 0 : quire) + PLAM(a, b) exactly; acc = round(quire)."""

    kind = "plam_mac"
    significand = staticmethod(plam_significand)
