"""The CNN end to end on real MNIST images: committed weights, fast == naive on whole networks,
the MAC-order path, a tiny accuracy run with its outputs and traces, and the command line."""

import json

import numpy as np
import pytest

from approxmac.cli import main
from cnn import accuracy, data, model
from cnn.mults import parse_mult


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist5k")


@pytest.fixture(scope="module")
def weights():
    return model.load_weights(model.weights_path("mnist5k"))


def test_committed_weights_reach_98_percent(mnist, weights):
    meta = weights["meta"]
    assert meta["seed"] == 2022 and meta["dataset"] == "mnist5k"
    assert meta["fp32_test_accuracy"] >= 0.98
    logits = model.predict(mnist.x_test, weights, model.Engine(parse_mult("fp32")))
    assert (logits.argmax(1) == mnist.y_test).mean() == meta["fp32_test_accuracy"]


@pytest.mark.parametrize("name", ["bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w3_unbiased",
                                  "int8", "mitch_int8_w6_trunc_c1", "mitch_int16_w8_unbiased_exact"])
def test_whole_network_fast_equals_naive(mnist, weights, name):
    """Every layer of the real network on two test images: the class decomposition gives the
    naive golden loop's logits bit for bit."""
    x = mnist.x_test[[3, 777]]
    mult, calib = parse_mult(name), weights["calib_absmax"]
    fast = model.forward(x, weights, model.Engine(mult, calib=calib))
    naive = model.forward(x, weights, model.Engine(mult, path="naive", calib=calib))
    assert np.array_equal(fast.view(np.uint32), naive.view(np.uint32))


def test_mac_order_path_matches_golden_mac_layer(mnist, weights):
    """The conv1 layer in MAC order with fp32_add equals golden.mac.dot on the same operands."""
    from golden.mac import dot
    seen = []
    mult, add = accuracy.parse_entry("mitch_bf16_w6_trunc+fp32_add")
    eng = model.Engine(mult, path="sequential", add=add,
                       on_operands=lambda layer, a, b: seen.append((layer, a, b)))
    wmat = weights["conv1"].reshape(16, -1).T.astype(np.float32)
    y = eng.layer("conv1", mnist.x_test[:1], wmat, 3)
    _, a, b = seen[0]
    mac = dot(a[:, None, :], b.T[None, :, :], "mitch_bf16_mac", w=6, variant="trunc")
    assert np.array_equal(y.view(np.uint32), mac)


def test_tiny_accuracy_run_writes_table_plot_and_traces(tmp_path):
    entries = "fp32,bf16,mitch_bf16_w2_trunc,mitch_bf16_w6_trunc,int8,bf16+trunc_add_t4"
    (tmp_path / "report").mkdir()
    costs = [{"unit": "bf16_mac", "params": {}, "stream": "uniform", "energy_pj_per_op": 999.0},
             {"unit": "bf16_mac", "params": {}, "stream": "cnn", "energy_pj_per_op": 175.0},
             {"unit": "mitch_bf16_mac", "params": {"w": 6, "variant": "trunc"}, "stream": "cnn",
              "energy_pj_per_op": 130.0},
             {"unit": "int_mac", "params": {"n": 8, "acc_width": None}, "stream": "cnn",
              "energy_pj_per_op": 40.0}]
    (tmp_path / "report" / "costs.json").write_text(json.dumps({"failed": [], "results": costs}))
    res = accuracy.run("mnist5k", entries, limit=60, seq_images=6, out_dir=tmp_path / "report",
                       trace_dir=tmp_path / "traces", trace_pairs=3000, log=lambda *_: None)
    rows = {r["mult"]: r for r in res["results"]}
    assert rows["fp32"]["agreement"] == 1.0 and rows["fp32"]["mean_abs_logit_error"] == 0.0
    assert rows["fp32"]["top1"] >= 0.95 and rows["bf16"]["agreement"] >= 0.95
    err = {n: rows[n]["mean_abs_logit_error"] for n in rows}
    assert err["mitch_bf16_w2_trunc"] > err["mitch_bf16_w6_trunc"] > err["bf16"] > 0
    assert rows["bf16+trunc_add_t4"]["n_images"] == 6
    saved = json.loads((tmp_path / "report" / "accuracy.json").read_text())
    assert saved["results"] == res["results"]
    assert (tmp_path / "report" / "accuracy_vs_w.png").stat().st_size > 1000
    assert "| mitch_bf16_w6_trunc | 60 |" in (tmp_path / "report" / "accuracy.md").read_text()
    assert (tmp_path / "report" / "accuracy_energy.png").stat().st_size > 1000
    from cnn.pareto import front, load_records, pareto_points
    pts = pareto_points(res, load_records(tmp_path / "report" / "costs.json"))
    assert [(p[0], p[1]) for p in pts] == [("bf16", 175.0), ("mitch_bf16_w6_trunc", 130.0),
                                           ("int8", 40.0)]          # cnn stream preferred
    assert front([("a", 1, 0.9, ""), ("b", 2, 0.8, ""), ("c", 3, 0.95, "")]) == [
        ("a", 1, 0.9, ""), ("c", 3, 0.95, "")]
    # the cost flow reads the traces as its --stream trace:FILE
    from synth.streams import make_stream, operand_format
    for fmt, unit, params in (("bf16", "mitch_bf16_mac", {"w": 6}), ("int8", "mitch_mac", {"n": 8}),
                              ("int16", "int_mac", {"n": 16})):
        f = tmp_path / "traces" / f"mnist5k_{fmt}.npz"
        a, b = make_stream(f"trace:{f}", operand_format(unit, params), 3000)
        assert len(a) == len(b) == 3000 and (a != 0).any() and (b != 0).any()


def test_cli_accuracy_bad_parameters_exit_2(tmp_path, capsys):
    assert main(["accuracy", "--mult", "mitch_bf16_w9_trunc", "-o", str(tmp_path)]) == 2
    assert "w must be in 2..8" in capsys.readouterr().err
    assert main(["accuracy", "--mult", "int8+trunc_add_t8", "-o", str(tmp_path)]) == 2
    assert "needs a bf16 multiplier" in capsys.readouterr().err
    assert main(["accuracy", "--dataset", "cifar", "-o", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_digits_weights_and_shape_check(tmp_path):
    res = accuracy.run("digits", "fp32,mitch_bf16_w6_trunc", out_dir=tmp_path, trace_dir=None,
                       log=lambda *_: None)
    assert res["results"][0]["top1"] >= 0.97 and res["n_test"] == 359
    from golden.params import ParameterError
    with pytest.raises(ParameterError, match="does not fit 8 x 8 images"):
        accuracy.run("digits", "fp32", weights=model.weights_path("mnist5k"), out_dir=tmp_path,
                     trace_dir=None, log=lambda *_: None)
