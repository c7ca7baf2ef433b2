r"""Operand traces of a model for the cost flow's ``trace:FILE`` stream.

For each operand format -- bf16 patterns (uint16; for bf16_mul, mitch_bf16_mul and their MACs),
int8 and int16 values (int64, two's-complement range; for int_mul, mitch_mul signed) -- the
model runs on the first ``images`` test images with that format's exact unit (bf16, int8, int16)
and every approximated product's encoded operand matrices A (M x K) and B (K x C) are seen
through the executor's ``on_operands``. The trace is whole dot products as a MAC sees them:
outputs (node, m, c) are drawn at random with each node call's weight proportional to its MACs
(M K C), and the pairs (A[m, k], B[k, c]) for k = 0..K-1 appended until ``pairs`` pairs.
To bound memory, each call keeps KEEP_ROWS random rows of A (a uniform draw of m among them is a
uniform draw among all of the call's rows).

File ``{tag}_{fmt}.npz``: arrays ``a``, ``b`` (1-D, equal length) and ``layer`` (the node name of
each pair) -- the format synth/streams.py reads.
"""

from pathlib import Path

import numpy as np

from sweep import Task

FORMATS = (("bf16", "bf16"), ("int8", "int8"), ("int16", "int16"))
KEEP_ROWS = 256
TRACE_IMAGES = 20


def trace_task(path, entry, x, calib, pairs, seed):
    """(a, b, layer) arrays of ``pairs`` operand pairs of the model at ``path`` under ``entry``."""
    from .accuracy import _model
    from .executor import Session
    rng = np.random.default_rng(seed)
    calls = []

    def keep(name, a, b):
        rows = np.sort(rng.choice(a.shape[0], size=min(a.shape[0], KEEP_ROWS), replace=False))
        calls.append((name, np.array(a[rows]), np.array(b), a.shape[0] * a.shape[1] * b.shape[1]))

    Session(_model(path), entry, calib=calib, on_operands=keep).run(x)
    macs = np.array([c[3] for c in calls], dtype=float)
    ta, tb, tl, total = [], [], [], 0
    while total < pairs:
        name, a, b, _ = calls[rng.choice(len(calls), p=macs / macs.sum())]
        m, c = rng.integers(a.shape[0]), rng.integers(b.shape[1])
        ta.append(a[m]), tb.append(b[:, c]), tl.append(np.full(a.shape[1], name, dtype=object))
        total += a.shape[1]
    return (np.concatenate(ta)[:pairs], np.concatenate(tb)[:pairs],
            np.concatenate(tl)[:pairs].astype(str))


def trace_tasks(path, x, calib, tag, pairs, images=TRACE_IMAGES, seed=2022):
    """[(format, Task)] computing each format's trace with ``trace_task``."""
    return [(fmt, Task(f"{tag} trace {fmt}", (str(path), entry, x[:images], calib, pairs, seed)))
            for fmt, entry in FORMATS]


def save_trace(out, tag, fmt, trace, progress=None):
    """Write one trace (a, b, layer) as ``out/{tag}_{fmt}.npz``; returns the path."""
    a, b, layer = trace
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f = out / f"{tag}_{fmt}.npz"
    np.savez_compressed(f, a=a, b=b, layer=layer)
    if progress:
        progress(f"wrote {f} ({len(a)} pairs, {a.dtype})")
    return f
