"""The CTMQ table: top-1 (95 % Wilson CI) and the exact McNemar test against the FP32 start
model, each model run by the ONNX executor (cnn.executor.Session) with its target multiplier on
the whole test split.

    python tools/ctmq_table.py FP32.onnx MULT:LABEL=MODEL.onnx [...] [--limit N]

MULT:LABEL=MODEL runs MODEL with multiplier MULT; LABEL names the row (e.g. "no retraining" with
the FP32 model itself). Prints a Markdown table (training CPU seconds from the model's metadata).
"""

import argparse
import json

import numpy as np

from cnn import data, executor, onnx_export, stats


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("fp32")
    p.add_argument("rows", nargs="+")
    p.add_argument("--limit", type=int)
    args = p.parse_args(argv)
    ref_model = executor.load_model(args.fp32)
    ds = data.load(onnx_export.metadata(ref_model)["dataset"])
    x, y = ds.x_test[:args.limit], ds.y_test[:args.limit]
    ref = executor.ort_run(ref_model, executor.preprocess(ref_model, x))
    r = stats.compare(ref, ref, y)
    print(f"| model | multiplier | top-1 % [95 % CI] | McNemar p vs FP32 (b, c) | training CPU s |")
    print("|---|---|---|---|---|")
    print(f"| FP32 start model | fp32 (onnxruntime) | {100 * r['top1']:.1f} "
          f"[{100 * r['top1_ci'][0]:.1f}, {100 * r['top1_ci'][1]:.1f}] | - | - |")
    for row in args.rows:
        spec, path = row.rsplit("=", 1)
        mult, label = spec.split(":", 1)
        model = executor.load_model(path)
        logits = executor.Session(model, mult).predict(executor.preprocess(model, x))
        r = stats.compare(logits, ref, y)
        meta = onnx_export.metadata(model)
        cpu = meta.get("train_cpu_seconds", "-") if "ctmq" in meta else "-"
        sched = json.loads(meta["ctmq"]) if "ctmq" in meta else None
        note = (f" (w {sched['start_w']}->{sched['target_w']}, {sched['cycles']} cycles)"
                if sched else "")
        print(f"| {label}{note} | {mult} | {100 * r['top1']:.1f} [{100 * r['top1_ci'][0]:.1f}, "
              f"{100 * r['top1_ci'][1]:.1f}] | {r['mcnemar_p']:.3g} ({r['discordant'][0]}, "
              f"{r['discordant'][1]}) | {cpu} |", flush=True)
    print(f"\n{len(y)} test images of {ds.name}; b = right only with the row, c = right only in "
          f"FP32.")
    return np.asarray(ref)


if __name__ == "__main__":
    main()
