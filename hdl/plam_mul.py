r"""PLAM, the posit logarithm-approximate multiplier, as hardware: the circuit of
golden.posit.plam_mul (Murillo, Del Barrio et al., IEEE TETC 2021).

    p = plam_mul(a, b, n=n, es=es)

Datapath: the shell of hdl/posit_mul.py (decoders, rounder, sign, zero, NaR) with the
significand multiplier replaced by one FB-bit adder (FB = n - 1 - es): s = f_a + f_b; its carry
adds 1 to scale_a + scale_b and its low FB bits are the result's fraction (Mitchell: 1 + s when
s < 1, 2 s = 2 (1 + (s - 1)) otherwise).

Ports
    a, b : in  n bits   posit<n, es> patterns
    p    : out n bits   the PLAM product's pattern
``registered=True`` adds one output register stage, as for PositMul.
"""

from amaranth.hdl import Cat, Const, Signal

from .posit import scale_shape
from .posit_mul import PositMultiplier


def plam_significand(m, da, db, n, es):
    """(scale, sig, FB) of the PLAM product sig 2^(scale - FB): s = f_a + f_b, sig = {1, s mod
    2^FB}, scale = SF_a + SF_b + carry(s)."""
    fb = n - 1 - es
    s = Signal(fb + 1, name="frac_sum")
    scale = Signal(scale_shape(n, es), name="product_scale")
    m.d.comb += [s.eq(da.sig[:fb] + db.sig[:fb]), scale.eq(da.scale + db.scale + s[fb])]
    return scale, Cat(s[:fb], Const(1, 1)), fb


class PlamMul(PositMultiplier):
    """PLAM posit<n, es> multiplier (see the module docstring for formula and ports)."""

    kind = "plam_mul"
    significand = staticmethod(plam_significand)

    def product(self, m, da, db):
        """(scale, fraction): already normalized, the fraction is the sum's low FB bits."""
        scale, sig, fb = plam_significand(m, da, db, self.n, self.es)
        return scale, sig[:fb]
