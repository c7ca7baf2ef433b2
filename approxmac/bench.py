"""Throughput benchmarks, printed side by side in one run (figures, not pass/fail tests)."""

import time

import numpy as np

from golden.mitchell import mitch_mul


def _rate(fn, count, repeat=3):
    best = min(_timed(fn) for _ in range(repeat))
    return count / best


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_golden(vectors, n=16, w=6, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << n, vectors, dtype=np.int64)
    b = rng.integers(0, 1 << n, vectors, dtype=np.int64)
    exact = _rate(lambda: a * b, vectors)
    rows = []
    for variant in ("trunc", "unbiased"):
        rate = _rate(lambda: mitch_mul(a, b, n=n, w=w, variant=variant), vectors)
        rows.append((f"golden mitch_mul n={n} w={w} {variant}", rate, rate / exact))
    return exact, rows


def bench_cosim(vectors, n=16, w=6, seed=1):
    from hdl.mitchell import MitchMul
    from sim.runner import run_cosim
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << n, vectors, dtype=np.int64)
    b = rng.integers(0, 1 << n, vectors, dtype=np.int64)
    unit = MitchMul(n=n, w=w)
    t = time.perf_counter()
    checked = run_cosim(unit, "combinational", inputs={"a": a, "b": b},
                        expected={"p": mitch_mul(a, b, n=n, w=w)}, tag="_bench")
    return checked / (time.perf_counter() - t)


def print_network(images, clock="wall", threads=None):
    """ResNet-20 images/s per multiplier, ratio to onnxruntime FP32, peak memory."""
    from cnn.netbench import network_throughput
    out = network_throughput(images=images, clock=clock, threads=threads)
    if isinstance(out, str):
        print(out)
        return
    rows, batch = out
    print(f"\nwhole network, batch of {batch}, each entry in a fresh process after onnxruntime "
          f"FP32 on the same batch; {clock} clock, "
          f"{'default threads' if threads is None else f'{threads} thread(s)'}")
    print(f"{'network / entry':<40} {'images/s':>10} {'ORT img/s':>10} {'ratio':>7} "
          f"{'peak MiB':>9} {'run MiB':>8}")
    for name, rate, ort, ratio, peak, above in rows:
        print(f"{name:<40} {rate:>10.1f} {ort:>10.1f} {ratio:>7.3f} {peak:>9.0f} "
              f"{'' if above is None else f'{above:.0f}':>8}")


def run_bench(vectors=2_000_000, cosim_vectors=50_000, net_images=64, net_clock="wall",
              net_threads=None, net_only=False):
    if not net_only:
        exact, rows = bench_golden(vectors)
        print(f"{'benchmark':<40} {'ops/s':>14} {'ratio':>8}")
        print(f"{'numpy exact int64 a*b (reference)':<40} {exact:>14.3e} {1.0:>8.3f}")
        for name, rate, ratio in rows:
            print(f"{name:<40} {rate:>14.3e} {ratio:>8.3f}")
        from cnn.bench import conv_throughput   # CNN conv2 shapes; ratio to float32 (goal >= 0.1)
        for name, rate, ratio in conv_throughput():
            print(f"{name:<40} {rate:>14.3e} {ratio:>8.3f}  (MAC/s)")
    print_network(net_images, net_clock, net_threads)
    if not net_only:
        rate = bench_cosim(cosim_vectors)
        print(f"{'cocotb+Icarus cosim mitch_mul n=16 w=6':<40} {rate:>14.3e} {'':>8}  "
              f"(vectors/s, incl. build)")
