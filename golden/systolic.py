"""Golden model of hdl.systolic.SystolicArray: a matrix product computed PE by PE.

    C[i, j] = dot(A[i, :], B[:, j]) with the PE's own golden MAC, accumulating in order
              k = 0 .. K-1 from +0 (0 for integer PEs)

so it is bit-exact with the array for float PEs too (fp32 addition is not associative).
``matmul_cv`` is the array with the control-variate correction (cv=True).
"""

import numpy as np

from .control_variate import (KAPPA_FRAC_BITS, correct_float, correct_int, kappa_analytic,
                              quantize_kappa, variate_float_sequential, variate_int)
from .floats import BF16, bf16_to_float
from .mac import MAC_UNITS, check_acc_width, dot, mac_spec
from .mitchell import wrap_signed
from .params import ParameterError, check_choice, check_int


def matmul(A, B, *, pe, **pe_params):
    """C = A @ B (shapes (R, K) and (K, C)) with every product and sum done by the PE's MAC."""
    check_choice("pe", pe, MAC_UNITS)
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0] or A.shape[1] < 1:
        raise ParameterError(f"A and B must be (R, K) and (K, C) with K >= 1; got shapes "
                             f"{A.shape} and {B.shape}")
    # Broadcast to (R, C, K): every C[i, j] is one dot product over k.
    return dot(A[:, None, :], B.T[None, :, :], pe, **pe_params)


# The PEs of the weight-stationary array: MACs whose accumulator is its own result encoding
# (a posit MAC's quire is not: its rounded result cannot be fed back in as a partial sum).
WS_PE_UNITS = ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac")


def ws_matmul(A, B, psum=None, *, pe, **pe_params):
    """Golden model of hdl.systolic_ws.WeightStationaryArray: C = P + A @ B, PE by PE.

    A (N, K) rows streamed through the array, B (K, C) the stationary weights, ``psum`` P (N, C)
    the partial sums entering at the north edge (None: +0 for float PEs, 0 for integer ones; as
    fp32 patterns or integer values like the results). Down column j, top to bottom:

        C[i, j] = add(...add(add(P[i, j], mul(A[i, 0], B[0, j])), mul(A[i, 1], B[1, j]))...,
                      mul(A[i, K-1], B[K-1, j]))

    with the PE's own golden ``mul`` and ``add`` (golden.mac.mac_spec). A pass of the array has
    K = R; results fed back as P chain passes, and ``ws_matmul(A, B)`` with K = m R equals m
    chained passes and ``matmul(A, B)`` (the output-stationary order from +0).
    """
    check_choice("pe", pe, WS_PE_UNITS)
    spec = mac_spec(pe, **pe_params)
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0] or A.shape[1] < 1:
        raise ParameterError(f"A and B must be (N, K) and (K, C) with K >= 1; got shapes "
                             f"{A.shape} and {B.shape}")
    shape = (A.shape[0], B.shape[1])
    if psum is None:
        acc = np.full(shape, spec.zero)
    else:
        psum = np.asarray(psum)
        if psum.shape != shape:
            raise ParameterError(f"psum must have shape {shape} (N, C); got {psum.shape}")
        acc = _encode(psum, spec)
    # products[i, j, k] = mul(A[i, k], B[k, j])
    products = spec.mul(A[:, None, :], B.T[None, :, :])
    for k in range(A.shape[1]):
        acc = spec.add(acc, products[..., k]).astype(acc.dtype)
    return spec.value(acc)


def _encode(values, spec):
    """Results (the golden functions' values) back into the accumulator's encoding."""
    if spec.acc_width is None:                 # fp32 patterns
        return values.astype(np.uint32)
    mask = np.uint64(2 ** spec.acc_width - 1)
    return values.astype(np.int64).astype(np.uint64) & mask


# ---------------------------------------------------------------- control variate (cv=True)
FLOAT_PES = ("bf16_mac", "mitch_bf16_mac")
INT_PES = ("int_mac", "mitch_mac")


KAPPA_SIG_BITS = 8          # integer PEs: the default significand bits of a kappa port value
KAPPA_EXP_BITS = 5          # and shift bits (0..31: any kq of an N <= 16 operand)


