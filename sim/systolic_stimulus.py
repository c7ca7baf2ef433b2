"""Stimulus and expected results for the systolic-array bench (the model side of the bench).

A schedule is a list of events: ``("tile", A, B)`` streams a tile's K steps back to back,
``("gap", n)`` leaves n idle cycles, ``("reset", )`` pulses rst for one cycle, and
``("partial", A, B, k)`` streams only the first k steps of a tile (a reset must follow: the tile
is abandoned). A tile whose last step would come less than R + C - 1 cycles (the array's tile
spacing) after the previous tile's gets the missing idle cycles before its first step. Row
R-1-m of a finished tile is expected on ``c`` after the rising edge t_last + R + C - 1 + m
(visible in cycle t_last + R + C + m; one cycle later per PE register stage), m = 0 .. R-1, unless a reset reaches the array first;
expected values come from golden.systolic.matmul. Cycle 0 always resets the array.

With ``cv=True`` (the array's control variate) ``("kappa", values, d)`` writes the C values
through ``kappa`` / ``kappa_col`` / ``kappa_load``, column j in the (d + j)-th cycle the schedule
emits after the event (d = 0 if left out: from the next one, idle cycles or a tile's steps);
every row comes one cycle later and is expected from golden.systolic.matmul_cv with each
column's kappa as last written before the row's edge (a write in cycle t reaches the rows
captured on c at edges after t; rst keeps kappa, and it starts at 0).
"""

import numpy as np

from golden.floats import special_bf16_values
from golden.mitchell import operand_range
from golden.systolic import cv_widths, matmul, matmul_cv

FLOAT_PES = ("bf16_mac", "mitch_bf16_mac")


def random_operands(rng, shape, pe, pe_params, special_fraction=0.0, zero_fraction=0.0):
    """Operands in the PE's format: bf16 patterns (with a share of special values) or N-bit ints,
    with a share ``zero_fraction`` of zero-class values (0 and -1; +-0 and subnormals for bf16)
    for zero-gated PEs."""
    x = _random_operands(rng, shape, pe, pe_params, special_fraction)
    if zero_fraction:
        zeros = np.array([0, 0x8000, 0x0001] if pe in FLOAT_PES else
                         [0, 0] + ([-1] if pe_params.get("signed", "exact") != "none" else []))
        pick = rng.random(shape) < zero_fraction
        x[pick] = rng.choice(zeros, size=int(pick.sum()))
    return x


def _random_operands(rng, shape, pe, pe_params, special_fraction):
    if pe in FLOAT_PES:
        # Normal numbers of moderate exponent, so most dot products stay finite and nonzero.
        sign = rng.integers(0, 2, shape) << 15
        exp = rng.integers(127 - 20, 127 + 20, shape) << 7
        frac = rng.integers(0, 128, shape)
        x = (sign | exp | frac).astype(np.uint16)
        if special_fraction:
            pick = rng.random(shape) < special_fraction
            x[pick] = rng.choice(special_bf16_values(), size=int(pick.sum()))
        return x
    lo, hi = operand_range(pe_params["n"], pe_params.get("signed", "exact"))
    return rng.integers(lo, hi, shape, endpoint=True)


