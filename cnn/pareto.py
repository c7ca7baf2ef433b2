r"""Accuracy versus energy per MAC: the cost flow's costs.json joined with accuracy.json.

Each exact-accumulation accuracy record is matched to a cost record (build/report/costs.json: the
records of synth/flow.py, each with ``unit``, ``params``, ``stream`` and ``energy_pj_per_op``):

    bf16                          -> unit bf16_mac
    mitch_bf16_w{W}_{v}           -> unit mitch_bf16_mac, params w = W, variant = v
    int{N}                        -> unit int_mac, n = N
    mitch_int{N}_w{W}_{v}_{s}     -> unit mitch_mac, n = N, w = W, variant = v, signed = s

Among matching records the stream is chosen as a trace of this experiment, else ``cnn``, else
``uniform``; the streams used are named on the axis. One panel per model; points carry their
95 % CI; points on the Pareto front (no other point is both cheaper and at least as accurate) are
joined by a line.

Labels never overlap (``place_labels``): each label is tried at offsets on rings of growing
radius around its point (with a leader line beyond the first ring) and kept at the first
position whose box, measured by the renderer, overlaps no label placed before, no data point
and stays inside the figure.
"""

import json
import math

from .mults import parse_mult

STREAM_ORDER = ("trace", "cnn", "uniform")
RADII = (4, 9, 16, 26, 38, 52, 70, 92, 120)       # points
ANGLES = tuple(range(0, 360, 30))
MARKER_PX = 4


def cost_key(name):
    """(unit, {param: value}) the cost flow uses for an accuracy entry, or None (fp32, adders)."""
    if "+" in name or name == "fp32":
        return None
    m = parse_mult(name)
    if m.kind == "float":
        return ("bf16_mac", {}) if m.w == 0 else ("mitch_bf16_mac", {"w": m.w, "variant": m.variant})
    if m.kind == "posit":
        return m.mac_params()
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


def pareto_points(records, costs, model=None):
    """[(name, energy_pj, top1, stream, (ci_low, ci_high))] for every accuracy record (of
    ``model`` when given) with a cost record."""
    pts = []
    for r in records:
        if model is not None and r.get("model") != model:
            continue
        rec = match(costs, r["mult"])
        if rec is not None and rec.get("energy_pj_per_op") is not None:
            pts.append((r["mult"], float(rec["energy_pj_per_op"]), r["top1"],
                        str(rec.get("stream")), tuple(r.get("top1_ci", (r["top1"], r["top1"])))))
    return pts


def front(pts):
    """Points not dominated by a cheaper-or-equal, at-least-as-accurate other point."""
    best, out = -1.0, []
    for p in sorted(pts, key=lambda p: (p[1], -p[2])):
        if p[2] > best:
            out.append(p)
            best = p[2]
    return out


def _overlaps(box, boxes):
    return any(box.overlaps(b) for b in boxes)


def place_labels(ax, xy, labels, fontsize=6, obstacles=()):
    """Annotate data points ``xy`` with ``labels`` so that no two label boxes overlap and no
    label covers a point or one of ``obstacles`` (display boxes, e.g. the legend's); returns
    [(annotation, box in display pixels)]. Call it after the
    layout and the axis limits are final (the boxes are measured in display space)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px = [ax.transData.transform(p) for p in xy]
    markers = [Bbox.from_extents(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX)
               for x, y in px]
    inside = fig.bbox
    placed, out = list(obstacles), []
    for (x, y), label in zip(xy, labels):
        choice = None
        for r in RADII:
            for deg in ANGLES:
                dx, dy = r * math.cos(math.radians(deg)), r * math.sin(math.radians(deg))
                ha = "left" if dx > 1e-9 else "right" if dx < -1e-9 else "center"
                va = "bottom" if dy > 1e-9 else "top" if dy < -1e-9 else "center"
                ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points",
                                  fontsize=fontsize, ha=ha, va=va, annotation_clip=False,
                                  arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5")
                                  if r > RADII[0] else None)
                ann.update_positions(renderer)        # the offset in display space
                box = Text.get_window_extent(ann, renderer).padded(1)
                ok = (inside.containsx(box.x0) and inside.containsx(box.x1)
                      and inside.containsy(box.y0) and inside.containsy(box.y1)
                      and not _overlaps(box, placed) and not _overlaps(box, markers))
                if ok:
                    choice = (ann, box)
                    break
                ann.remove()
            if choice:
                break
        if choice is None:          # nowhere free: the farthest ring, straight up
            ann = ax.annotate(label, (x, y), xytext=(0, RADII[-1]), textcoords="offset points",
                              fontsize=fontsize, ha="center", va="bottom",
                              arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5"))
            ann.update_positions(renderer)
            choice = (ann, Text.get_window_extent(ann, renderer))
        placed.append(choice[1])
        out.append(choice)
    return out


def plot_pareto(doc, costs_path, path, log=print):
    """accuracy_energy.png: one panel per model; returns {model: [(annotation, box)]} or None."""
    costs = load_records(costs_path)
    models = [m["name"] for m in doc["run"]["models"]]
    panels = [(m, pareto_points(doc["records"], costs, m)) for m in models]
    panels = [(m, pts) for m, pts in panels if pts]
    if not panels:
        log(f"{costs_path} has no record matching an accuracy entry: skipping {path}")
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.5), squeeze=False,
                             dpi=120)
    for ax, (model, pts) in zip(axes[0], panels):
        for name, e, acc, stream, (lo, hi) in pts:
            ax.errorbar(e, 100 * acc, yerr=[[100 * (acc - lo)], [100 * (hi - acc)]], fmt="o",
                        color="tab:blue", ms=4, capsize=2, lw=0.8)
        f = front(pts)
        ax.plot([p[1] for p in f], [100 * p[2] for p in f], "-", color="tab:red",
                label="Pareto front")
        streams = sorted({p[3] for p in pts})
        ax.set_xlabel(f"energy per MAC (pJ; streams: {', '.join(streams)})")
        ax.set_ylabel(f"top-1 on {doc['run']['dataset']} (%), 95 % CI")
        ax.set_title(model)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.margins(0.25)
    fig.tight_layout()
    labels = {}
    for ax, (model, pts) in zip(axes[0], panels):
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())        # freeze the limits: the boxes are measured now
        legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
        labels[model] = place_labels(ax, [(p[1], 100 * p[2]) for p in pts], [p[0] for p in pts],
                                     obstacles=[legend])
    fig.savefig(path.with_name(path.name + ".tmp.png"), dpi=120, metadata={"Software": None})
    import os
    os.replace(path.with_name(path.name + ".tmp.png"), path)
    plt.close(fig)
    log(f"wrote {path} ({sum(len(p) for _, p in panels)} points)")
    return labels
