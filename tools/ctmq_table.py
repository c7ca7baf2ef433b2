"""The CTMQ table: top-1 (95 % Wilson CI) and the exact McNemar test against the FP32 start
model, each model run by the ONNX executor (cnn.executor.Session, what `approxmac accuracy`
runs) with its target multiplier on the first N test images, plus paired McNemar tests between
rows (e.g. fine-tuned once vs CTMQ on the same images).

    python tools/ctmq_table.py FP32.onnx MULT:LABEL=MODEL.onnx [...] [--limit N]
        [--pair LABEL_A,LABEL_B ...] [--cache DIR]

MULT:LABEL=MODEL runs MODEL with multiplier MULT; LABEL names the row (e.g. "no retraining" with
the FP32 model itself). ``--engine jax`` runs the rows by cnn.ctmq's JAX forward instead
(a row fails unless its logits equal the emulator's bit for bit on the first ``--check``
images) and prints how many float sums it had to sum exactly (cnn.ctmq.exact_outputs).
Integer rows use approxmac accuracy's activation scales (cnn.ctmq.calibration). ``--pair A,B``: exact McNemar of row A against row B (b = images right
only with A, c = right only with B). ``--cache DIR`` keeps each row's logits in
DIR/<model sha256>_<mult>_<N>.npy, so a rerun with more pairs computes nothing again. Prints a
Markdown table (training CPU seconds and SGD steps from the model's metadata).
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from cnn import data, executor, onnx_export, stats


def emulator_logits(path, mult, x, ds):
    """The executor's logits; integer units with approxmac accuracy's activation scales
    (cnn.ctmq.calibration: the model's FP32 path on the first 1000 train images)."""
    from cnn import ctmq
    from cnn.mults import parse_mult
    model = executor.load_model(path)
    calib = ctmq.calibration(model, ds) if parse_mult(mult).kind == "int" else None
    return executor.Session(model, mult, calib=calib).predict(executor.preprocess(model, x))


def row_logits(path, mult, x, cache, engine="emulator", ds=None, check=0):
    """The logits of model ``path`` with ``mult`` on images x (cached): the executor's, or
    (engine ``jax``) cnn.ctmq.model_logits's, which must equal the executor's bit for bit on
    the first ``check`` images (else AssertionError)."""
    file = None
    if cache:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        file = Path(cache) / f"{digest}_{mult}_{len(x)}{'_jax' if engine == 'jax' else ''}.npy"
        if file.is_file():
            return np.load(file)
    if engine == "jax":
        from cnn import ctmq
        logits = ctmq.model_logits(path, mult, ds, x)
        ref = emulator_logits(path, mult, x[:check], ds)
        if not np.array_equal(ref.view(np.uint32), logits[:check].view(np.uint32)):
            raise AssertionError(f"{path} with {mult}: the JAX logits differ from the "
                                 f"emulator's on the first {check} images")
    else:
        logits = emulator_logits(path, mult, x, ds)
    if file:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, logits)
    return logits


def paired(logits_a, logits_b, y):
    """(b, c, p): images right only with A, right only with B, exact McNemar p."""
    ra, rb = logits_a.argmax(1) == y, logits_b.argmax(1) == y
    b, c = int((ra & ~rb).sum()), int((~ra & rb).sum())
    return b, c, stats.mcnemar_exact(b, c)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("fp32")
    p.add_argument("rows", nargs="+")
    p.add_argument("--limit", type=int)
    p.add_argument("--pair", action="append", default=[], metavar="LABEL_A,LABEL_B")
    p.add_argument("--cache", metavar="DIR")
    p.add_argument("--engine", choices=("emulator", "jax"), default="emulator",
                   help="jax: cnn.ctmq's forward (mitch_bf16 / bf16 / fp32 rows), checked bit for "
                        "bit against the emulator on the first --check images of every row")
    p.add_argument("--check", type=int, default=100)
    args = p.parse_args(argv)
    rows = []
    for row in args.rows:
        spec, path = row.rsplit("=", 1)
        mult, label = spec.split(":", 1)
        rows.append((mult, label, path))
    labels = [r[1] for r in rows]
    pairs = [tuple(s.split(",", 1)) for s in args.pair]
    for pair in pairs:
        if len(pair) != 2 or any(lab not in labels for lab in pair):
            p.error(f"--pair needs two row labels of {labels}; got {','.join(pair)}")
    ref_model = executor.load_model(args.fp32)
    ds = data.load(onnx_export.metadata(ref_model)["dataset"])
    x, y = ds.x_test[:args.limit], ds.y_test[:args.limit]
    ref = executor.ort_run(ref_model, executor.preprocess(ref_model, x))
    r = stats.compare(ref, ref, y)
    print("| model | multiplier | top-1 % [95 % CI] | McNemar p vs FP32 (b, c) | SGD steps "
          "(low-precision + FP32) | training CPU s |")
    print("|---|---|---|---|---|---|")
    print(f"| FP32 start model | fp32 (onnxruntime) | {100 * r['top1']:.1f} "
          f"[{100 * r['top1_ci'][0]:.1f}, {100 * r['top1_ci'][1]:.1f}] | - | - | - |")
    out = {}
    for mult, label, path in rows:
        logits = out[label] = row_logits(path, mult, x, args.cache, args.engine, ds,
                                         min(args.check, len(x)))
        r = stats.compare(logits, ref, y)
        meta = onnx_export.metadata(executor.load_model(path))
        sched = json.loads(meta["ctmq"]) if "ctmq" in meta else None
        cpu = meta.get("train_cpu_seconds", "-") if sched else "-"
        note, steps = "", "-"
        if sched:
            note = (f" ({sched.get('depth', 'w')} {sched['start_w']}->{sched['target_w']}, "
                    f"{sched['cycles']} cycles)")
            if "sgd_steps" in sched:
                steps = f"{sched['sgd_steps']['mitch']} + {sched['sgd_steps']['fp32']}"
        print(f"| {label}{note} | {mult} | {100 * r['top1']:.1f} [{100 * r['top1_ci'][0]:.1f}, "
              f"{100 * r['top1_ci'][1]:.1f}] | {r['mcnemar_p']:.3g} ({r['discordant'][0]}, "
              f"{r['discordant'][1]}) | {steps} | {cpu} |", flush=True)
    how = (f"the JAX forward (cnn.ctmq), its logits equal to the emulator's bit for bit on the "
           f"first {min(args.check, len(x))} images of every row" if args.engine == "jax"
           else "the emulator (cnn.executor.Session, as approxmac accuracy)")
    print(f"\n{len(y)} test images of {ds.name}, rows run by {how}; b = right only with the row, "
          f"c = right only in FP32.")
    if args.engine == "jax":
        from cnn import ctmq
        print(f"Float sums the JAX forward left undecided and summed exactly: {ctmq.UNDECIDED[0]}")
    for a, b_label in pairs:
        b, c, pv = paired(out[a], out[b_label], y)
        print(f"Paired McNemar, {a} vs {b_label}: right only with {a}: {b}, only with "
              f"{b_label}: {c}, exact p = {pv:.3g}")
    return out


if __name__ == "__main__":
    main()
