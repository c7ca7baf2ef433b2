r"""Exact integer multiplier: the reference point of the cost flow.

    p = a * b            (2N bits; exact, nothing is dropped)

Operands are N-bit integers, N in 4..32, in one of the two sign modes shared with mitch_mul:

* ``none``  -- unsigned, a, b in 0..2^N-1, p in 0..(2^N-1)^2.
* ``exact`` -- two's complement, a, b in -2^(N-1)..2^(N-1)-1; p is the two's-complement value of
  the 2N-bit port (it always fits: |p| <= 2^(2N-2)).

(mitch_mul's third mode ``c1`` is a property of the approximate multiplier's cheap sign
handling, not of an exact product, so it is rejected here.)
"""

import numpy as np

from .mitchell import _as_operand
from .params import check_choice, check_int

INT_SIGNED_MODES = ("none", "exact")


def check_int_mul_params(n, signed):
    check_int("n", n, 4, 32)
    check_choice("signed", signed, INT_SIGNED_MODES)


def int_mul(a, b, *, n, signed="exact"):
    """Exact products of N-bit operands, vectorized over NumPy integer arrays.

    Returns int64 products (uint64 for unsigned N = 32, whose products need all 64 bits).
    """
    check_int_mul_params(n, signed)
    a, b = np.broadcast_arrays(_as_operand(a, "a", n, signed), _as_operand(b, "b", n, signed))
    # |a*b| < 2^64 unsigned and <= 2^62 signed, so the 64-bit NumPy product is exact.
    p = a * b
    return p if (signed == "exact" or n == 32) else p.astype(np.int64)
