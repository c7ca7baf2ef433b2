"""Error statistics of Mitch-w against exact multiplication (the paper's error table).

Relative error of one product: e = (mitch_mul(a, b) - a*b) / (a*b), over non-zero unsigned
N-bit operands, for two operand distributions drawn with a recorded seed:

* ``uniform``     -- a, b independent and uniform over 1 .. 2^N - 1 (most operands are large).
* ``log-uniform`` -- the bit length L of each operand uniform over 1..N, then the operand
  uniform over 2^(L-1) .. 2^L - 1 (every octave equally likely, as for scaled CNN data).

Exact Mitchell's error depends only on the fractions f_a, f_b: with uniform operands they are
nearly uniform and the mean at w = N is about -3.85 %; log-uniform operands include many short
ones whose fractions take few values (1, 2, 4 are exact), so their mean is smaller in magnitude.
Truncation (small w) adds a further negative bias, which ``unbiased`` removes on average.
"""

import numpy as np

from .mitchell import mitch_mul
from .params import check_choice, check_int

DISTRIBUTIONS = ("uniform", "log-uniform")


def draw_operands(rng, n, size, distribution):
    """``size`` non-zero unsigned N-bit operands from the named distribution."""
    check_choice("distribution", distribution, DISTRIBUTIONS)
    if distribution == "uniform":
        return rng.integers(1, 1 << n, size=size, dtype=np.uint64)
    length = rng.integers(1, n + 1, size=size).astype(np.uint64)
    low = np.uint64(1) << (length - np.uint64(1))
    return low + (rng.random(size) * low.astype(np.float64)).astype(np.uint64)


def relative_errors(a, b, *, n, w, variant):
    exact = a.astype(np.float64) * b.astype(np.float64)
    approx = mitch_mul(a, b, n=n, w=w, variant=variant).astype(np.float64)
    return (approx - exact) / exact


def error_table(*, n=16, ws=range(2, 17), variant="trunc", samples=1_000_000, seed=2022):
    """Mean, mean-absolute, min and max relative error for each w and distribution."""
    check_int("n", n, 4, 32)
    check_int("samples", samples, 1, 100_000_000)
    rows = []
    for dist in DISTRIBUTIONS:
        rng = np.random.default_rng(seed)
        a = draw_operands(rng, n, samples, dist)
        b = draw_operands(rng, n, samples, dist)
        for w in ws:
            e = relative_errors(a, b, n=n, w=w, variant=variant)
            rows.append({"distribution": dist, "w": w, "mean": float(e.mean()),
                         "mean_abs": float(np.abs(e).mean()), "min": float(e.min()),
                         "max": float(e.max())})
    return {"n": n, "variant": variant, "samples": samples, "seed": seed,
            "distributions": {"uniform": "a, b uniform over 1..2^N-1",
                              "log-uniform": "bit length uniform over 1..N, then uniform in that octave"},
            "rows": rows}


def format_table(table):
    lines = [f"Mitch-w relative error, N={table['n']}, variant={table['variant']}, "
             f"{table['samples']} pairs per distribution, seed={table['seed']}",
             f"{'distribution':<12} {'w':>3} {'mean %':>9} {'mean|e| %':>10} {'min %':>9} {'max %':>9}"]
    for r in table["rows"]:
        lines.append(f"{r['distribution']:<12} {r['w']:>3} {100 * r['mean']:>9.3f} "
                     f"{100 * r['mean_abs']:>10.3f} {100 * r['min']:>9.3f} {100 * r['max']:>9.3f}")
    return "\n".join(lines)
