"""Stimulus and expected results for the systolic-array bench (the model side of the bench).

A schedule is a list of events: ``("tile", A, B)`` streams a tile's K steps back to back,
``("gap", n)`` leaves n idle cycles, ``("reset", )`` pulses rst for one cycle, and
``("partial", A, B, k)`` streams only the first k steps of a tile (a reset must follow: the tile
is abandoned). A tile whose last step would come less than R + C - 1 cycles (the array's tile
spacing) after the previous tile's gets the missing idle cycles before its first step. Row
R-1-m of a finished tile is expected on ``c`` after the rising edge t_last + R + C - 1 + m
(visible in cycle t_last + R + C + m; one cycle later per PE register stage), m = 0 .. R-1, unless a reset reaches the array first;
expected values come from golden.systolic.matmul. Cycle 0 always resets the array.
"""

import numpy as np

from golden.floats import special_bf16_values
from golden.mitchell import operand_range
from golden.systolic import matmul

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


def build(schedule, *, rows, cols, pe, pe_params):
    """Per-cycle input arrays and the expected (edge, row of C) list of a schedule
    (``pe_params`` may hold the PE's ``pipeline``: its rows come one cycle later)."""
    pe_params = dict(pe_params)
    # Every register stage of the PE (pipeline, the zero-gated PE's operand stage) delays it.
    late = pe_params.pop("pipeline", 0) + int(pe_params.pop("gate_zero", False))
    a, b, valid, last, rst = [], [], [], [], []
    tiles = []                                   # (t_last, C)
    zero_a, zero_b = np.zeros(rows, np.int64), np.zeros(cols, np.int64)
    spacing = rows + cols - 1

    def step(ai, bj, v, l, r):
        a.append(ai); b.append(bj); valid.append(v); last.append(l); rst.append(r)

    # Cycle 0 resets the array, as a user would after power-up; it also keeps the first operands
    # away from time 0, where the simulator's initial processes race with the bench's writes.
    step(zero_a, zero_b, 0, 0, 1)
    previous_last = -spacing
    for event in schedule:
        kind = event[0]
        if kind in ("tile", "partial"):
            A, B = event[1], event[2]
            K = A.shape[1] if kind == "tile" else event[3]
            if kind == "tile":
                for _ in range(previous_last + spacing - (len(a) + K - 1)):
                    step(zero_a, zero_b, 0, 0, 0)
            for k in range(K):
                step(A[:, k].astype(np.int64), B[k, :].astype(np.int64), 1,
                     int(kind == "tile" and k == K - 1), 0)
            if kind == "tile":
                previous_last = len(a) - 1
                tiles.append((previous_last, matmul(A, B, pe=pe, **pe_params).astype(np.int64)))
        elif kind == "gap":
            for _ in range(event[1]):
                step(zero_a, zero_b, 0, 0, 0)
        elif kind == "reset":
            step(zero_a, zero_b, 0, 0, 1)
            previous_last = len(a) - 1 - spacing
        else:
            raise ValueError(f"unknown schedule event {kind!r}")
    for _ in range(2 * rows + cols + late):      # the last tile drains
        step(zero_a, zero_b, 0, 0, 0)

    resets = [t for t, r in enumerate(rst) if r]
    expected = []
    for t_last, c in tiles:
        for m in range(rows):
            edge = t_last + rows + cols - 1 + late + m
            # Lost if a reset edge comes after the last step but before the row is shown.
            if not any(t_last < tr <= edge for tr in resets):
                expected.append((edge, c[rows - 1 - m]))
    inputs = {"a": np.array(a), "b": np.array(b), "valid": np.array(valid),
              "last": np.array(last), "rst": np.array(rst)}
    out_cycle = np.array([e for e, _ in expected], dtype=np.int64)
    out_c = np.array([c for _, c in expected], dtype=np.int64).reshape(len(expected), cols)
    return inputs, out_cycle, out_c
