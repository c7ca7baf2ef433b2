r"""posit<n, es> arithmetic: decoding, rounding, the exact multiplier posit_mul and PLAM.

Format (Posit Standard 2022, with es generalized to 0..4; n in 3..32, es <= n - 3). Values
travel as unsigned n-bit patterns (np.uint8 for n <= 8, np.uint16 for n <= 16, else np.uint32):

* 0 is all zeros; NaR (not a real) is 1 followed by n-1 zeros.
* Otherwise let s be the top bit and X the pattern, negated in two's complement (mod 2^n) when
  s = 1. Below the (now zero) sign bit X holds: a regime, a run of m identical bits r ended by
  one opposite bit or by the end of the word, giving k = m - 1 if r = 1 else -m; then es
  exponent bits e (bits cut off by the end of the word are zeros); then the fraction f, the
  remaining F bits read as f / 2^F.
* value = (-1)^s * 2^(k * 2^es + e) * (1 + f). The scale factor SF = k * 2^es + e.
* maxpos = 2^((n-2) * 2^es) (0 1...1), minpos = 1 / maxpos (0 0...01).

Rounding a real x to posit<n, es> (the standard's rule: round to nearest, ties to even, on the
bit string): write |x| = 2^SF (1 + f) as the infinite string regime(k), e, f; keep its first
n - 1 bits, add 1 to them if the next bit is 1 and (any later bit is 1 or the kept string ends
in 1); then apply the sign. Exceptions: |x| >= maxpos gives maxpos and 0 < |x| < minpos gives
minpos (a nonzero finite result never rounds to 0 or NaR); x = 0 gives 0.

Multipliers (NaR if either operand is NaR, else 0 if either is 0; the sign is s_a XOR s_b):

* ``posit_mul``: the exact product |a| |b| = 2^(SF_a + SF_b) (1 + f_a)(1 + f_b), rounded.
* ``plam_mul`` (PLAM, Murillo et al., IEEE TETC 2021): Mitchell's approximation on the
  fractions. s = f_a + f_b; if s < 1 the product is 2^(SF_a + SF_b) (1 + s), else
  2^(SF_a + SF_b + 1) s; then rounded as above. (In bits: one adder for the fractions, its carry
  increments the scale, the sum's low bits are the new fraction.)

Quire (the exact accumulator of posit_mac / plam_mac, golden/mac.py): a Q-bit two's-complement
fixed-point number with QF = 2 (n-2) 2^es fraction bits (its unit in the last place is
minpos^2, so every product of two posits, and every PLAM product, is an integer number of
ulps) and Q = quire_width(n, es) = 32 + 4 (n-2) 2^es = 1 sign bit + 31 carry-guard bits +
2 QF bits, the standard's 16n for es = 2. |product| <= maxpos^2 = 2^QF, so 2^31 products can
be summed before the quire wraps (mod 2^Q). The quire pattern 1 0...0 (-2^(Q-1)) is the quire's
NaR, as in the standard.
"""

import numpy as np

from .params import ParameterError, check_int, check_posit_params


def posit_dtype(n):
    """The unsigned NumPy dtype that carries posit<n, *> patterns."""
    return np.uint8 if n <= 8 else np.uint16 if n <= 16 else np.uint32


def nar_pattern(n):
    return 1 << (n - 1)


def _mask(bits):
    return np.uint64((1 << bits) - 1)


def _u(v):
    return np.uint64(v)


def _patterns(x, name, n):
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer array of posit<{n}> patterns, "
                             f"got dtype {x.dtype}")
    top = (1 << n) - 1
    if x.size and (int(x.min()) < 0 or int(x.max()) > top):
        raise ParameterError(f"{name} must hold posit<{n}> patterns in 0..{top:#x}, "
                             f"got values in {int(x.min())}..{int(x.max())}")
    return x.astype(np.uint64)


