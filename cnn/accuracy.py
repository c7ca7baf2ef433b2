r"""The accuracy experiment: the trained CNN with each multiplier (and adder) on a test split.

For each entry, on the test images (N of them):

    top1              = mean(argmax logits == label)
    agreement         = mean(argmax logits == argmax fp32 logits)
    mean_abs_logit_error = mean |logits - fp32 logits|         (over N x 10 logits)

Entries are multiplier names (cnn.mults) with exact accumulation, or ``MULT+ADDER`` where the
products are accumulated in MAC order by a golden adder: ``fp32_add`` (golden/mac.py's MAC; a
check that exact accumulation changes nothing), or ``trunc_add_t{T}`` / ``mitch_add``
(golden/approx_add.py: the approximate-addition experiment). Sequential entries run on a fixed
subset (every k-th test image, ``seq_images`` of them; the fp32 figures they are compared with
use the same subset).

Outputs: accuracy.json and accuracy.md (the table), accuracy_vs_w.png, accuracy_energy.png when
the cost flow's costs.json exists, and operand traces (.npz with arrays a, b) for the cost flow.
"""

import json
import re
import time
from pathlib import Path

import numpy as np


from . import data as cnn_data
from . import model as cnn_model
from .mults import parse_entry, parse_mult

W_RANGE = range(2, 9)
DEFAULT_MULTS = (
    ["fp32", "bf16"]
    + [f"mitch_bf16_w{w}_{v}" for v in ("trunc", "unbiased") for w in W_RANGE]
    + ["int8", "int16"]
    + [f"mitch_int8_w{w}_trunc_{s}" for s in ("exact", "c1") for w in (4, 6, 8)]
    + [f"mitch_int16_w{w}_trunc_{s}" for s in ("exact", "c1") for w in (4, 6, 8)]
    + ["bf16+fp32_add", "mitch_bf16_w6_trunc+fp32_add"]
    + [f"bf16+trunc_add_t{t}" for t in (4, 8, 12)]
    + ["bf16+mitch_add"])


def parse_entries(text):
    """Comma-separated entry names; 'all' (or empty) is DEFAULT_MULTS."""
    names = list(DEFAULT_MULTS) if text in (None, "", "all") else [s.strip() for s in text.split(",")]
    for n in names:
        parse_entry(n)
    return names


def metrics(logits, ref, labels):
    return {"top1": float((logits.argmax(1) == labels).mean()),
            "agreement": float((logits.argmax(1) == ref.argmax(1)).mean()),
            "mean_abs_logit_error": float(np.abs(logits.astype(np.float64) - ref).mean())}


