r"""Mitch-w: Mitchell's logarithmic multiplier with operands truncated to w significant bits.

Definition (the single definition of the arithmetic; hdl/, sim/ and synth/ follow it):

Unsigned operands a, b of N bits; w >= 2 is the number of significant bits kept per operand,
counting the leading one (Mitch-w6 keeps the leading one and 5 fraction bits).

1. If a = 0 or b = 0 the product is 0.
2. k_a = floor(log2 a); f_a = the w-1 bits directly below the leading one of a (zero-padded when
   a has fewer bits; lower bits dropped). Variant ``unbiased``: the lowest of those w-1 bits is
   forced to 1 (the truncated remainder is replaced by its midpoint). Variant ``trunc`` (the
   authors' IEEE TC 2019 Verilog): no change.
3. s = f_a + f_b. If s < 2^(w-1): k = k_a + k_b and m = 2^(w-1) + s;
   else k = k_a + k_b + 1 and m = s.
4. product = floor(m * 2^k / 2^(w-1)), as a 2N-bit value.

Signed operands (two's complement, N bits), three modes:

* ``none``  -- operands are unsigned.
* ``exact`` -- multiply |a|, |b| and negate the result exactly when the signs differ.
* ``c1``    -- the cheap one's-complement handling of Kim et al.: a negative operand is
  bit-inverted, giving |a|-1; when the signs differ the 2N-bit result is bit-inverted, giving
  -p-1. (So 0 x -5 gives -1 and -1 x 7 gives -1: the magnitudes 0 and |-1|-1 = 0 make p = 0.)

Sanity points: exact Mitchell (w = N) has mean relative error about -3.85 % and worst case
-11.1 % (at f_a = f_b = 0.5); 3 x 3 -> 8 for every w >= 2.
"""

import numpy as np

from .params import ParameterError, check_mitch_params


def operand_range(n, signed):
    """Return the inclusive (lo, hi) range of an N-bit operand in the given sign mode."""
    if signed == "none":
        return 0, (1 << n) - 1
    return -(1 << (n - 1)), (1 << (n - 1)) - 1


def _as_operand(x, name, n, signed):
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer array, got dtype {x.dtype}")
    lo, hi = operand_range(n, signed)
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        raise ParameterError(
            f"{name} must hold N={n}-bit {'unsigned' if signed == 'none' else 'signed'} "
            f"values in {lo}..{hi}, got values in {int(x.min())}..{int(x.max())}")
    return x.astype(np.int64) if signed != "none" else x.astype(np.uint64)


def leading_one(x):
    """floor(log2 x) of a uint64 array with values below 2^53 (0 maps to 0)."""
    # float64 holds every integer below 2^53 exactly, so frexp's exponent is exact.
    return np.maximum(np.frexp(x.astype(np.float64))[1] - 1, 0).astype(np.int64)


def log_fields(x, *, w, variant):
    """(k, f) of unsigned operands: leading-one position and the w-1 bits below it (step 2)."""
    k = leading_one(x)
    drop = k - (w - 1)
    mask = np.uint64((1 << (w - 1)) - 1)
    right = x >> np.maximum(drop, 0).astype(np.uint64)
    left = x << np.maximum(-drop, 0).astype(np.uint64)
    f = np.where(drop >= 0, right, left) & mask
    if variant == "unbiased":
        f = f | np.uint64(1)
    return k, f


def mitch_mul_unsigned(a, b, *, n, w, variant):
    """Steps 1-4 on unsigned uint64 magnitudes below 2^32; returns uint64 products."""
    ka, fa = log_fields(a, w=w, variant=variant)
    kb, fb = log_fields(b, w=w, variant=variant)
    s = fa + fb
    carry = (s >> np.uint64(w - 1)).astype(np.int64)
    k = ka + kb + carry
    m = np.where(carry == 1, s, s + np.uint64(1 << (w - 1)))
    up = np.maximum(k - (w - 1), 0).astype(np.uint64)
    down = np.maximum((w - 1) - k, 0).astype(np.uint64)
    p = np.where(k >= w - 1, m << up, m >> down)
    return np.where((a == 0) | (b == 0), np.uint64(0), p)


def mitch_mul(a, b, *, n, w, variant="trunc", signed="none"):
    """Mitch-w products of N-bit operands, vectorized over NumPy integer arrays.

    ``a`` and ``b`` are integer arrays (broadcast together) of N-bit values: 0..2^N-1 for
    ``signed="none"``, -2^(N-1)..2^(N-1)-1 otherwise. Returns int64 products (uint64 for
    unsigned N = 32); signed results are the two's-complement value of the 2N-bit output
    (the one product that does not fit, (-2^(N-1))^2 in mode ``exact`` with w = 2 ``unbiased``,
    equals 2^(2N-1) and so reads as -2^(2N-1), exactly as the hardware's 2N-bit port does).
    """
    check_mitch_params(n, w, variant, signed)
    a = _as_operand(a, "a", n, signed)
    b = _as_operand(b, "b", n, signed)
    a, b = np.broadcast_arrays(a, b)
    if signed == "none":
        p = mitch_mul_unsigned(a, b, n=n, w=w, variant=variant)
        return p if n == 32 else p.astype(np.int64)
    neg_a, neg_b = a < 0, b < 0
    if signed == "exact":
        mag_a, mag_b = np.abs(a), np.abs(b)
    else:  # c1: bit inversion of a negative operand gives |x| - 1
        mag_a, mag_b = np.where(neg_a, ~a, a), np.where(neg_b, ~b, b)
    p = mitch_mul_unsigned(mag_a.astype(np.uint64), mag_b.astype(np.uint64),
                           n=n, w=w, variant=variant).astype(np.int64)
    differ = neg_a != neg_b
    p = np.where(differ, -p if signed == "exact" else ~p, p)
    return wrap_signed(p, 2 * n)


def wrap_signed(x, bits):
    """The two's-complement value of the low ``bits`` bits of int64 ``x`` (bits <= 64)."""
    if bits == 64:
        return x
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & ((half << np.int64(1)) - np.int64(1))) - half