def bit_length(x):
    """Bits of uint64 values below 2^53 (0 -> 0), exact through float64."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


class Decoded:
    """Fields of posit patterns, all arrays: ``nar``, ``zero`` (bool), ``sign`` (0/1 int64),
    ``scale`` (SF, int64) and ``sig`` = 2^FB + fraction (uint64), FB = n - 1 - es fraction bits
    (the fraction top-aligned, padded with zeros). Meaningless where nar or zero."""

    def __init__(self, x, n, es):
        full = _mask(n)
        body_mask = _mask(n - 1)
        self.fb = n - 1 - es
        self.nar = x == _u(nar_pattern(n))
        self.zero = x == 0
        self.sign = (x >> _u(n - 1)).astype(np.int64)
        mag = np.where(self.sign == 1, (~x + _u(1)) & full, x)
        body = mag & body_mask
        r = (body >> _u(n - 2)) & _u(1)
        run = (n - 1) - bit_length(np.where(r == 1, ~body & body_mask, body))   # m
        k = np.where(r == 1, run - 1, -run)
        rest = (body << (run + 1).astype(np.uint64)) & body_mask     # exponent, fraction
        e = (rest >> _u(self.fb)).astype(np.int64)
        self.scale = k * (1 << es) + e
        self.sig = (rest & _mask(self.fb)) | _u(1 << self.fb)


def decode(x, *, n, es):
    """The :class:`Decoded` fields of posit<n, es> patterns ``x``."""
    check_posit_params(n, es)
    return Decoded(_patterns(x, "x", n), n, es)


def round_to_posit(sign, scale, frac, frac_bits, sticky, *, n, es):
    """Posit patterns (uint64) of the nonzero reals (-1)^sign 2^scale (1 + frac / 2^frac_bits
    + tiny), rounded by the module's rule; ``sticky`` says whether ``tiny`` (a value below the
    last fraction bit) is nonzero. ``frac`` is uint64 (frac_bits <= 63), ``scale`` int64."""
    keep = n - 1 - es              # enough fraction bits: the body holds at most n-3-es, + guard
    sticky = np.asarray(sticky, bool)
    if frac_bits > keep:
        drop = frac_bits - keep
        sticky = sticky | ((frac & _mask(drop)) != 0)
        frac = frac >> _u(drop)
    else:
        frac = frac << _u(keep - frac_bits)
    k = scale >> es                                    # floor division by 2^es
    e = (scale & ((1 << es) - 1)).astype(np.uint64)
    high, low = k >= n - 2, k <= -(n - 1)
    k = np.clip(k, -(n - 2), n - 3)
    run = np.where(k >= 0, k + 1, -k)                  # regime run, then one terminating bit
    regime = np.where(k >= 0, ((_u(1) << run.astype(np.uint64)) - _u(1)) << _u(1), _u(1))
    length = run + 1 + es + keep                       # <= 2n - 2 <= 62 bits
    bits = (regime << _u(es + keep)) | (e << _u(keep)) | frac
    cut = (length - (n - 1)).astype(np.uint64)         # >= 2: a guard bit always exists
    body = bits >> cut
    guard = (bits >> (cut - _u(1))) & _u(1)
    sticky = sticky | ((bits & ((_u(1) << (cut - _u(1))) - _u(1))) != 0)
    body = body + (guard & (sticky.astype(np.uint64) | (body & _u(1))))
    body = np.where(high, _mask(n - 1), np.where(low, _u(1), body))
    return np.where(np.asarray(sign) == 1, (~body + _u(1)) & _mask(n), body)


def _finish(p, nar, zero, n):
    p = np.where(nar, _u(nar_pattern(n)), np.where(zero, _u(0), p))
    return p.astype(posit_dtype(n))


def _operands(a, b, n, es):
    check_posit_params(n, es)
    a, b = np.broadcast_arrays(_patterns(a, "a", n), _patterns(b, "b", n))
    da, db = Decoded(a, n, es), Decoded(b, n, es)
    return da, db, da.nar | db.nar, (da.zero | db.zero), da.sign ^ db.sign


def exact_product(a, b, *, n, es):
    """(nar, zero, sign, scale, sig, sig_frac_bits) of the exact products: |a b| =
    sig * 2^(scale - sig_frac_bits), sig = sig_a sig_b < 2^(2 FB + 2) (uint64: 2 FB + 2 <= 64)."""
    da, db, nar, zero, sign = _operands(a, b, n, es)
    return nar, zero & ~nar, sign, da.scale + db.scale, da.sig * db.sig, 2 * da.fb


def plam_product(a, b, *, n, es):
    """(nar, zero, sign, scale, sig, FB) of PLAM products: sig = 2^FB + (f_a + f_b mod 2^FB) in
    FB-bit fixed point, the fraction sum's carry added to the scale."""
    da, db, nar, zero, sign = _operands(a, b, n, es)
    fb = da.fb
    s = (da.sig & _mask(fb)) + (db.sig & _mask(fb))
    carry = (s >> _u(fb)).astype(np.int64)
    return nar, zero & ~nar, sign, da.scale + db.scale + carry, (s & _mask(fb)) | _u(1 << fb), fb


