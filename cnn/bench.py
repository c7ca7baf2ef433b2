"""Throughput of the approximate convolution against an exact float32 NumPy convolution.

Shapes: the CNN's conv2 (16 -> 32 channels, 14 x 14, 3 x 3 'same') on a batch of ``images``
feature maps ReLU(N(0, 1)) with He-normal weights. Reference: im2col + float32 GEMM (NumPy/BLAS).
Approximate: the layer as cnn.model runs it -- operands to bf16, class split of the feature map,
im2col of the class / scale maps, the sparse decomposition and exact rounding (cnn.gemm) -- so
every product is the golden unit's, bit for bit. Ratio = approximate MAC/s / float32 MAC/s.
"""

import time

import numpy as np

from . import gemm
from .mults import parse_mult, to_bf16


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def approx_conv(x, wmat, mult, k=3):
    """One conv layer through the fast path (x (N, C, H, W) float32, wmat (C*k*k, C_out))."""
    xc, b = to_bf16(x), to_bf16(wmat)
    if mult.check_fast(xc, b) is not None:
        raise ValueError("benchmark operands outside the decomposition's range")
    ca, sa = mult.split(xc)
    a_min = gemm.smallest_nonzero(sa)
    ca, sa = gemm.im2col(ca.astype(np.int32), k), gemm.im2col(sa, k)
    return gemm.fast_from_split(ca, sa, b, mult, a_min)


def conv_throughput(images=100, mults=("bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w8_trunc"),
                    repeat=3, seed=1):
    """[(name, MAC/s, ratio to float32)] with the float32 reference first."""
    rng = np.random.default_rng(seed)
    cin, cout, hw, k = 16, 32, 14, 3
    x = np.maximum(rng.standard_normal((images, cin, hw, hw)), 0).astype(np.float32)
    wmat = (rng.standard_normal((cin * k * k, cout)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
    macs = images * hw * hw * cin * k * k * cout
    ref = macs / _best(lambda: gemm.im2col(x, k) @ wmat, repeat)
    rows = [("conv numpy float32 (im2col+sgemm)", ref, 1.0)]
    for name in mults:
        mult = parse_mult(name)
        rate = macs / _best(lambda: approx_conv(x, wmat, mult, k), repeat)
        rows.append((f"conv golden {name}", rate, rate / ref))
    return rows