def run(dataset="mnist5k", entries=None, weights=None, limit=None, seq_images=200,
        out_dir="build/report", trace_dir="build/traces", trace_pairs=20000, log=print):
    """Run every entry; write the JSON, table, plots and traces; return the JSON dict."""
    names = parse_entries(entries)            # bad names fail before any work
    ds = cnn_data.load(dataset)
    wpath = Path(weights) if weights else cnn_model.weights_path(dataset)
    w = cnn_model.load_weights(wpath)
    cnn_model.check_input_shape(w, ds.image_shape, wpath)
    x, y = ds.x_test, ds.y_test
    if limit:
        x, y = x[:limit], y[:limit]
    step = max(1, len(x) // seq_images)
    sub = np.arange(0, len(x), step)[:seq_images]
    calib = w["calib_absmax"]
    fp32 = cnn_model.predict(x, w, cnn_model.Engine(parse_mult("fp32")))
    rows = []
    for name in names:
        mult, add = parse_entry(name)
        t0 = time.time()
        if add is None:
            eng = cnn_model.Engine(mult, calib=calib)
            logits = cnn_model.predict(x, w, eng)
            row = {"mult": name, **metrics(logits, fp32, y), "n_images": len(x)}
            if mult.kind == "int":
                # the sums are exact; they equal golden/mac.py's MAC with its default A = 2N + 8
                # accumulator bits when they fit in it
                row["max_abs_accumulator"] = eng.max_abs_acc
                row["fits_acc_width_2n_plus_8"] = eng.max_abs_acc < 2 ** (2 * mult.n + 7)
        else:
            eng = cnn_model.Engine(mult, path="sequential", add=add, calib=calib)
            logits = cnn_model.predict(x[sub], w, eng, batch=200)   # few, wide MAC steps
            row = {"mult": name, **metrics(logits, fp32[sub], y[sub]), "n_images": len(sub),
                   "fp32_top1_same_images": float((fp32[sub].argmax(1) == y[sub]).mean())}
        row["seconds"] = round(time.time() - t0, 2)
        rows.append(row)
        log(format_row(row))
    try:
        wname = str(wpath.resolve().relative_to(Path.cwd()))
    except ValueError:
        wname = str(wpath)
    result = {"dataset": ds.name, "split": ds.split, "n_test": len(x), "weights": wname,
              "weights_meta": w["meta"],
              "sequential_subset": f"every {step}th test image, {len(sub)} images",
              "accumulation": "exact, rounded once to fp32 (float units) / exact integer; "
                              "MULT+ADDER rows accumulate in MAC order with that adder",
              "batch_norm": "applied in fp32 after each conv (not folded)",
              "results": rows}
    write_outputs(result, Path(out_dir), log)
    if trace_dir:
        write_traces(x, w, Path(trace_dir), ds.name.split(":")[0], trace_pairs, log)
    return result


def format_row(r):
    return (f"{r['mult']:<36} top1 {100 * r['top1']:6.2f} %  agree {100 * r['agreement']:6.2f} %  "
            f"|dlogit| {r['mean_abs_logit_error']:.4f}  n={r['n_images']}  {r['seconds']:.1f} s")


def markdown_table(result):
    lines = [f"Dataset {result['dataset']} ({result['split']}); weights {result['weights']} "
             f"(FP32 test accuracy at training: {result['weights_meta'].get('fp32_test_accuracy')}). "
             f"MULT+ADDER rows: {result['sequential_subset']}.",
             "", "| multiplier (+adder) | images | top-1 % | agreement with FP32 % | "
             "mean abs logit error | FP32 top-1 % on the same images |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in result["results"]:
        same = r.get("fp32_top1_same_images")
        lines.append(f"| {r['mult']} | {r['n_images']} | {100 * r['top1']:.2f} | "
                     f"{100 * r['agreement']:.2f} | {r['mean_abs_logit_error']:.4f} | "
                     f"{'' if same is None else f'{100 * same:.2f}'} |")
    return "\n".join(lines) + "\n"


def write_outputs(result, out, log=print):
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "accuracy.md").write_text(markdown_table(result))
    log(f"wrote {out / 'accuracy.json'} and {out / 'accuracy.md'}")
    plot_vs_w(result, out / "accuracy_vs_w.png", log)
    costs = out / "costs.json"
    if costs.is_file():
        from .pareto import plot_pareto
        plot_pareto(result, costs, out / "accuracy_energy.png", log)
    else:
        log(f"no {costs}: skipping the accuracy-energy Pareto plot (run the cost flow first)")
    from approxmac.report import attach_accuracy
    if attach_accuracy(out):
        log(f"added the accuracy section to {out / 'REPORT.md'}")


def plot_vs_w(result, path, log=print):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = {r["mult"]: r for r in result["results"]}
    fig, ax = plt.subplots(figsize=(6, 4))
    for pattern, label in ((r"mitch_bf16_w(\d+)_trunc", "Mitch-w bf16, trunc"),
                           (r"mitch_bf16_w(\d+)_unbiased", "Mitch-w bf16, unbiased"),
                           (r"mitch_int8_w(\d+)_trunc_c1", "Mitch-w int8, c1"),
                           (r"mitch_int16_w(\d+)_trunc_c1", "Mitch-w int16, c1")):
        pts = sorted((int(m.group(1)), r["top1"]) for n, r in rows.items()
                     if (m := re.fullmatch(pattern, n)))
        if pts:
            ax.plot(*zip(*[(wv, 100 * a) for wv, a in pts]), "o-", label=label)
    for ref, style in (("fp32", "k--"), ("bf16", "k:")):
        if ref in rows:
            ax.axhline(100 * rows[ref]["top1"], color="k", linestyle=style[1:],
                       label=f"{ref.upper()} ({100 * rows[ref]['top1']:.1f} %)")
    ax.set_xlabel("w (significant bits kept per operand)")
    ax.set_ylabel(f"top-1 accuracy on {result['dataset']} test (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    log(f"wrote {path}")


def write_traces(x, w, out, tag, pairs, log=print, seed=2022, images=20):
    """Operand streams as a MAC sees them: whole dot products (k = 0..K-1 of one output) of
    randomly drawn outputs of conv1, conv2 and FC (drawn in proportion to each layer's MACs)
    of the first ``images`` test images, concatenated until ``pairs`` pairs. One file per operand
    format: bf16 patterns (uint16; for bf16_mul, mitch_bf16_mul) and int8 / int16 values
    (int64, two's-complement range; for int_mul, mitch_mul signed)."""
    out.mkdir(parents=True, exist_ok=True)
    for fmt, mname in (("bf16", "bf16"), ("int8", "int8"), ("int16", "int16")):
        seen = []
        eng = cnn_model.Engine(parse_mult(mname), calib=w["calib_absmax"],
                               on_operands=lambda layer, a, b: seen.append((layer, a, b)))
        cnn_model.predict(x[:images], w, eng)
        rng = np.random.default_rng(seed)
        macs = np.array([a.shape[0] * a.shape[1] * b.shape[1] for _, a, b in seen], dtype=float)
        ta, tb, tl = [], [], []
        total = 0
        while total < pairs:
            i = rng.choice(len(seen), p=macs / macs.sum())
            layer, a, b = seen[i]
            m, c = rng.integers(a.shape[0]), rng.integers(b.shape[1])
            ta.append(a[m]), tb.append(b[:, c]), tl.append(np.full(a.shape[1], i))
            total += a.shape[1]
        a_all, b_all = np.concatenate(ta)[:pairs], np.concatenate(tb)[:pairs]
        layer_names = np.array([s[0] for s in seen])
        path = out / f"{tag}_{fmt}.npz"
        np.savez_compressed(path, a=a_all, b=b_all, layer=layer_names[np.concatenate(tl)[:pairs]])
        log(f"wrote {path} ({len(a_all)} pairs, {a_all.dtype})")
