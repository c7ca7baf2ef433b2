"""Accuracy versus energy per MAC: the cost flow's costs.json joined with accuracy.json.

Each exact-accumulation accuracy entry is matched to a cost record (build/report/costs.json: the
records of synth/flow.py, each with ``unit``, ``params``, ``stream`` and ``energy_pj_per_op``):

    bf16                          -> unit bf16_mac
    mitch_bf16_w{W}_{v}           -> unit mitch_bf16_mac, params w = W, variant = v
    int{N}                        -> unit int_mac, n = N
    mitch_int{N}_w{W}_{v}_{s}     -> unit mitch_mac, n = N, w = W, variant = v, signed = s

Among matching records the stream is chosen as a trace of this experiment, else ``cnn``, else
``uniform``; the stream used is printed in the point's label. Points on the Pareto front (no other
point is both cheaper and at least as accurate) are joined by a line.
"""

import json

from .mults import parse_mult

STREAM_ORDER = ("trace", "cnn", "uniform")


def cost_key(name):
    """(unit, {param: value}) the cost flow uses for an accuracy entry, or None (fp32, adders)."""
    if "+" in name or name == "fp32":
        return None
    m = parse_mult(name)
    if m.kind == "float":
        return ("bf16_mac", {}) if m.w == 0 else ("mitch_bf16_mac", {"w": m.w, "variant": m.variant})
    if m.w == 0:
        return "int_mac", {"n": m.n}
    return "mitch_mac", {"n": m.n, "w": m.w, "variant": m.variant, "signed": m.signed}


def load_records(path):
    data = json.loads(path.read_text())
    if isinstance(data, dict):              # {"results": [...], ...} or any list of records
        lists = [data["results"]] if isinstance(data.get("results"), list) else [
            v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if lists else []
    return [r for r in data if isinstance(r, dict) and "energy_pj_per_op" in r]


def _stream_rank(stream):
    stream = str(stream)
    for i, s in enumerate(STREAM_ORDER):
        if stream.startswith(s):
            return i
    return len(STREAM_ORDER)


def match(records, name):
    key = cost_key(name)
    if key is None:
        return None
    unit, params = key
    hits = [r for r in records if r.get("unit") == unit
            and all((r.get("params") or {}).get(k) == v for k, v in params.items())]
    return min(hits, key=lambda r: _stream_rank(r.get("stream")), default=None)


def pareto_points(result, records):
    """[(name, energy_pj, top1, stream)] for every entry with a cost record."""
    pts = []
    for r in result["results"]:
        rec = match(records, r["mult"])
        if rec is not None and rec.get("energy_pj_per_op") is not None:
            pts.append((r["mult"], float(rec["energy_pj_per_op"]), r["top1"], str(rec.get("stream"))))
    return pts


def front(pts):
    """Points not dominated by a cheaper-or-equal, at-least-as-accurate other point."""
    best, out = -1.0, []
    for p in sorted(pts, key=lambda p: (p[1], -p[2])):
        if p[2] > best:
            out.append(p)
            best = p[2]
    return out


def plot_pareto(result, costs_path, path, log=print):
    pts = pareto_points(result, load_records(costs_path))
    if not pts:
        log(f"{costs_path} has no record matching an accuracy entry: skipping {path}")
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, e, acc, stream in pts:
        ax.plot(e, 100 * acc, "o", color="tab:blue")
        ax.annotate(name, (e, 100 * acc), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
    f = front(pts)
    ax.plot([p[1] for p in f], [100 * p[2] for p in f], "-", color="tab:red", label="Pareto front")
    streams = sorted({p[3] for p in pts})
    ax.set_xlabel(f"energy per operation (pJ; streams: {', '.join(streams)})")
    ax.set_ylabel(f"top-1 accuracy on {result['dataset']} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    log(f"wrote {path} ({len(pts)} points)")
    return pts