def cv_widths(pe, kappa_width=None, kappa_exp_width=None, **pe_params):
    """(kind, kappa_width, s_width, kappa_exp_width) of the control-variate option for a PE.

    Float PEs: kappa is bf16 (16 bits, no shift field), S an fp32 running sum (32 bits).
    Integer PEs: S is the sum of the row's operands modulo 2^s_width, s_width = acc_width - N
    (two's complement): exact while K <= 2^(acc_width - 2N), the range where the accumulator
    cannot wrap either. A kappa port value of kappa_width = M + E bits holds a signed M-bit
    significand m (high bits) and an E-bit shift e (low bits): kq = m 2^e, the fixed-point
    kappa with KAPPA_FRAC_BITS fractional bits (``kappa_port``). Default M = 8, E = 5 (fewer
    shift bits where S is wider than 24 bits); E = 0 is a plain M-bit fixed-point kq. The
    correction's exact kq S must stay below 2^62: M + 2^E + s_width <= 64.

    Raises
    ------
    ParameterError
        for a PE without the option (posit PEs, mitch_mac with signed='none'), a kappa_width
        other than 16 or a kappa_exp_width for float PEs, or for integer PEs a kappa_exp_width
        outside 0..5 or a significand M = kappa_width - kappa_exp_width outside
        2..64 - 2^E - s_width.
    """
    check_choice("pe (with cv)", pe, FLOAT_PES + INT_PES)
    if pe in FLOAT_PES:
        if kappa_width not in (None, 16):
            raise ParameterError(f"kappa_width must be 16 for {pe} (the kappa port holds bf16 "
                                 f"values); got {kappa_width}")
        if kappa_exp_width not in (None, 0):
            raise ParameterError(f"kappa_exp_width is for integer PEs (the kappa port of {pe} "
                                 f"holds bf16 values); got {kappa_exp_width}")
        return "float", 16, 32, 0
    if pe_params.get("signed", "exact") == "none":
        raise ParameterError("cv needs signed operands (two's-complement S); mitch_mac "
                             "signed='none' is not supported")
    n = pe_params.get("n")
    acc_width = check_acc_width(n, pe_params.get("acc_width"))
    s_width = acc_width - n
    if kappa_exp_width is None:
        kappa_exp_width = KAPPA_EXP_BITS
        while kappa_exp_width and KAPPA_SIG_BITS + 2 ** kappa_exp_width + s_width > 64:
            kappa_exp_width -= 1
    check_int("kappa_exp_width", kappa_exp_width, 0, 5)
    sig = KAPPA_SIG_BITS if kappa_width is None else kappa_width - kappa_exp_width
    hi = 64 - 2 ** kappa_exp_width - s_width
    if not 2 <= sig <= hi:
        raise ParameterError(f"kappa significand bits (kappa_width - kappa_exp_width) must be in "
                             f"2..{hi} with {kappa_exp_width} shift bits and {s_width}-bit S; "
                             f"got {sig}")
    return "int", sig + kappa_exp_width, s_width, kappa_exp_width


def kappa_port(kq, *, exp_width, width):
    """The port values of fixed-point kappa integers kq (int64): m 2^E + e (a signed
    ``width``-bit integer, E = ``exp_width``) with kq = m 2^e and the smallest such e.

    Raises
    ------
    ParameterError
        where a kq is not m 2^e with a signed (width - E)-bit m and 0 <= e < 2^E, naming the
        bits it needs (golden.control_variate.quantize_kappa(..., sig_bits=) makes kq that fit).
    """
    kq = np.asarray(kq, dtype=np.int64)
    sig = width - exp_width
    lo, hi = -(1 << (sig - 1)), (1 << (sig - 1)) - 1
    e = np.full(kq.shape, -1, np.int64)
    for t in range(2 ** exp_width):
        m = kq >> t
        ok = (e < 0) & ((m << t) == kq) & (m >= lo) & (m <= hi)
        e[ok] = t
    if (e < 0).any():
        bad = int(kq[e < 0].flat[0])
        top = min(2 ** exp_width - 1, (bad & -bad).bit_length() - 1)   # the largest exact shift
        raise ParameterError(
            f"kappa {bad} (2^-{KAPPA_FRAC_BITS} units) needs {(bad >> top).bit_length() + 1} "
            f"significand bits at shift {top}; the kappa port has {sig} significand and "
            f"{exp_width} shift bits (shifts 0..{2 ** exp_width - 1})")
    return ((kq >> e) << exp_width) + e


