r"""Accuracy versus the systolic array's energy per MAC, with and without the control variate
(issue #12): ``python -m cnn.control_variate`` results joined with the cost flow's records of
4 x 4 ``systolic`` arrays (``approxmac synth systolic ... [--cv]``: result.json files).

Every point is one accuracy entry on one array: its top-1 (95 % Wilson CI) on the run's test
subset and the energy per MAC of the array that computes it. Which array an entry needs:

    entry                                 array
    MULT                                  PE of MULT (cnn.pareto.cost_key), cv off
    MULT+lscale, MULT+cscale              the same: the scale folds into batch normalization
    MULT+cv / cvu / cvls / cvs (float)    PE of MULT with cv (kappa bf16, as the emulator's)
    MULT+cv..._kM (integer)               PE of MULT with cv whose kappa port has M significand
                                          bits (cvs: the scale g folds into batch normalization)

An integer variate at full fixed-point precision (no ``_kM``) has no array and gets no point.
The cost records must agree on the stream and recipe (one array per key, else an error).

Comparisons ``X:Y`` ask whether X dominates Y: X's array is no costlier in energy per MAC and
X is at least as accurate. The accuracy difference is a claim only with its paired test: the
exact McNemar test on the per-image correctness both entries keep (``correct``; b: images right
only with X, c: only with Y). Verdicts: ``dominates`` (cheaper or equal, more accurate with
p < 0.05), ``cheaper, accuracy not distinguishable`` (p >= 0.05), ``does not dominate``
(costlier, or significantly less accurate).
"""

import json
import sys
from pathlib import Path

from golden.params import ParameterError
from golden.systolic import KAPPA_SIG_BITS, cv_widths

from .control_variate import VARIATES, parse_method, split_entry
from .mults import parse_mult
from .pareto import cost_key, front, place_labels
from .stats import mcnemar_exact

ALPHA = 0.05


def load_accuracy(paths):
    """{entry: row} of cnn.control_variate JSON files of one model, dataset and test subset."""
    rows, run = {}, None
    for p in paths:
        doc = json.loads(Path(p).read_text())
        key = (doc["model"], doc["dataset"], doc["test_images"], doc["test_subset"])
        if run is not None and key != run:
            raise ParameterError(f"{p}: accuracy of {key}, not of {run} like the files before it")
        run = key
        for r in doc["results"]:
            rows[r["entry"]] = r
    return rows, run


def load_costs(paths):
    """The cost flow's systolic records (result.json files, or JSON lists of such records)."""
    recs = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        for r in data if isinstance(data, list) else [data]:
            if r.get("unit") == "systolic" and r.get("energy_pj_per_op") is not None:
                recs.append(r)
    return recs


def array_key(entry):
    """(pe, PE params, cv, kappa significand bits or None) of the array that computes
    ``entry``, or None where no array does (an integer variate at full precision, fp32)."""
    base, method = split_entry(entry)
    key = cost_key(base)
    if key is None:
        return None
    pe, params = key
    if pe not in ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac"):
        return None
    name, bits = parse_method(method) if method else (None, None)
    if name not in VARIATES:
        return pe, params, False, None
    if parse_mult(base).kind == "int" and bits is None:
        return None
    return pe, params, True, bits


def _sig_bits(rec):
    p = rec.get("params") or {}
    if p.get("pe") in ("bf16_mac", "mitch_bf16_mac"):
        return None
    if p.get("kappa_width") is None:
        return KAPPA_SIG_BITS
    arith = {k: p[k] for k in ("n", "w", "variant", "signed", "acc_width") if p.get(k) is not None}
    _, kw, _, ew = cv_widths(p["pe"], p["kappa_width"], p.get("kappa_exp_width"), **arith)
    return kw - ew


def match(records, key):
    """The one cost record of ``key`` (``array_key``), or None."""
    pe, params, cv, bits = key
    hits = [r for r in records if (r.get("params") or {}).get("pe") == pe
            and all((r.get("params") or {}).get(k) == v for k, v in params.items())
            and bool((r.get("params") or {}).get("cv")) == cv
            and (not cv or bits is None or _sig_bits(r) == bits)]
    if len(hits) > 1:
        raise ParameterError(f"{len(hits)} cost records for the array {key}: "
                             + ", ".join(f"{r.get('module')} ({r.get('recipe')}, "
                                         f"{r.get('stream')})" for r in hits))
    return hits[0] if hits else None


def points(rows, records):
    """[{entry, energy, top1, ci, rec}] for every accuracy row with an array cost record."""
    pts = []
    streams = {(r.get("stream"), r.get("recipe"), r.get("vectors"),
                (r.get("liberty") or {}).get("name")) for r in records}
    if len(streams) > 1:
        raise ParameterError(f"the cost records differ in (stream, recipe, vectors, liberty): "
                             f"{sorted(map(str, streams))}")
    for entry, r in rows.items():
        key = array_key(entry)
        rec = match(records, key) if key else None
        if rec is not None:
            pts.append({"entry": entry, "energy": float(rec["energy_pj_per_op"]),
                        "top1": r["top1"], "ci": tuple(r["top1_ci"]), "rec": rec,
                        "cv": key[2]})
    return pts


