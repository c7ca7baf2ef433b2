r"""Multiply-accumulate units: the golden model of hdl/mac.py's clocked MACs.

Every MAC has one register ``acc`` and this behaviour on each rising clock edge:

    rst                 -> acc <- 0                              (synchronous, highest priority)
    en (and not rst)    -> acc <- add(clr ? 0 : acc, mul(a, b))
    otherwise           -> acc keeps its value                   (clr without en does nothing)

acc starts at 0 and shows the result of an edge's inputs right after that edge (latency 1
cycle, one MAC per cycle; ``clr`` starts a new dot product without a bubble).

Pipelined MACs (``pipeline=1``) register the product, en and clr between the multiplier and the
accumulate adder (rst clears those registers too): the inputs of edge t reach acc at edge t + 1
(latency 2 cycles), still one MAC per cycle. The arithmetic is the same. A zero-gated MAC
(hdl gate_zero) has one more such stage, in front of its multiplier: ``mac_run`` takes the number
of stages, 0..2.

    unit             mul                                        add             acc
    bf16_mac         golden.bf16_mul.bf16_mul                   fp32_add        fp32 (0 is +0)
    mitch_bf16_mac   golden.mitch_bf16_mul (w, variant)         fp32_add        fp32
    int_mac          golden.int_mul (n, signed="exact")         + mod 2^A       A = acc_width bits
    mitch_mac        golden.mitchell.mitch_mul (n, w, variant,  + mod 2^A       A bits
                     signed; default "exact")
    posit_mac        golden.posit.exact_product (n, es),        quire_add       the quire (Q bits);
                     the exact product, unrounded                               acc = quire rounded
    plam_mac         golden.posit.plam_product (n, es),         quire_add       to posit<n, es>
                     the PLAM product, unrounded

Posit MACs (golden/posit.py defines the quire): the register is a Q-bit quire, Q = quire
(default and minimum quire_width(n, es)); a product enters it exactly (never rounded), a NaR
operand makes it NaR and a NaR quire stays NaR until clr or rst; the output acc is the quire
rounded to posit<n, es> (RNE on the bit string, saturating). Quire values are returned as
posit<n, es> patterns; internally they are signed Python ints (object arrays), exact at any Q.

Integer accumulators add the 2N-bit product, sign-extended (zero-extended for signed="none"), to
an A-bit register and wrap around modulo 2^A (two's complement); A = acc_width defaults to
2N + 8 (64 for N > 28) and is limited to N..64. An accumulator narrower than the 2N-bit product
(A < 2N) is allowed for design-space studies: every sum is still exact modulo 2^A, so a dot
product's result is right whenever it fits in A bits. acc values are returned as int64 two's-complement values
(uint64 values mod 2^A for signed="none"), float accumulators as np.uint32 fp32 patterns.
"""

import inspect

import numpy as np

from .bf16_mul import bf16_mul
from .fp32_add import fp32_add
from .int_mul import int_mul
from .mitch_bf16_mul import check_mitch_bf16_params, mitch_bf16_mul
from .mitchell import mitch_mul, wrap_signed
from .params import ParameterError, check_int, check_mitch_params, check_posit_params
from .posit import (check_quire, exact_product, plam_product, product_to_quire, quire_add,
                    quire_to_posit)


def check_acc_width(n, acc_width):
    """The accumulator width: 2N + 8 by default (64 for N > 28), N..64 allowed; returns it.
    (64 bits is the golden model's int64/uint64 limit and far beyond any CNN layer's needs;
    below 2N the product itself wraps, which design-space studies of narrow accumulators want.)"""
    check_int("n", n, 4, 32)
    return check_int("acc_width", min(2 * n + 8, 64) if acc_width is None else acc_width, n, 64)


class MacSpec:
    """One MAC with its parameters: ``mul(a, b)`` gives products in the accumulator's encoding,
    ``add(acc, p)`` the next accumulator, ``zero`` its reset value, ``value(acc)`` what the
    golden functions return (``acc_width`` is None for fp32 accumulators)."""

    def __init__(self, mul, add, zero, value=lambda acc: acc, acc_width=None):
        self.mul, self.add, self.zero, self.value, self.acc_width = mul, add, zero, value, acc_width


def _bf16_mac():
    return MacSpec(bf16_mul, fp32_add, np.uint32(0))


def _mitch_bf16_mac(w, variant="trunc"):
    check_mitch_bf16_params(w, variant)
    return MacSpec(lambda a, b: mitch_bf16_mul(a, b, w=w, variant=variant), fp32_add, np.uint32(0))


def _int_mac(n, acc_width=None):
    return _integer_mac(lambda a, b: int_mul(a, b, n=n, signed="exact"), n, acc_width, "exact")


def _mitch_mac(n, w, variant="trunc", signed="exact", acc_width=None):
    check_mitch_params(n, w, variant, signed)
    return _integer_mac(lambda a, b: mitch_mul(a, b, n=n, w=w, variant=variant, signed=signed),
                        n, acc_width, signed)