def kappa_from_port(port, *, exp_width):
    """kq = m 2^e (int64) of port values m 2^E + e."""
    port = np.asarray(port, dtype=np.int64)
    return (port >> exp_width) << (port & ((1 << exp_width) - 1))


def matmul_cv(A, B, kappa, *, pe, kappa_width=None, kappa_exp_width=None, **pe_params):
    r"""The corrected product of hdl.systolic.SystolicArray(cv=True):

        C[i, j] = correct(matmul(A, B)[i, j], S_i, kappa[j])

    Float PEs (fp32 patterns out): S_i = variate_float_sequential(A[i, :]) (fp32_add in k
    order), kappa[j] bf16 patterns, correct = golden.control_variate.correct_float
    (fp32_add(y, -bf16_mul(kappa, bf16(S)))).
    Integer PEs (int64 out, wrapped to acc_width as the accumulator): S_i = sum_k A[i, k]
    wrapped to s_width bits (``cv_widths``), kappa[j] port values (signed kappa_width-bit
    integers) of kq = ``kappa_from_port``, correct = correct_int modulo 2^acc_width, computed as
    y + correct_int(0, S, kq) = y + ((2^(F-1) - kq S) >> F), the same value mod 2^acc_width
    without the 2^F y term (which could leave int64).

    Raises
    ------
    ParameterError
        as ``cv_widths``; kappa not (C,) or not fitting the port.
    """
    kind, kw, s_width, ew = cv_widths(pe, kappa_width, kappa_exp_width, **pe_params)
    C = matmul(A, B, pe=pe, **pe_params)
    kappa = np.asarray(kappa)
    if kappa.shape != (C.shape[1],):
        raise ParameterError(f"kappa must have one value per column, shape ({C.shape[1]},); "
                             f"got {kappa.shape}")
    if kind == "float":
        S = variate_float_sequential(A).view(np.float32)
        k = (BF16.bits(kappa, "kappa").astype(np.uint32) << 16).view(np.float32)
        return correct_float(C.view(np.float32), S, k).view(np.uint32)
    if kappa.dtype.kind not in "iu" or (kappa.size and (
            int(kappa.min()) < -(1 << (kw - 1)) or int(kappa.max()) >= 1 << (kw - 1))):
        raise ParameterError(f"kappa must be integers that fit a signed {kw}-bit port")
    S = wrap_signed(variate_int(np.asarray(A)), s_width)
    acc_width = check_acc_width(pe_params["n"], pe_params.get("acc_width"))
    kq = kappa_from_port(kappa, exp_width=ew)
    corr = correct_int(np.zeros_like(C, dtype=np.int64), S, kq)
    return wrap_signed(C.astype(np.int64) + corr, acc_width)


def port_kappa(b, a_samples, *, pe, kappa_width=None, kappa_exp_width=None, **pe_params):
    """The kappa port values (bf16 patterns, or ``kappa_port`` integers) of weights ``b`` (K, C)
    for the activations ``a_samples`` (operands in the PE's format: bf16 patterns or integers):
    golden.control_variate.kappa_analytic (weighting 'activation') with the PE's golden
    product, made the port's constants by quantize_kappa (integer PEs: rounded to the port's
    significand bits; ParameterError where the shift does not fit)."""
    kind, kw, _, ew = cv_widths(pe, kappa_width, kappa_exp_width, **pe_params)
    spec = mac_spec(pe, **pe_params)
    if kind == "float":
        product = lambda x, y: spec.mul(x, y).view(np.float32).astype(np.float64)  # noqa: E731
        value = bf16_to_float
    else:
        product = lambda x, y: spec.value(spec.mul(x, y)).astype(np.float64)     # noqa: E731
        value = None
    kappa = kappa_analytic(product, np.asarray(b), np.asarray(a_samples), value=value)
    if kind == "float":
        kq = quantize_kappa(kappa, kind)
        return (kq.view(np.uint32) >> 16).astype(np.uint16)
    return kappa_port(quantize_kappa(kappa, kind, sig_bits=kw - ew), exp_width=ew, width=kw)
