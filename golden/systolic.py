"""Golden model of hdl.systolic.SystolicArray: a matrix product computed PE by PE.

    C[i, j] = dot(A[i, :], B[:, j]) with the PE's own golden MAC, accumulating in order
              k = 0 .. K-1 from +0 (0 for integer PEs)

so it is bit-exact with the array for float PEs too (fp32 addition is not associative).
"""

import numpy as np

from .mac import MAC_UNITS, dot
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
