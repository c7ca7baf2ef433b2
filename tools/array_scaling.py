"""Energy and area of an R x C systolic array (hdl/systolic.py) from measured smaller arrays.

    PYTHONPATH=. python tools/array_scaling.py build/synth/osu018/systolic_r*_c*_mitch_mac_* \\
        [--predict 16x16] [--predict 32x32]

Each argument is a result folder (or its result.json) of the cost flow for one array size, all
with the same PE, stream, library, recipe and clock. The model counts the array's parts
(hdl/systolic.py's structure):

    E_cycle(R, C) = e_pe * R*C                       PEs, their shadow, forwarding and control replicas
                  + e_skew * (R(R-1) + C(C-1)) / 2   input skew register stages (row i: i, column j: j)
                  + e_edge * (R + C)                 per-row / per-column edge logic, control taps
                  + e_0                              the rest (first, c_valid)

with energy per cycle E_cycle = energy_pj_per_op * R*C (the flow's energy per MAC; every PE does
one MAC per cycle), and the same form for the area. The four coefficients are a least-squares
fit; square sizes alone cannot separate e_skew from e_pe and e_edge (for R = C the skew count is
R*C - (R + C)/2), so the sizes must include a non-square one. The table gives every measured size
predicted from a fit on the *other* sizes (leave one out, where the rest still determine the
fit: the validation error) and the requested sizes from the fit on all.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from golden.params import ParameterError

BASIS = ("pe", "skew", "edge", "const")


def features(rows, cols):
    """The part counts of an R x C array, in BASIS order."""
    return [rows * cols, (rows * (rows - 1) + cols * (cols - 1)) / 2, rows + cols, 1.0]


def fit(points):
    """Least-squares coefficients (BASIS order) of ``points`` = [(rows, cols, value), ...].

    Raises
    ------
    golden.params.ParameterError
        The sizes do not determine the four coefficients (fewer than four sizes, or square
        sizes only).
    """
    x = np.array([features(r, c) for r, c, _ in points], dtype=float)
    y = np.array([v for _, _, v in points], dtype=float)
    if len(points) < len(BASIS) or np.linalg.matrix_rank(x) < len(BASIS):
        sizes = ", ".join(f"{r}x{c}" for r, c, _ in points)
        raise ParameterError(f"array sizes {sizes or 'none'} do not determine the {len(BASIS)} "
                             f"coefficients ({', '.join(BASIS)}): give at least four distinct "
                             "sizes, one of them non-square")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def predict(coef, rows, cols):
    return float(np.dot(features(rows, cols), coef))


def validate(points):
    """[(rows, cols, measured, predicted or None)]: each point predicted from the others."""
    out = []
    for k, (r, c, v) in enumerate(points):
        rest = points[:k] + points[k + 1:]
        try:
            out.append((r, c, v, predict(fit(rest), r, c)))
        except ParameterError:
            out.append((r, c, v, None))
    return out


def read_record(path):
    path = Path(path)
    record = json.loads((path / "result.json" if path.is_dir() else path).read_text())
    if record.get("unit") != "systolic":
        raise ParameterError(f"{path}: not a systolic array result (unit {record.get('unit')!r})")
    return record


def check_same(records):
    """The records differ only in rows and cols."""
    def key(rec):
        params = {k: v for k, v in rec["params"].items() if k not in ("rows", "cols")}
        return (json.dumps(params, sort_keys=True), rec["stream"], rec["liberty"]["sha256"],
                rec["recipe"], rec["clock_ns"])
    keys = {key(r) for r in records}
    if len(keys) > 1:
        raise ParameterError("the results must differ only in rows and cols (same PE, stream, "
                             f"library, recipe, clock); got {len(keys)} groups")
    sizes = [(r["params"]["rows"], r["params"]["cols"]) for r in records]
    if len(set(sizes)) < len(sizes):
        raise ParameterError(f"each size once; got {sizes}")


def table(records, extra=()):
    """Markdown lines: per size, measured and predicted energy per MAC and area."""
    check_same(records)
    records = sorted(records, key=lambda r: (r["params"]["rows"], r["params"]["cols"]))
    energy = [(r["params"]["rows"], r["params"]["cols"],
               r["energy_pj_per_op"] * r["params"]["rows"] * r["params"]["cols"]) for r in records]
    area = [(r["params"]["rows"], r["params"]["cols"], r["area_um2"]) for r in records]
    e_fit, a_fit = fit(energy), fit(area)
    lines = [f"fit on {', '.join(f'{r}x{c}' for r, c, _ in energy)} "
             f"(clock {records[0]['clock_ns']} ns, stream {records[0]['stream']}): energy per "
             "cycle pJ = " + " + ".join(f"{v:.3f}·{n}" for n, v in zip(BASIS, e_fit)), "",
             "| size | energy pJ/MAC measured | predicted (leave one out) | error "
             "| area µm² measured | predicted (leave one out) | error | fmax MHz |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(measured, pred):
        if pred is None:
            return "not determined", "—"
        return f"{pred:.3f}", f"{100 * (pred / measured - 1):+.1f} %"

    for (r, c, e, pe), (_, _, a, pa), rec in zip(validate(energy), validate(area), records):
        n = r * c
        ep, ee = cell(e / n, None if pe is None else pe / n)
        ap, ae = cell(a, pa)
        lines.append(f"| {r}×{c} | {e / n:.3f} | {ep} | {ee} | {a:.0f} | {ap} | {ae} | "
                     f"{1000 / rec['delay_ns']:.1f} |")
    for r, c in extra:
        lines.append(f"| {r}×{c} (estimate) | — | {predict(e_fit, r, c) / (r * c):.3f} | — | — | "
                     f"{predict(a_fit, r, c):.0f} | — | — |")
    return lines


def parse_size(text):
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ParameterError(f"a size is ROWSxCOLS, e.g. 16x16; got {text!r}") from None
    if r < 1 or c < 1:
        raise ParameterError(f"a size has rows, cols >= 1; got {text!r}")
    return r, c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="result folders or result.json files")
    p.add_argument("--predict", action="append", default=[], help="ROWSxCOLS to estimate")
    args = p.parse_args(argv)
    try:
        extra = [parse_size(s) for s in args.predict]
        print("\n".join(table([read_record(r) for r in args.results], extra)))
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