def _integer_mac(product, n, acc_width, signed):
    width = check_acc_width(n, acc_width)
    mask = np.uint64(2 ** width - 1)
    # int64 -> uint64 keeps the two's-complement pattern, i.e. sign-extends the product to 64
    # bits; the mask then keeps A bits. uint64 sums wrap mod 2^64, so the mask is the mod 2^A.
    mul = lambda a, b: product(a, b).astype(np.int64).astype(np.uint64) & mask
    add = lambda acc, p: (acc + p) & mask
    value = (lambda acc: acc) if signed == "none" else (
        lambda acc: wrap_signed(acc.astype(np.int64), width))
    return MacSpec(mul, add, np.uint64(0), value, width)


def _quire_mac(product, n, es, quire):
    check_posit_params(n, es)
    q = check_quire(n, es, quire)
    mul = lambda a, b: product_to_quire(product(a, b, n=n, es=es), n=n, es=es, quire=q)
    add = lambda acc, p: quire_add(acc, p, quire=q)
    value = lambda acc: quire_to_posit(acc, n=n, es=es, quire=q)
    # a 0-d object array: np.full / np.where keep the quire in exact Python ints
    spec = MacSpec(mul, add, np.array(0, dtype=object), value)
    spec.quire = q
    return spec


def _posit_mac(n, es, quire=None):
    return _quire_mac(exact_product, n, es, quire)


def _plam_mac(n, es, quire=None):
    return _quire_mac(plam_product, n, es, quire)


_BUILDERS = {"bf16_mac": _bf16_mac, "mitch_bf16_mac": _mitch_bf16_mac,
             "int_mac": _int_mac, "mitch_mac": _mitch_mac,
             "posit_mac": _posit_mac, "plam_mac": _plam_mac}
MAC_UNITS = tuple(_BUILDERS)


def mac_spec(unit, **params):
    """The MacSpec of ``unit``; unknown units, unknown or bad parameters raise ParameterError."""
    if unit not in _BUILDERS:
        raise ParameterError(f"unit must be one of {', '.join(MAC_UNITS)}; got {unit!r}")
    builder = _BUILDERS[unit]
    allowed = inspect.signature(builder).parameters
    required = [k for k, p in allowed.items() if p.default is p.empty]
    if set(params) - set(allowed) or set(required) - set(params):
        raise ParameterError(f"{unit} takes parameters {', '.join(allowed) or 'none'} "
                             f"(required: {', '.join(required) or 'none'}); "
                             f"got {', '.join(sorted(params)) or 'none'}")
    return builder(**params)


def mac_run(a, b, en, clr, rst, *, unit, pipeline=0, **params):
    """acc after every rising edge for streams of per-cycle inputs.

    ``a``, ``b``, ``en``, ``clr``, ``rst`` broadcast together to shape (T, *streams): axis 0 is
    the cycle, the other axes are independent MACs run side by side. The products are computed
    for all cycles at once; only the accumulation loops over cycles, vectorized over streams.
    ``pipeline`` (0..2) is the number of register stages between the inputs and the adder.
    Returns an array of that shape: acc after edge t at index t (acc starts at 0).
    """
    spec = mac_spec(unit, **params)
    check_int("pipeline", pipeline, 0, 2)
    a, b, en, clr, rst = np.broadcast_arrays(a, b, np.asarray(en, bool), np.asarray(clr, bool),
                                             np.asarray(rst, bool))
    if a.ndim == 0:
        raise ParameterError("a must have a cycle axis (shape (T, ...)), got a scalar")
    p = spec.mul(a, b)
    def staged(x, zero):
        # One register stage: edge t sees edge t-1's value; a reset at edge t-1 cleared it.
        out = np.empty_like(x)
        out[0] = zero
        out[1:] = np.where(rst[:-1], zero, x[:-1])
        return out
    for _ in range(pipeline):
        p, en, clr = staged(p, spec.zero), staged(en, False), staged(clr, False)
    acc = np.full(a.shape[1:], spec.zero)
    out = np.empty(a.shape, dtype=acc.dtype)
    for t in range(a.shape[0]):
        nxt = spec.add(np.where(clr[t], spec.zero, acc), p[t])
        acc = np.where(rst[t], spec.zero, np.where(en[t], nxt, acc)).astype(out.dtype)
        out[t] = acc
    return spec.value(out)


def dot(a, b, unit, **params):
    """Dot products over the last axis as one MAC computes them: acc = 0 (+0), then
    acc <- add(acc, mul(a[..., k], b[..., k])) for k = 0..K-1 in order."""
    spec = mac_spec(unit, **params)
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    if a.ndim == 0:
        raise ParameterError("a must have a last axis K to sum over, got a scalar")
    p = spec.mul(a, b)
    acc = np.full(a.shape[:-1], spec.zero)
    for k in range(a.shape[-1]):
        acc = spec.add(acc, p[..., k]).astype(acc.dtype)
    return spec.value(acc)
