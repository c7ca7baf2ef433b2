"""The trainer and the ONNX exporter: a few JAX training steps of each architecture on a tiny
subset of real images, exported, checked by onnx, and run by onnxruntime with the JAX logits in
inference form; and the committed models with their metadata and model cards."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from cnn import data, executor, nets, onnx_export

MODELS = Path(__file__).resolve().parent.parent / "cnn" / "models"
COMMITTED = sorted(p for p in MODELS.glob("*.onnx") if ".ckpt" not in p.name)   # not checkpoints
EXPECTED_OPS = {"smallcnn": {"Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"},
                "resnet20": {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool",
                             "Flatten", "Gemm"},
                "mobilenetv2": {"Conv", "BatchNormalization", "Clip", "Add", "GlobalAveragePool",
                                "Flatten", "Gemm"}}


@pytest.fixture(scope="module")
def tiny():
    """64 train / 40 test images of scikit-learn's 8 x 8 digits (real data, small shapes)."""
    ds = data.load("digits")
    return data.Dataset("digits", ds.x_train[:64], ds.y_train[:64], ds.x_test[:40],
                        ds.y_test[:40], "first 64 / 40")


@pytest.mark.parametrize("arch", nets.ARCHS)
def test_train_export_roundtrip(tiny, arch):
    pytest.importorskip("jax")
    from cnn import train
    tr = train.Trainer(arch, tiny, epochs=1, seed=7, batch=32)
    before = {k: np.asarray(v).copy() for k, v in tr.params.items()}
    tr.train_epoch()
    assert any(not np.array_equal(before[k], np.asarray(v)) for k, v in tr.params.items())
    stats, change = tr.population_stats(passes=2, batch=32)
    assert np.isfinite(change)
    model = tr.to_onnx(stats, {"fp32_test_accuracy": 0.5, "training_command": "test"})
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert set(ops) == EXPECTED_OPS[arch]
    # one separate BatchNormalization node right after every Conv, holding the population stats
    assert ops.count("BatchNormalization") == ops.count("Conv")
    conv_out = {n.output[0] for n in model.graph.node if n.op_type == "Conv"}
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert all(n.input[0] in conv_out for n in bns)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in bns:
        np.testing.assert_array_equal(inits[n.input[3]], np.asarray(stats[n.name][0]))
    # the exported weights are the trained ones, not folded
    for n in model.graph.node:
        if n.op_type == "Conv":
            np.testing.assert_array_equal(inits[n.input[1]], np.asarray(tr.params[n.input[1]]))
    x = np.concatenate([tiny.x_test, tiny.x_train[:24]])
    ort = onnx_export.onnxruntime_logits(model, executor.preprocess(model, x))
    ref = tr.logits(x, stats)
    assert np.abs(ort - ref).max() <= 1e-4 * np.abs(ref).max()
    assert np.array_equal(ort.argmax(1), ref.argmax(1))
    meta = onnx_export.metadata(model)
    assert json.loads(meta["preprocess_mean"]) == tr.mean and meta["architecture"] == arch
    assert meta["dataset"] == "digits" and meta["seed"] == "7"


def test_count_macs_by_hand():
    """MACs from the ONNX graph equal the conv / FC products counted by hand (small CNN)."""
    net = nets.smallcnn((1, 28, 28))
    params = nets.init_params(net, np.random.default_rng(0))
    model = onnx_export.to_onnx(net, params)
    n_params, macs = onnx_export.count(model)
    assert macs == 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 32 * 7 * 7 * 10
    assert n_params == 16 * 9 + 32 * 16 * 9 + 1568 * 10 + 10 + 2 * (16 + 32)


def test_unknown_arch_is_a_parameter_error():
    from golden.params import ParameterError
    with pytest.raises(ParameterError, match="arch must be one of"):
        nets.build("vgg", (1, 28, 28))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_model_and_card(path):
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    meta = onnx_export.metadata(model)
    for key in ("preprocess_mean", "preprocess_std", "dataset", "fp32_test_accuracy",
                "training_command", "seed", "architecture"):
        assert key in meta, key
    assert model.graph.input[0].name == "input" and model.graph.output[0].name == "logits"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert len(json.loads(meta["preprocess_mean"])) == len(json.loads(meta["preprocess_std"])) == 1
    ops = {n.op_type for n in model.graph.node}
    assert ops == EXPECTED_OPS[meta["architecture"]]
    card = path.with_suffix(".md").read_text()
    assert f"{float(meta['fp32_test_accuracy']) * 100:.2f} %" in card
    n_params, macs = onnx_export.count(model)
    assert f"{n_params:,}" in card and f"{macs:,}" in card


@pytest.mark.parametrize("path", [p for p in COMMITTED if "digits" in p.name or "mnist5k" in p.name],
                         ids=lambda p: p.name)
def test_small_committed_models_reach_their_accuracy(path):
    """onnxruntime on the whole (small) test split reproduces the stored FP32 accuracy."""
    model = onnx.load(str(path))
    meta = onnx_export.metadata(model)
    ds = data.load(meta["dataset"])
    logits = onnx_export.onnxruntime_logits(model, executor.preprocess(model, ds.x_test))
    assert (logits.argmax(1) == ds.y_test).mean() == float(meta["fp32_test_accuracy"])
