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


def cv_widths(pe, kappa_width=None, **pe_params):
    """(kind, kappa_width, s_width) of the control-variate option for a PE.

    Float PEs: kappa is bf16 (16 bits), S an fp32 running sum (32 bits). Integer PEs: kappa is
    a signed fixed-point integer with KAPPA_FRAC_BITS fractional bits, ``kappa_width`` bits
    (default N + F: any |kappa| < 2^(N-1), the largest operand magnitude), and S is the sum of
    the row's operands modulo 2^s_width, s_width = acc_width - N (two's complement): exact
    while K <= 2^(acc_width - 2N), the range where the accumulator cannot wrap either.

    Raises
    ------
    ParameterError
        for a PE without the option (posit PEs, mitch_mac with signed='none'), a kappa_width
        other than 16 for float PEs, or outside 2..62 - s_width for integer PEs.
    """
    check_choice("pe (with cv)", pe, FLOAT_PES + INT_PES)
    if pe in FLOAT_PES:
        if kappa_width not in (None, 16):
            raise ParameterError(f"kappa_width must be 16 for {pe} (the kappa port holds bf16 "
                                 f"values); got {kappa_width}")
        return "float", 16, 32
    if pe_params.get("signed", "exact") == "none":
        raise ParameterError("cv needs signed operands (two's-complement S); mitch_mac "
                             "signed='none' is not supported")
    n = pe_params.get("n")
    acc_width = check_acc_width(n, pe_params.get("acc_width"))
    s_width = acc_width - n
    kappa_width = n + KAPPA_FRAC_BITS if kappa_width is None else kappa_width
    check_int("kappa_width", kappa_width, 2, 62 - s_width)
    return "int", kappa_width, s_width


def matmul_cv(A, B, kappa, *, pe, kappa_width=None, **pe_params):
    r"""The corrected product of hdl.systolic.SystolicArray(cv=True):

        C[i, j] = correct(matmul(A, B)[i, j], S_i, kappa[j])

    Float PEs (fp32 patterns out): S_i = variate_float_sequential(A[i, :]) (fp32_add in k
    order), kappa[j] bf16 patterns, correct = golden.control_variate.correct_float
    (fp32_add(y, -bf16_mul(kappa, bf16(S)))).
    Integer PEs (int64 out, wrapped to acc_width as the accumulator): S_i = sum_k A[i, k]
    wrapped to s_width bits (``cv_widths``), kappa[j] the kq integers of a kappa_width-bit
    port, correct = correct_int modulo 2^acc_width, computed as
    y + correct_int(0, S, kq) = y + ((2^(F-1) - kq S) >> F), the same value mod 2^acc_width
    without the 2^F y term (which could leave int64).

    Raises
    ------
    ParameterError
        as ``cv_widths``; kappa not (C,) or not fitting the port.
    """
    kind, kw, s_width = cv_widths(pe, kappa_width, **pe_params)
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
    corr = correct_int(np.zeros_like(C, dtype=np.int64), S, kappa.astype(np.int64))
    return wrap_signed(C.astype(np.int64) + corr, acc_width)


def port_kappa(b, a_samples, *, pe, kappa_width=None, **pe_params):
    """The kappa port values (bf16 patterns, or kq integers) of weights ``b`` (K, C) for the
    activations ``a_samples`` (operands in the PE's format: bf16 patterns or integers):
    golden.control_variate.kappa_analytic (weighting 'activation') with the PE's golden
    product, made the port's constants by quantize_kappa (ParameterError where a kq does not
    fit kappa_width bits)."""
    kind, kw, _ = cv_widths(pe, kappa_width, **pe_params)
    spec = mac_spec(pe, **pe_params)
    if kind == "float":
        product = lambda x, y: spec.mul(x, y).view(np.float32).astype(np.float64)  # noqa: E731
        value = bf16_to_float
    else:
        product = lambda x, y: spec.value(spec.mul(x, y)).astype(np.float64)     # noqa: E731
        value = None
    kappa = kappa_analytic(product, np.asarray(b), np.asarray(a_samples), value=value)
    kq = quantize_kappa(kappa, kind, width=None if kind == "float" else kw)
    if kind == "float":
        return (kq.view(np.uint32) >> 16).astype(np.uint16)
    return kq