def compare(pts, rows, x, y):
    """The verdict of ``x`` against ``y`` (see the module docstring) as a dict."""
    by = {p["entry"]: p for p in pts}
    for e in (x, y):
        if e not in by:
            raise ParameterError(f"{e}: no accuracy row with an array cost record")
        if "correct" not in rows[e]:
            raise ParameterError(f"{e}: its accuracy row has no per-image 'correct' (rerun it)")
    cx, cy = rows[x]["correct"], rows[y]["correct"]
    b = sum(1 for u, v in zip(cx, cy) if u == "1" and v == "0")
    c = sum(1 for u, v in zip(cx, cy) if u == "0" and v == "1")
    p = mcnemar_exact(b, c)
    ex, ey = by[x]["energy"], by[y]["energy"]
    if ex > ey or (c > b and p < ALPHA):
        verdict = "does not dominate"
    elif b > c and p < ALPHA:
        verdict = "dominates"
    else:
        verdict = "cheaper, accuracy not distinguishable" if ex < ey else \
            "same energy, accuracy not distinguishable"
    return {"x": x, "y": y, "energy_ratio": ex / ey, "dtop1": by[x]["top1"] - by[y]["top1"],
            "b": b, "c": c, "p": p, "verdict": verdict}


def markdown(pts, comparisons, run):
    on = {q[0] for q in front([(p["entry"], p["energy"], p["top1"]) for p in pts])}
    rec0 = pts[0]["rec"] if pts else {}
    lines = [f"{run[0]} on {run[1]}: {run[2]} test images ({run[3]}); energy per MAC of the "
             f"4 x 4 array ({rec0.get('liberty', {}).get('name')}, recipe {rec0.get('recipe')}, "
             f"{rec0.get('stream')} stream, {rec0.get('vectors')} cycles, own clock)", "",
             "| entry | cv array | top-1 % [95 % CI] | pJ/MAC | area um2 | critical path ns "
             "| on front |", "|---|---|---|---:|---:|---:|---|"]
    for p in sorted(pts, key=lambda p: (p["energy"], -p["top1"])):
        r = p["rec"]
        lines.append(f"| {p['entry']} | {'yes' if p['cv'] else 'no'} | {100 * p['top1']:.2f} "
                     f"[{100 * p['ci'][0]:.1f}, {100 * p['ci'][1]:.1f}] | "
                     f"{p['energy']:.2f} | {r['area_um2']:.0f} | {r['delay_ns']:.3f} | "
                     f"{'yes' if p['entry'] in on else ''} |")
    if comparisons:
        lines += ["", "| X | Y | energy X / Y | top-1 X - Y (points) | b / c | McNemar p "
                  "| verdict |", "|---|---|---:|---:|---|---:|---|"]
        for c in comparisons:
            lines.append(f"| {c['x']} | {c['y']} | {c['energy_ratio']:.3f} | "
                         f"{100 * c['dtop1']:+.2f} | {c['b']} / {c['c']} | {c['p']:.3g} | "
                         f"{c['verdict']} |")
    return "\n".join(lines) + "\n"


def plot(pts, run, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for p in pts:
        lo, hi = p["ci"]
        ax.errorbar(p["energy"], 100 * p["top1"],
                    yerr=[[100 * (p["top1"] - lo)], [100 * (hi - p["top1"])]], fmt="s" if p["cv"]
                    else "o", color="tab:orange" if p["cv"] else "tab:blue", ms=4, capsize=2,
                    lw=0.8)
    f = front([(p["entry"], p["energy"], p["top1"]) for p in pts])
    ax.plot([q[1] for q in f], [100 * q[2] for q in f], "-", color="tab:red", label="Pareto front")
    ax.plot([], [], "s", color="tab:orange", label="cv array")
    ax.plot([], [], "o", color="tab:blue", label="array without cv")
    ax.set_xlabel("energy per MAC of the 4 x 4 array (pJ)")
    ax.set_ylabel(f"top-1 on {run[1]} (%), 95 % CI, {run[2]} images")
    ax.set_title(run[0].split("/")[-1])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.margins(0.25)
    fig.tight_layout()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    place_labels(ax, [(p["energy"], 100 * p["top1"]) for p in pts], [p["entry"] for p in pts],
                 obstacles=[legend])
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m cnn.cv_pareto", description=__doc__.split("\n")[0])
    ap.add_argument("--accuracy", nargs="+", required=True, help="cnn.control_variate JSON files")
    ap.add_argument("--costs", nargs="+", required=True, help="cost flow result.json files")
    ap.add_argument("--compare", nargs="*", default=[], help="X:Y pairs of entries")
    ap.add_argument("--md", default=None)
    ap.add_argument("--png", default=None)
    a = ap.parse_args(argv)
    try:
        rows, run = load_accuracy(a.accuracy)
        pts = points(rows, load_costs(a.costs))
        if not pts:
            raise ParameterError("no accuracy entry has an array cost record")
        comps = []
        for pair in a.compare:
            x, sep, y = pair.partition(":")
            if not sep:
                raise ParameterError(f"--compare takes X:Y; got {pair!r}")
            comps.append(compare(pts, rows, x, y))
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    md = markdown(pts, comps, run)
    if a.md:
        Path(a.md).write_text(md)
    if a.png:
        plot(pts, run, Path(a.png))
    print(md)


if __name__ == "__main__":
    main()
