"""Throughput of the approximate convolution against an exact float32 NumPy convolution.

``bench_gemm``: the ResNet-20 conv layers (28 x 28 inputs) per multiplier, side by side with
float32 im2col + sgemm; ``conv_throughput``: one layer (the small CNN's conv2).

Shapes: the CNN's conv2 (16 -> 32 channels, 14 x 14, 3 x 3 'same') on a batch of ``images``
feature maps ReLU(N(0, 1)) with He-normal weights. Reference: im2col + float32 GEMM (NumPy/BLAS).
Approximate: operands to bf16, then cnn.gemm.fast_conv (patches read from the feature map,
dgemm for bf16, the compiled gather kernel for Mitch-w, exact rounding) -- every product is the
golden unit's, bit for bit. Ratio = approximate MAC/s / float32 MAC/s.
"""

import time

import numpy as np

from . import gemm
from .mults import parse_mult, to_bf16


def _best(fn, repeat, clock=time.perf_counter):
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def approx_conv(x, wmat, mult, k=3):
    """One conv layer through the fast path (x (N, C, H, W) float32, wmat (C*k*k, C_out))."""
    return gemm.fast_conv(to_bf16(x), to_bf16(wmat), mult, k)


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


# ResNet-20 on 28 x 28 inputs (cnn/nets.py's resnet20): (c_in, c_out, k, stride, h_in, count)
RESNET20_LAYERS = (
    (1, 16, 3, 1, 28, 1),                                    # conv1
    (16, 16, 3, 1, 28, 6),                                   # stage 1
    (16, 32, 3, 2, 28, 1), (16, 32, 1, 2, 28, 1), (32, 32, 3, 1, 14, 5),   # stage 2
    (32, 64, 3, 2, 14, 1), (32, 64, 1, 2, 14, 1), (64, 64, 3, 1, 7, 5),    # stage 3
)
BENCH_MULTS = ("bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w3_trunc", "int8",
               "mitch_int8_w6_trunc_exact", "mitch_int16_w6_trunc_c1")


def patches(x, k, stride):
    return gemm.im2col(x, k, stride)


def exact_conv(x, wmat, mult, k, stride=1):
    """One conv layer through the exact fast path, from float32 x (N, C, H, W) and wmat
    (C*k*k, C_out) to float32 (N*H'*W', C_out): operands encoded as cnn.mults states (bf16, or
    symmetric quantization: activations per tensor, weights per output channel)."""
    if mult.kind == "float":
        xc, b = to_bf16(x), to_bf16(wmat)
        scale = None
    else:
        s_a = max(float(np.abs(x).max()), 1e-30) / mult.qmax
        s_w = mult.weight_scale(wmat)
        xc, b = mult.quantize(x, s_a), mult.quantize(wmat, s_w)
        scale = s_a * s_w
    y = gemm.fast_conv(xc, b, mult, k, stride)
    if scale is not None:
        y = (y.astype(np.float64) * scale).astype(np.float32)
    return y


def bench_gemm(images=32, mults=BENCH_MULTS, repeat=3, seed=1, layers=RESNET20_LAYERS,
               clock="wall"):
    """[(name, G MAC/s, ratio to float32)] over the ResNet-20 conv layers, float32 first.

    Every layer gets its own operands: x = ReLU(N(0, 1)) (about half zeros) of the layer's input
    shape, He-normal weights. A multiplier's time is the sum over layers (times ``count``) of the
    best of ``repeat`` runs of the whole layer: encoding, split, im2col, products and rounding.
    ``clock``: 'wall' (time.perf_counter) or 'cpu' (time.process_time: the CPU time of all the
    process's threads -- steadier on a shared machine; run single-threaded with
    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 for per-core figures, since idle BLAS / numba
    worker threads spin)."""
    timer = {"wall": time.perf_counter, "cpu": time.process_time}[clock]
    rng = np.random.default_rng(seed)
    ops = []
    for cin, cout, k, stride, h, count in layers:
        x = np.maximum(rng.standard_normal((images, cin, h, h)), 0).astype(np.float32)
        wmat = (rng.standard_normal((cin * k * k, cout)) * np.sqrt(2 / (cin * k * k))
                ).astype(np.float32)
        hout = (h - 1) // stride + 1
        ops.append((x, wmat, k, stride, count, images * hout * hout * cin * k * k * cout))
    macs = sum(o[4] * o[5] for o in ops)

    def rate(fn):
        return macs / sum(o[4] * _best(lambda o=o: fn(o), repeat, timer) for o in ops) / 1e9

    ref = rate(lambda o: patches(o[0], o[2], o[3]) @ o[1])
    rows = [("fp32 (numpy im2col + sgemm)", ref, 1.0)]
    for name in mults:
        mult = parse_mult(name)
        r = rate(lambda o, mult=mult: exact_conv(o[0], o[1], mult, o[2], o[3]))
        rows.append((name, r, r / ref))
    return rows


def print_bench_gemm(**kw):
    """Print bench_gemm's table (``python -m cnn.bench``)."""
    rows = bench_gemm(**kw)
    print(f"{'ResNet-20 conv layers':<32} {'G MAC/s':>8} {'ratio':>7}")
    for name, r, ratio in rows:
        print(f"{name:<32} {r:8.2f} {ratio:7.3f}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=print_bench_gemm.__doc__)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mults", default=",".join(BENCH_MULTS))
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    print_bench_gemm(images=args.images, repeat=args.repeat, mults=tuple(args.mults.split(",")),
                     clock=args.clock)
