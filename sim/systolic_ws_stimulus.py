"""Stimulus and expected results for the weight-stationary array bench (the model side).

A schedule is a list of events, played in order:

* ``("weights", B)`` -- B (R, C): load B's rows (B[R-1] first) in the earliest R cycles the
  reload rule (hdl/systolic_ws.py) allows, overlapping the rows already streaming, then swap; rows after this event
  use B. If the swap has to wait for the loads, the rows wait too (idle cycles).
* ``("rows", A, P)`` -- stream A's rows (N, R) back to back with north partial sums P (N, C;
  None: +0 / 0, driven skewed: column j of row t in cycle t + j).
* ``("partial_weights", B, n)`` -- only the first n of B's R loads, no swap (a reset must
  follow before the next weights: the load is abandoned).
* ``("gap", n)`` -- n cycles without a row.
* ``("reset", )`` -- rst for one cycle after everything scheduled so far has been driven
  (rows still in the array are lost, per column); the weights must be loaded again.

Cycle 0 always resets the array. Unused cycles of a, w and psum_in carry random junk (the
array must ignore it). Column j of the row given in cycle t is expected on c after the rising
edge t + R + j - 1 (visible in cycle t + R + j) unless rst is high in a cycle t .. t + R + j - 1;
values come from golden.systolic.ws_matmul with the weights active for that row.
"""

import numpy as np

from golden.mac import mac_spec
from golden.systolic import ws_matmul

FLOAT_PES = ("bf16_mac", "mitch_bf16_mac")


def acc_bits(pe, pe_params):
    width = mac_spec(pe, **pe_params).acc_width
    return 32 if width is None else width


def random_psums(rng, shape, pe, pe_params, special_fraction=0.0):
    """North partial sums in the accumulator's format: fp32 patterns of moderate exponent with a
    share of special classes (+-0, subnormals, +-Inf, NaNs), or integers anywhere in A bits."""
    if pe in FLOAT_PES:
        sign = rng.integers(0, 2, shape).astype(np.uint32) << 31
        exp = rng.integers(127 - 20, 127 + 20, shape).astype(np.uint32) << 23
        frac = rng.integers(0, 1 << 23, shape).astype(np.uint32)
        x = sign | exp | frac
        specials = np.array([0, 0x8000_0000, 0x0000_0001, 0x807F_FFFF, 0x7F80_0000,
                             0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7F7F_FFFF], np.uint32)
        pick = rng.random(shape) < special_fraction
        x[pick] = rng.choice(specials, size=int(pick.sum()))
        return x
    width = acc_bits(pe, pe_params)
    lo, hi = (0, 2 ** width - 1) if pe_params.get("signed") == "none" else \
        (-2 ** (width - 1), 2 ** (width - 1) - 1)
    return rng.integers(lo, hi, shape, endpoint=True)


def build(schedule, *, rows, cols, pe, pe_params, seed=0, early=None):
    """Per-cycle inputs and the expected (edge, column, value) outputs of a schedule.

    ``early`` ({"swap": n} or {"load": n}) breaks the reload rule by n cycles (negative tests)."""
    early = early or {}
    rng = np.random.default_rng(seed)
    wa = 16 if pe in FLOAT_PES else pe_params["n"]
    wacc = acc_bits(pe, pe_params)
    cycles = {"rst": {0: 1}, "valid": {}, "w_load": {}, "swap": {}}
    a, w, psum = {}, {}, {}                    # cycle -> row of values
    rows_out = []                              # (t, C row)
    state = {"row": 1, "load": 1, "end": 1}      # next row cycle, earliest load, end
    weights = None

    for event in schedule:
        kind = event[0]
        if kind == "weights":
            B = np.asarray(event[1])
            assert B.shape == (rows, cols), B.shape
            loads = range(state["load"], state["load"] + rows)
            for n, t in enumerate(loads):
                cycles["w_load"][t] = 1
                w[t] = B[rows - 1 - n]
            s = max(loads[-1] + 2 + early.get("swap", 0), state["row"] - 1)
            cycles["swap"][s] = 1
            state.update(row=max(state["row"], s + 1),
                         load=max(s + rows + cols - 3 + early.get("load", 0), loads[-1] + 1),
                         end=max(state["end"], s + 1))
            weights = B
        elif kind == "partial_weights":
            B, count = np.asarray(event[1]), event[2]
            for n, t in enumerate(range(state["load"], state["load"] + count)):
                cycles["w_load"][t] = 1
                w[t] = B[rows - 1 - n]
            state["end"] = max(state["end"], state["load"] + count)
        elif kind == "rows":
            A = np.asarray(event[1])
            P = event[2]
            if weights is None:
                raise ValueError("rows before any weights (or after a reset)")
            C = ws_matmul(A, weights, P, pe=pe, **pe_params)
            for i in range(A.shape[0]):
                t = state["row"]
                cycles["valid"][t] = 1
                a[t] = A[i]
                if P is not None:
                    for j in range(cols):
                        psum.setdefault(t + j, {})[j] = P[i, j]
                else:
                    for j in range(cols):
                        psum.setdefault(t + j, {})[j] = 0
                rows_out.append((t, C[i]))
                state["row"] = t + 1
            state["end"] = max(state["end"], state["row"])
        elif kind == "gap":
            state["row"] += event[1]
            state["end"] = max(state["end"], state["row"])
        elif kind == "reset":
            r = max(state["end"], state["row"])      # after every row, load and swap so far
            cycles["rst"][r] = 1
            state.update(row=r + 1, load=r + 1, end=r + 1)
            weights = None
        else:
            raise ValueError(f"unknown schedule event {kind!r}")

    last = max([state["end"]] + [max(d) for d in cycles.values() if d] + list(psum))
    T = last + rows + cols + 2
    inputs = {k: np.array([d.get(t, 0) for t in range(T)], dtype=np.uint64)
              for k, d in cycles.items()}
    # Bit patterns (uint64) of every bus element; junk wherever the array must not look.
    for name, width, n, given in (("a", wa, rows, a), ("w", wa, cols, w), ("psum_in", wacc, cols, None)):
        bus = rng.integers(0, 2 ** width, (T, n), dtype=np.uint64)
        if given is not None:
            for t, row in given.items():
                bus[t] = patterns(row, width)
        else:
            for t, cells in psum.items():
                for j, v in cells.items():
                    bus[t, j] = patterns([v], width)[0]
        inputs[name] = bus
    resets = [t for t in range(T) if inputs["rst"][t]]
    expected = []
    for t, c in rows_out:
        for j in range(cols):
            edge = t + rows + j - 1
            if not any(t <= r <= edge for r in resets):
                expected.append((edge, j, int(c[j])))
    expected.sort()
    out = {"edge": np.array([e for e, _, _ in expected], dtype=np.int64),
           "col": np.array([j for _, j, _ in expected], dtype=np.int64),
           "c": patterns([v for _, _, v in expected], wacc)}
    return inputs, out


def patterns(values, width):
    """Two's-complement (or float) bit patterns, mod 2^width, as uint64."""
    mask = (1 << width) - 1
    return np.array([int(v) & mask for v in values], dtype=np.uint64)
