"""Golden model of hdl.systolic.SystolicArray: a matrix product computed PE by PE.

    C[i, j] = dot(A[i, :], B[:, j]) with the PE's own golden MAC, accumulating in order
              k = 0 .. K-1 from +0 (0 for integer PEs)

so it is bit-exact with the array for float PEs too (fp32 addition is not associative).
"""

import numpy as np

from .mac import MAC_UNITS, dot, mac_spec
from .params import ParameterError, check_choice


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
