r"""posit<n, es> multiplier as hardware: the circuit of golden.posit.posit_mul.

    p = posit_mul(a, b, n=n, es=es)          (the correctly rounded product)

Datapath: two PositDecoders (hdl/posit.py) -> the exact (FB+1) x (FB+1)-bit significand product
P, FB = n - 1 - es, 2^(2FB) <= P < 2^(2FB+2) -> normalization by P's top bit (scale + 1) ->
scale_a + scale_b + top -> PositRounder (RNE on the bit string, saturation, zero, NaR, sign
a XOR b). ``PositMultiplier`` is the shell shared with PLAM (hdl/plam_mul.py); the two differ
only in ``product``.

Ports
    a, b : in  n bits   posit<n, es> patterns
    p    : out n bits   the product's pattern
With ``registered=True`` the product goes through one register stage (clk, synchronous rst
clears it to 0; latency 1 cycle, one result per cycle). Otherwise the unit is combinational.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.params import ParameterError, check_posit_params

from .posit import PositDecoder, PositRounder, scale_shape


class PositMultiplier(wiring.Component):
    """Decoders, ``product`` and a rounder; parameters checked by golden.params."""

    kind = None

    def __init__(self, *, n, es, registered=False):
        try:
            check_posit_params(n, es)
        except ParameterError:
            self._MustUse__silence = True   # a rejected unit is not an unused one
            raise
        self.n, self.es, self.fb = n, es, n - 1 - es
        self.registered = bool(registered)
        self.name = f"{self.kind}_n{n}_es{es}" + ("_reg" if self.registered else "")
        super().__init__({"a": In(n), "b": In(n), "p": Out(n)})

    def elaborate(self, platform):
        m = Module()
        n, es = self.n, self.es
        m.submodules.dec_a = da = PositDecoder(n, es)
        m.submodules.dec_b = db = PositDecoder(n, es)
        m.d.comb += [da.x.eq(self.a), db.x.eq(self.b)]
        scale, frac = self.product(m, da, db)
        m.submodules.round = rnd = PositRounder(n, es, len(frac))
        m.d.comb += [
            rnd.sign.eq(da.sign ^ db.sign),
            rnd.scale.eq(scale),
            rnd.frac.eq(frac),
            rnd.sticky.eq(0),
            rnd.nar.eq(da.nar | db.nar),
            rnd.zero.eq(da.zero | db.zero),
        ]
        if self.registered:
            m.d.sync += self.p.eq(rnd.p)
        else:
            m.d.comb += self.p.eq(rnd.p)
        return m


def exact_significand(m, da, db, n, es):
    """(scale, sig, frac_bits) of the exact product |a b| = sig 2^(scale - frac_bits):
    sig = sig_a sig_b (2 FB + 2 bits, leading one at bit 2 FB or 2 FB + 1), scale = SF_a + SF_b."""
    fb = n - 1 - es
    sig = Signal(2 * fb + 2, name="sig_product")
    scale = Signal(scale_shape(n, es), name="sig_scale")
    m.d.comb += [sig.eq(da.sig * db.sig), scale.eq(da.scale + db.scale)]
    return scale, sig, 2 * fb


class PositMul(PositMultiplier):
    """Exact posit<n, es> multiplier (see the module docstring for formula and ports)."""

    kind = "posit_mul"
    significand = staticmethod(exact_significand)

    def product(self, m, da, db):
        """(scale, fraction below the leading one) of the exact product, normalized."""
        base, sig, f = exact_significand(m, da, db, self.n, self.es)
        top = sig[-1]
        scale = Signal(scale_shape(self.n, self.es), name="product_scale")
        frac = Signal(f + 1, name="product_frac")
        m.d.comb += [scale.eq(base + top),
                     frac.eq(Mux(top, sig[:f + 1], Cat(Const(0, 1), sig[:f])))]
        return scale, frac
