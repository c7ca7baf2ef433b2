"""Write the model card (Markdown beside the model) of an ONNX model made by cnn.onnx_export.

    python -m cnn.model_card cnn/models/resnet20_fashion-mnist.onnx [...]

The card states the architecture, the FP32 test accuracy (re-measured here with onnxruntime on the
whole test split of the model's data set, and required to equal the stored
``fp32_test_accuracy``), parameters and MACs per image (counted from the ONNX graph by
cnn.onnx_export.count), and the training command, seed, epochs, times and date from the model's
``metadata_props``.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import onnx

from golden.params import ParameterError

from . import data as cnn_data
from . import nets, onnx_export
from .executor import preprocess

DESCRIPTION = {
    "smallcnn": "conv3x3(16)-BN-ReLU-maxpool 2x2, conv3x3(32)-BN-ReLU-maxpool 2x2, flatten, FC 10 "
                "(convs without bias, 'same' padding).",
    "resnet20": "CIFAR-style ResNet-20: conv3x3(16)-BN-ReLU; 3 stages x 3 basic blocks of 16 / 32 "
                "/ 64 channels (stride 2 at the start of stages 2 and 3); each block conv3x3-BN-"
                "ReLU-conv3x3-BN plus the shortcut (identity, or 1x1 conv stride 2 + BN where the "
                "shape changes), Add, ReLU; global average pool, FC 10. Convs without bias.",
    "mobilenetv2": "MobileNetV2-style for 28 x 28: stem conv3x3(16)-BN-ReLU6; inverted residual "
                   "blocks (1x1 expand-BN-ReLU6, depthwise 3x3-BN-ReLU6, 1x1 project-BN, Add "
                   "where the shapes match) with (expansion, channels, repeats, stride) = "
                   + ", ".join(str(b) for b in nets.MOBILENET_BLOCKS)
                   + f"; 1x1 conv({nets.MOBILENET_LAST})-BN-ReLU6, global average pool, FC 10. "
                     "ReLU6 is ONNX Clip(0, 6). Convs without bias.",
}


def card(path, model=None):
    """The card's Markdown text for the ONNX model at ``path``."""
    path = Path(path)
    model = model or onnx.load(str(path))
    meta = onnx_export.metadata(model)
    arch = meta.get("architecture", "?")
    ds = cnn_data.load(meta["dataset"])
    logits = onnx_export.onnxruntime_logits(model, preprocess(model, ds.x_test))
    acc = float((logits.argmax(1) == ds.y_test).mean())
    stored = float(meta["fp32_test_accuracy"])
    if acc != stored:
        raise ParameterError(f"{path}: onnxruntime gives {acc} on the test split, the model "
                             f"states {stored}")
    n_params, macs = onnx_export.count(model)
    ops = Counter(n.op_type for n in model.graph.node)
    shape = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    k = int(round(acc * len(ds.y_test)))
    rows = [("Architecture", f"`{arch}`: {DESCRIPTION.get(arch, '')}"),
            ("ONNX", f"opset {model.opset_import[0].version}; input `input` {shape} float32, "
                     f"output `logits`; nodes: "
                     + ", ".join(f"{v} {k_}" for k_, v in sorted(ops.items()))
                     + ". Batch norm is a separate node after every conv (not folded)."),
            ("Data set", f"`{meta['dataset']}` ({len(ds.x_train)} train / {len(ds.x_test)} test "
                         f"images; {ds.split})"),
            ("Preprocessing", f"x' = (x - {meta['preprocess_mean']}) / {meta['preprocess_std']} "
                              f"on images in [0, 1]"),
            ("FP32 test accuracy", f"{acc * 100:.2f} % ({k} / {len(ds.y_test)}, onnxruntime, "
                                   f"whole test split)"),
            ("Parameters", f"{n_params:,} (conv / FC weights and biases, BN scale and bias)"),
            ("MACs per image", f"{macs:,} (Conv / Gemm / MatMul products, from the ONNX graph)")]
    for key, label in (("training_command", "Training command"), ("seed", "Seed"),
                       ("epochs", "Epochs"), ("batch", "Batch"), ("lr", "Peak learning rate"),
                       ("weight_decay", "Weight decay"), ("shift", "Random shift (pixels)"),
                       ("flip", "Horizontal flips"), ("bn_statistics", "BN statistics"),
                       ("train_cpu_seconds", "Training CPU time (s)"),
                       ("train_wall_seconds", "Training wall time (s)"),
                       ("train_seconds", "Training wall time (s)"),
                       ("framework", "Framework"), ("date", "Date")):
        if key in meta:
            value = meta[key]
            rows.append((label, f"`{value}`" if key == "training_command" else value))
    for key, label in (("stopped", "Stopped"), ("checkpoint", "Checkpoint")):
        if key in meta:
            rows.append((label, meta[key]))
    lines = [f"# {path.stem}", "", "| | |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cnn.model_card", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    args = p.parse_args(argv)
    try:
        for m in args.models:
            if not Path(m).is_file():
                raise ParameterError(f"model {m} does not exist")
            text = card(m)
            out = Path(m).with_suffix(".md")
            out.write_text(text)
            print(f"wrote {out}")
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