def build(schedule, *, rows, cols, pe, pe_params, cv=False, kappa_width=None,
          kappa_exp_width=None):
    """Per-cycle input arrays and the expected (edge, row of C) list of a schedule
    (``pe_params`` may hold the PE's ``pipeline``: its rows come one cycle later)."""
    pe_params = dict(pe_params)
    # Every register stage of the PE (pipeline, the zero-gated PE's operand stage) delays it.
    late = pe_params.pop("pipeline", 0) + int(pe_params.pop("gate_zero", False)) + int(cv)
    a, b, valid, last, rst, kappa = [], [], [], [], [], []
    tiles = []                                   # (t_last, A, B)
    zero_a, zero_b = np.zeros(rows, np.int64), np.zeros(cols, np.int64)
    spacing = rows + cols - 1
    pending = {}                                 # cycle -> (column, kappa) written then

    def emit(ai, bj, v, l, r):
        kappa.append(pending.get(len(a), (0, 0)))
        a.append(ai); b.append(bj); valid.append(v); last.append(l); rst.append(r)

    # Cycle 0 resets the array, as a user would after power-up; it also keeps the first operands
    # away from time 0, where the simulator's initial processes race with the bench's writes.
    emit(zero_a, zero_b, 0, 0, 1)
    previous_last = -spacing
    for event in schedule:
        kind = event[0]
        if kind in ("tile", "partial"):
            A, B = event[1], event[2]
            K = A.shape[1] if kind == "tile" else event[3]
            if kind == "tile":
                for _ in range(previous_last + spacing - (len(a) + K - 1)):
                    emit(zero_a, zero_b, 0, 0, 0)
            for k in range(K):
                emit(A[:, k].astype(np.int64), B[k, :].astype(np.int64), 1,
                     int(kind == "tile" and k == K - 1), 0)
            if kind == "tile":
                previous_last = len(a) - 1
                tiles.append((previous_last, A, B))
        elif kind == "gap":
            for _ in range(event[1]):
                emit(zero_a, zero_b, 0, 0, 0)
        elif kind == "reset":
            emit(zero_a, zero_b, 0, 0, 1)
            previous_last = len(a) - 1 - spacing
        elif kind == "kappa" and cv:
            start = len(a) + (event[2] if len(event) > 2 else 0)
            for j, v in enumerate(np.asarray(event[1], np.int64)):
                pending[start + j] = (j, int(v))
        else:
            raise ValueError(f"unknown schedule event {kind!r}")
    for _ in range(2 * rows + cols + late):      # the last tile drains
        emit(zero_a, zero_b, 0, 0, 0)

    resets = [t for t, r in enumerate(rst) if r]
    if max(pending, default=-1) >= len(a):
        raise ValueError("a kappa load falls after the schedule's end")
    # each column's kappa after each edge (the value a row captured at edge e used: after e - 1)
    held = np.zeros((len(a) + 1, cols), np.int64)
    for t in range(len(a)):
        held[t + 1] = held[t]
        if t in pending:
            held[t + 1, pending[t][0]] = pending[t][1]
    expected = []
    for t_last, A, B in tiles:
        if cv:
            per_row = {}
        else:
            c = matmul(A, B, pe=pe, **pe_params).astype(np.int64)
        for m in range(rows):
            edge = t_last + rows + cols - 1 + late + m
            # Lost if a reset edge comes after the last step but before the row is shown.
            if any(t_last < tr <= edge for tr in resets):
                continue
            if cv:
                # the kappa written at edges before the row's edge
                k = held[edge]
                key = tuple(int(v) for v in k)
                if key not in per_row:
                    per_row[key] = matmul_cv(
                        A, B, np.asarray(k, dtype=kappa_dtype(pe)), pe=pe, kappa_width=kappa_width,
                        kappa_exp_width=kappa_exp_width, **pe_params).astype(np.int64)
                expected.append((edge, per_row[key][rows - 1 - m]))
            else:
                expected.append((edge, c[rows - 1 - m]))
    inputs = {"a": np.array(a), "b": np.array(b), "valid": np.array(valid),
              "last": np.array(last), "rst": np.array(rst)}
    if cv:
        inputs["kappa"] = np.array([v for _, v in kappa], dtype=np.int64)
        inputs["kappa_col"] = np.array([j for j, _ in kappa], dtype=np.int64)
        inputs["kappa_load"] = np.array([int(t in pending) for t in range(len(a))])
    out_cycle = np.array([e for e, _ in expected], dtype=np.int64)
    out_c = np.array([c for _, c in expected], dtype=np.int64).reshape(len(expected), cols)
    return inputs, out_cycle, out_c


def kappa_dtype(pe):
    return np.uint16 if pe in FLOAT_PES else np.int64


def random_kappa(rng, cols, pe, pe_params, kappa_width=None, kappa_exp_width=None):
    """kappa port values: bf16 patterns of moderate magnitude (and a zero) for float PEs,
    random kappa_width-bit signed integers (with the extremes; the low shift bits, when the
    port has them, kept small half of the time so that kq S does not always wrap) for integer
    PEs."""
    if pe in FLOAT_PES:
        k = random_operands(rng, (cols,), pe, {})
        k[rng.random(cols) < 0.1] = 0
        return k.astype(np.int64)
    arith = {k: v for k, v in pe_params.items() if k not in ("pipeline", "gate_zero")}
    _, kw, _, ew = cv_widths(pe, kappa_width, kappa_exp_width, **arith)
    lo, hi = -(1 << (kw - 1)), (1 << (kw - 1)) - 1
    k = rng.integers(lo, hi, cols, endpoint=True)
    if ew:
        small = rng.random(cols) < 0.5
        k[small] = (k[small] >> ew << ew) | rng.integers(0, min(8, 1 << ew), int(small.sum()))
    pick = rng.random(cols)
    k[pick < 0.15] = lo
    k[(pick >= 0.15) & (pick < 0.3)] = hi
    return k
