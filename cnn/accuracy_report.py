r"""The accuracy experiment's outputs: accuracy.json, accuracy.md and the plots.

* ``accuracy.json`` -- ``{"records": [...], "run": {...}}``: one record per (model, data set,
  entry) with ``model``, ``dataset``, ``mult``, ``images``, ``top1``, ``top1_ci`` (95 % Wilson),
  ``top3``, ``agreement``, ``discordant``, ``mcnemar_p``, ``significant``,
  ``mean_abs_logit_error`` (fractions in 0..1), ``image_set``, ``fp32_top1_same_images``,
  ``seconds`` (task compute time); ``run`` says how (cnn.accuracy.run_metadata).
* ``accuracy.md`` -- one table per model.
* ``accuracy_vs_w.png`` -- top-1 vs w per model (one panel each), 95 % CI error bars, FP32 and
  bf16 as lines with their CI bands.
* ``accuracy_energy.png`` -- top-1 vs energy per MAC with the Pareto front (cnn.pareto), when
  the cost flow's ``costs.json`` is in the output folder.

Files are written to temporary names and renamed, so a failed run leaves no half-written file.
"""

import json
import os
import re
from pathlib import Path

FAMILIES = ((r"mitch_bf16_w(\d+)_trunc", "Mitch-w bf16, trunc"),
            (r"mitch_bf16_w(\d+)_unbiased", "Mitch-w bf16, unbiased"),
            (r"mitch_int8_w(\d+)_trunc_c1", "Mitch-w int8, c1"),
            (r"mitch_int16_w(\d+)_trunc_c1", "Mitch-w int16, c1"))


def _write(path, data):
    tmp = path.with_name(path.name + ".tmp")
    (tmp.write_bytes if isinstance(data, bytes) else tmp.write_text)(data)
    os.replace(tmp, path)


def write_outputs(result, out, log=print):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"records": result["records"], "run": result["run"]}
    _write(out / "accuracy.json", json.dumps(doc, indent=2) + "\n")
    _write(out / "accuracy.md", markdown(doc))
    log(f"wrote {out / 'accuracy.json'} and {out / 'accuracy.md'}")
    plot_vs_w(doc, out / "accuracy_vs_w.png", log)
    costs = out / "costs.json"
    if costs.is_file():
        from .pareto import plot_pareto
        plot_pareto(doc, costs, out / "accuracy_energy.png", log)
    else:
        log(f"no {costs}: skipping the accuracy-energy Pareto plot (run the cost flow first)")


def _pct(v):
    return f"{100 * v:.2f}"


def markdown(doc):
    run = doc["run"]
    lines = [f"Data set {run['dataset']} ({run['split']}). Image sets: "
             + "; ".join(f"**{k}** = {v} ({run['image_set_use'][k]})"
                         for k, v in run["image_sets"].items()) + ".",
             "", f"{run['statistics']}. Calibration (integer units): "
             f"{run['calibration'] or 'not needed'}.", ""]
    for m in run["models"]:
        recs = [r for r in doc["records"] if r["model"] == m["name"]]
        lines += [f"### {m['name']}", "",
                  f"`{m['path']}`; FP32 path == onnxruntime top-1 on "
                  f"{_pct(m['fp32_path_same_top1_as_onnxruntime'])} % of the images, max |logit "
                  f"difference| / max |logit| = {m['fp32_path_max_abs_logit_diff_over_max_abs_logit']:.1e}.",
                  "", "| multiplier (+adder) | images | top-1 % [95 % CI] | top-3 % | "
                  "agreement with FP32 % | McNemar p vs FP32 | significant | "
                  "mean abs logit error | FP32 top-1 % same images |",
                  "|---|---:|---:|---:|---:|---:|:-:|---:|---:|"]
        for r in recs:
            lo, hi = r["top1_ci"]
            lines.append(f"| {r['mult']} | {r['images']} | {_pct(r['top1'])} "
                         f"[{_pct(lo)}, {_pct(hi)}] | {_pct(r['top3'])} | "
                         f"{_pct(r['agreement'])} | {r['mcnemar_p']:.3g} | "
                         f"{'yes' if r['significant'] else 'no'} | "
                         f"{r['mean_abs_logit_error']:.4f} | {_pct(r['fp32_top1_same_images'])} |")
        lines.append("")
    return "\n".join(lines)


def w_series(records, pattern):
    """[(w, record)] of the records whose entry matches ``pattern`` (group 1 = w), by w."""
    pts = [(int(m.group(1)), r) for r in records if (m := re.fullmatch(pattern, r["mult"]))]
    return sorted(pts, key=lambda p: p[0])


def plot_vs_w(doc, path, log=print):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    models = [m["name"] for m in doc["run"]["models"]]
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        recs = [r for r in doc["records"] if r["model"] == model]
        for pattern, label in FAMILIES:
            pts = w_series(recs, pattern)
            if not pts:
                continue
            ws = [w for w, _ in pts]
            top = [100 * r["top1"] for _, r in pts]
            err = [[100 * (r["top1"] - r["top1_ci"][0]) for _, r in pts],
                   [100 * (r["top1_ci"][1] - r["top1"]) for _, r in pts]]
            n = sorted({r["images"] for _, r in pts})
            ax.errorbar(ws, top, yerr=err, fmt="o-", capsize=3,
                        label=f"{label} (n = {', '.join(map(str, n))})")
        for ref, style in (("fp32", "--"), ("bf16", ":")):
            r = next((r for r in recs if r["mult"] == ref), None)
            if r is None:
                continue
            line = ax.axhline(100 * r["top1"], color="k", linestyle=style,
                              label=f"{ref.upper()} {100 * r['top1']:.2f} % (n = {r['images']})")
            ax.axhspan(100 * r["top1_ci"][0], 100 * r["top1_ci"][1], color=line.get_color(),
                       alpha=0.08)
        ax.set_title(model)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("w (significant bits kept per operand)")
        ax.set_ylabel(f"top-1 on {doc['run']['dataset']} test (%), 95 % CI")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_name(path.name + ".tmp.png"), dpi=120, metadata={"Software": None})
    os.replace(path.with_name(path.name + ".tmp.png"), path)
    plt.close(fig)
    log(f"wrote {path}")