def product_to_float64(product):
    """float64 values of a product tuple from ``exact_product`` / ``plam_product``: the unrounded
    products (NaR -> NaN), exact where sig has at most 53 significant bits (always for n <= 28
    and for every PLAM product).

    Raises
    ------
    ParameterError
        where a product is not exact in float64 (exact products of long fractions, n > 27).
    """
    nar, zero, sign, scale, sig, fbits = product
    low = sig & (~sig + _u(1))                              # lowest set bit (0 for sig = 0)
    if (sig // np.maximum(low, _u(1)) >= _u(1 << 53)).any():
        raise ParameterError("product_to_float64: a product has more than 53 significant bits, "
                             "not exact in float64 (exact products need n <= 28)")
    v = np.ldexp(sig.astype(np.float64), scale - fbits) * np.where(sign == 1, -1.0, 1.0)
    return np.where(nar, np.nan, np.where(zero, 0.0, v))


def posit_mul(a, b, *, n, es):
    """Correctly rounded posit<n, es> products of the patterns ``a``, ``b`` (broadcast)."""
    nar, zero, sign, scale, sig, fbits = exact_product(a, b, n=n, es=es)
    top = (sig >> _u(fbits + 1)).astype(np.int64)       # sig in [1, 4): normalize to [1, 2)
    frac = np.where(top == 1, sig - _u(1 << (fbits + 1)), (sig - _u(1 << fbits)) << _u(1))
    p = round_to_posit(sign, scale + top, frac, fbits + 1, False, n=n, es=es)
    return _finish(p, nar, zero, n)


def plam_mul(a, b, *, n, es):
    """PLAM posit<n, es> products of the patterns ``a``, ``b`` (broadcast)."""
    nar, zero, sign, scale, sig, fbits = plam_product(a, b, n=n, es=es)
    p = round_to_posit(sign, scale, sig & _mask(fbits), fbits, False, n=n, es=es)
    return _finish(p, nar, zero, n)


def posit_to_float64(x, *, n, es):
    """float64 values of posit<n, es> patterns (exact; NaR -> NaN)."""
    check_posit_params(n, es)
    d = Decoded(_patterns(x, "x", n), n, es)
    v = np.ldexp(d.sig.astype(np.float64), d.scale - d.fb) * np.where(d.sign == 1, -1.0, 1.0)
    return np.where(d.nar, np.nan, np.where(d.zero, 0.0, v))


def float64_to_posit(v, *, n, es):
    """posit<n, es> patterns of float64 values rounded by the module's rule (NaN, +-Inf -> NaR;
    +-0 -> 0)."""
    check_posit_params(n, es)
    v = np.asarray(v, dtype=np.float64)
    finite = np.isfinite(v)
    m, e = np.frexp(np.where(finite, np.abs(v), 1.0))  # |v| = m 2^e, m in [0.5, 1)
    sig = np.ldexp(m, 53).astype(np.uint64)            # 53-bit integer significand, exact
    p = round_to_posit((v < 0).astype(np.int64), e.astype(np.int64) - 1, sig & _mask(52), 52,
                       False, n=n, es=es)
    return _finish(p, ~finite, v == 0, n)


# ---------------------------------------------------------------- quire

def quire_frac_bits(n, es):
    """QF = 2 (n-2) 2^es: the quire's ulp is minpos^2 = 2^-QF."""
    return 2 * (n - 2) << es


def quire_width(n, es):
    """Q = 32 + 4 (n-2) 2^es: sign + 31 carry-guard bits + QF integer + QF fraction bits
    (16n for es = 2, as the Posit Standard 2022)."""
    check_posit_params(n, es)
    return 32 + 2 * quire_frac_bits(n, es)


def check_quire(n, es, quire):
    """The quire width: quire_width(n, es) by default (None), at least that, at most 4096."""
    low = quire_width(n, es)
    return low if quire is None else check_int("quire", quire, low, 4096)


def quire_nar(quire):
    """The quire's NaR as a signed Python int: the pattern 1 0...0."""
    return -(1 << (quire - 1))


def _obj(v):
    """A 0-d object array: np.where must not convert big Python ints to int64."""
    return np.array(v, dtype=object)


def product_to_quire(product, *, n, es, quire):
    """Quire addends (object arrays of signed Python ints, in ulps of minpos^2) of a product
    tuple from ``exact_product`` / ``plam_product``; NaR products give the quire's NaR."""
    nar, zero, sign, scale, sig, fbits = product
    shift = scale - fbits + quire_frac_bits(n, es)
    sig, shift = sig.astype(object), shift.astype(object)
    # a negative shift drops only zero bits: every product is a multiple of minpos^2
    mag = np.where(shift >= 0, sig << np.maximum(shift, 0), sig >> np.maximum(-shift, 0))
    q = np.where(sign == 1, -mag, mag)
    return np.where(nar, _obj(quire_nar(quire)), np.where(zero, _obj(0), q)).astype(object)


def quire_add(acc, addend, *, quire):
    """acc + addend mod 2^Q (two's complement); NaR in either stays NaR (sticky)."""
    nar = quire_nar(quire)
    half = 1 << (quire - 1)
    total = ((acc + addend + half) % (1 << quire)) - half
    return np.where((acc == nar) | (addend == nar), _obj(nar), total).astype(object)


def _quire_fields(q, keep):
    q = int(q)
    mag = abs(q)
    top = mag.bit_length() - 1
    if top < 0:
        return 0, 0, 0, False
    below = mag - (1 << top)
    if top > keep:
        return q < 0, top, below >> (top - keep), below & ((1 << (top - keep)) - 1) != 0
    return q < 0, top, below << (keep - top), False


_QUIRE_FIELDS = np.frompyfunc(_quire_fields, 2, 4)


def quire_to_posit(q, *, n, es, quire):
    """posit<n, es> patterns of quire values (signed Python ints), rounded by the module's rule;
    the quire's NaR gives NaR, 0 gives 0."""
    q = np.asarray(q, dtype=object)
    keep = 62
    sign, top, frac, sticky = (np.asarray(v) for v in _QUIRE_FIELDS(q, keep))
    scale = top.astype(np.int64) - quire_frac_bits(n, es)
    p = round_to_posit(sign.astype(np.int64), scale, frac.astype(np.uint64), keep,
                       sticky.astype(bool), n=n, es=es)
    return _finish(p, q == quire_nar(quire), q == 0, n)


def special_classes(n, es):
    """Class name -> posit<n, es> patterns: zero, NaR, +-1, +-minpos and neighbours, +-maxpos
    and neighbours, regime boundaries (the first and last pattern of every regime run length,
    positive and negative), and the patterns next to them."""
    check_posit_params(n, es)
    full = (1 << n) - 1
    neg = lambda v: [(-x) & full for x in v]
    body = (1 << (n - 1)) - 1
    one = 1 << (n - 2)
    pos = {
        "one": [one, one - 1, one + 1],
        "minpos": [1, 2, 3],
        "maxpos": [body, body - 1, body - 2],
        # regime of run m: 1^m 0 ... (k = m-1) and 0^m 1 ... (k = -m), first and last pattern
        "regime": sorted({v for m in range(1, n - 1) for v in (
            body - ((1 << (n - 1 - m)) - 1), body - ((1 << (n - 1 - m)) - 1) + ((1 << (n - 2 - m)) - 1),
            1 << (n - 2 - m), (1 << (n - 1 - m)) - 1) if 0 < v <= body}),
    }
    out = {"zero": np.array([0]), "nar": np.array([nar_pattern(n)])}
    for name, v in pos.items():
        out[name] = np.array(sorted(set(v) | set(neg(v))))
    return {k: v.astype(posit_dtype(n)) for k, v in out.items()}


def special_values(n, es):
    """Every special class of ``special_classes`` in one array (duplicates removed)."""
    return np.unique(np.concatenate(list(special_classes(n, es).values()))).astype(posit_dtype(n))
