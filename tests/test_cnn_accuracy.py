"""cnn.accuracy end to end on a tiny ONNX model and an npz data set: sharded grid == one
executor run; serial == a 2-worker LocalCluster byte for byte; records, outputs and traces;
the result cache recomputes exactly the tasks whose key changed; bad input exits 2 and writes
nothing."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("cnn.executor")

from approxmac.cli import main  # noqa: E402
from cnn import accuracy, stats  # noqa: E402
from cnn.executor import Session, calibrate, load_model  # noqa: E402

ENTRIES = "fp32,bf16,mitch_bf16_w4_trunc,int8"
SUBSET = "mitch_bf16_w2_unbiased,mitch_int8_w4_trunc_c1,bf16+fp32_add"


def tiny_model(path, channels=1, seed=3):
    """Conv 3x3 (4) - BN - Relu - MaxPool 2 - Flatten - Gemm (64 -> 5) on 8 x 8 images."""
    rng = np.random.default_rng(seed)
    inits = {
        "W": rng.standard_normal((4, channels, 3, 3)).astype(np.float32) * 0.5,
        "gamma": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "beta": rng.standard_normal(4).astype(np.float32) * 0.1,
        "mean": rng.standard_normal(4).astype(np.float32) * 0.1,
        "var": rng.uniform(0.5, 2, 4).astype(np.float32),
        "F": rng.standard_normal((64, 5)).astype(np.float32) * 0.3,
        "fb": rng.standard_normal(5).astype(np.float32) * 0.1,
    }
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["b"],
                              name="bn"),
             helper.make_node("Relu", ["b"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "F", "fb"], ["logits"], name="fc")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, channels, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 5])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("acc")
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 2, (30, 1, 8, 8)).astype(np.float32)
    model = tiny_model(d / "tiny.onnx")
    ref = Session(load_model(model), "fp32").run(x)
    y = ref.argmax(1)
    y[::3] = (y[::3] + 1) % 5                       # fp32 right on 2/3 of the images
    np.savez(d / "data.npz", x_test=x, y_test=y, x_train=x[::-1].copy())
    return d, model, x, y


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own result cache (never the project's build/cache)."""
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(setup, out, **kw):
    d, model, _, _ = setup
    args = dict(models=str(model), dataset=f"npz:{d / 'data.npz'}", entries=ENTRIES,
                subset_entries=SUBSET, subset=10, seq_images=4, shard=7, calib_images=16,
                batch=5, out_dir=out / "report", trace_dir=out / "traces", trace_pairs=500,
                progress=lambda line: None)
    args.update(kw)
    return accuracy.run(**args)


def _strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_grid_serial_equals_local_cluster_and_one_executor_run(setup, tmp_path):
    d, model, x, y = setup
    serial = _run(setup, tmp_path / "s", scheduler="serial")
    dist = _run(setup, tmp_path / "d", n_workers=2, cache=False)     # computed, not cached
    assert serial["logits"].keys() == dist["logits"].keys()
    for key in serial["logits"]:
        assert serial["logits"][key].tobytes() == dist["logits"][key].tobytes(), key
    assert _strip(serial["records"]) == _strip(dist["records"])
    for name in ("tiny_int8.npz", "tiny_bf16.npz"):
        a, b = np.load(tmp_path / "s" / "traces" / name), np.load(tmp_path / "d" / "traces" / name)
        assert a["a"].tobytes() == b["a"].tobytes() and a["b"].tobytes() == b["b"].tobytes()
    # the sharded, distributed grid gives what one executor session gives on all images
    m = load_model(model)
    calib = calibrate(m, x[::-1][:16])
    for entry, idx in (("fp32", np.arange(30)), ("int8", np.arange(30)),
                       ("mitch_bf16_w2_unbiased", np.arange(0, 30, 3)),
                       ("mitch_int8_w4_trunc_c1", np.arange(0, 30, 3)),
                       ("bf16+fp32_add", np.arange(0, 30, 7)[:4])):
        want = Session(m, entry, calib=calib).run(x[idx])
        assert dist["logits"][("tiny", entry)].tobytes() == want.tobytes(), entry
    fp32 = dist["logits"][("tiny", "fp32")]
    recs = {r["mult"]: r for r in dist["records"]}
    r = recs["mitch_bf16_w2_unbiased"]
    want = stats.compare(dist["logits"][("tiny", "mitch_bf16_w2_unbiased")], fp32[::3], y[::3])
    assert {k: r[k] for k in want} == want and r["image_set"] == "subset" and r["images"] == 10
    assert recs["fp32"]["top1"] == pytest.approx(20 / 30) and recs["fp32"]["agreement"] == 1.0
    assert recs["fp32"]["mcnemar_p"] == 1.0 and recs["fp32"]["significant"] is False
    assert recs["bf16+fp32_add"]["images"] == 4 and recs["bf16+fp32_add"]["image_set"] == "mac_order"
    assert recs["int8"]["fits_acc_width_2n_plus_8"] is True


def test_outputs(setup, tmp_path):
    res = _run(setup, tmp_path, scheduler="serial")
    doc = json.loads((tmp_path / "report" / "accuracy.json").read_text())
    assert doc["records"] == json.loads(json.dumps(res["records"]))
    need = {"model", "dataset", "mult", "images", "top1", "top1_ci", "top3", "agreement",
            "mcnemar_p", "significant", "mean_abs_logit_error", "seconds"}
    for r in doc["records"]:
        assert need <= r.keys()
        assert 0 <= r["top1_ci"][0] <= r["top1"] <= r["top1_ci"][1] <= 1 and 0 <= r["top3"] <= 1
    run = doc["run"]
    assert run["models"][0]["fp32_path_same_top1_as_onnxruntime"] == 1.0
    assert run["models"][0]["fp32_path_max_abs_logit_diff_over_max_abs_logit"] < 1e-4
    assert "first 16 training images" in run["calibration"]
    assert run["image_sets"]["subset"] == "every 3th test image from 0 (10 images)"
    assert run["preprocessing"].startswith("none")
    md = (tmp_path / "report" / "accuracy.md").read_text()
    assert "| mitch_bf16_w4_trunc | 30 |" in md and "### tiny" in md
    assert (tmp_path / "report" / "accuracy_vs_w.png").stat().st_size > 1000
    assert not list((tmp_path / "report").glob("*.tmp*"))
    # the cost flow reads the traces as its --stream trace:FILE
    from synth.streams import make_stream, operand_format
    for fmt, unit, params in (("bf16", "mitch_bf16_mac", {"w": 6}), ("int8", "mitch_mac", {"n": 8}),
                              ("int16", "int_mac", {"n": 16})):
        f = tmp_path / "traces" / f"tiny_{fmt}.npz"
        a, b = make_stream(f"trace:{f}", operand_format(unit, params), 500)
        assert len(a) == len(b) == 500 and (a != 0).any() and (b != 0).any()
        assert set(np.load(f)["layer"]) <= {"conv", "fc"}


def test_cache_recomputes_exactly_the_tasks_whose_key_changed(setup, tmp_path, monkeypatch):
    d, model, x, y = setup
    computed = []
    real = accuracy.grid_task

    def counting(kind, path, entry, images, *args):
        computed.append((kind, entry, len(images)))
        return real(kind, path, entry, images, *args)
    monkeypatch.setattr(accuracy, "grid_task", counting)

    def run(**kw):
        del computed[:]
        kw = {"entries": "fp32,int8", "subset_entries": "none", "trace_dir": None,
              "shard": 10, "scheduler": "serial", **kw}
        res = _run(setup, tmp_path, **kw)
        return sorted(computed), res

    first, res = run()
    assert first == [("logits", "fp32", 10)] * 3 + [("logits", "int8", 10)] * 3
    doc = (tmp_path / "report" / "accuracy.json").read_bytes()
    again, res2 = run()
    assert again == [] and (tmp_path / "report" / "accuracy.json").read_bytes() == doc
    assert all(res["logits"][k].tobytes() == res2["logits"][k].tobytes() for k in res["logits"])
    # one part of the key at a time
    assert run(entries="fp32,int8,bf16")[0] == [("logits", "bf16", 10)] * 3      # a new entry
    assert run(shard=15)[0] == [("logits", "fp32", 15)] * 2 + [("logits", "int8", 15)] * 2
    m = load_model(model)
    assert calibrate(m, x[::-1][:1]) != calibrate(m, x[::-1][:16])
    assert run(calib_images=1)[0] == [("logits", "int8", 10)] * 3    # only int units read it
    (tmp_path / "m").mkdir()
    other = tiny_model(tmp_path / "m" / "tiny.onnx", seed=4)     # another model, same name
    assert run(models=str(other))[0] == [("logits", "fp32", 10)] * 3 + [("logits", "int8", 10)] * 3
    # the code that computes a task
    monkeypatch.setattr(accuracy, "code_digest", lambda: "other code")
    assert len(run()[0]) == 6
    # --no-cache recomputes everything, to the same figures (all but the compute seconds)
    assert len(run(cache=False)[0]) == 6
    new, old = (json.loads(t) for t in ((tmp_path / "report" / "accuracy.json").read_text(), doc))
    assert _strip(new["records"]) == _strip(old["records"]) and new["run"] == old["run"]
    key = json.loads(next((tmp_path / "cache" / "accuracy").glob("*/key.json")).read_text())
    assert {"task", "model", "images", "calib", "code", "packages"} <= set(key)


def test_pareto_plot_from_costs(setup, tmp_path):
    (tmp_path / "report").mkdir()
    costs = [{"unit": "bf16_mac", "params": {}, "stream": "uniform", "energy_pj_per_op": 999.0},
             {"unit": "bf16_mac", "params": {}, "stream": "cnn", "energy_pj_per_op": 175.0},
             {"unit": "mitch_bf16_mac", "params": {"w": 4, "variant": "trunc"}, "stream": "cnn",
              "energy_pj_per_op": 110.0},
             {"unit": "int_mac", "params": {"n": 8, "acc_width": None}, "stream": "cnn",
              "energy_pj_per_op": 40.0}]
    (tmp_path / "report" / "costs.json").write_text(json.dumps(costs))
    res = _run(setup, tmp_path, scheduler="serial", subset_entries="none", trace_dir=None)
    assert (tmp_path / "report" / "accuracy_energy.png").stat().st_size > 1000
    from cnn.pareto import load_records, pareto_points
    pts = pareto_points(res["records"], load_records(tmp_path / "report" / "costs.json"), "tiny")
    assert [(p[0], p[1]) for p in pts] == [("bf16", 175.0), ("mitch_bf16_w4_trunc", 110.0),
                                           ("int8", 40.0)]          # cnn stream preferred


@pytest.mark.parametrize("args,msg", [
    (["--model", "{d}/none.onnx"], "does not exist"),
    (["--model", "{d}/data.npz"], "not an ONNX model"),
    (["--model", "{d}/lstm.onnx"], "LSTM"),
    (["--dataset", "npz:{d}/rgb.npz"], "takes shape"),
    (["--dataset", "cifar"], "dataset must be one of"),
    (["--mult", "mitch_bf16_w9_trunc"], "w must be in 2..8"),
    (["--subset-mult", "plam_n8_es3"], "es must be in 0..2"),
    (["--subset-mult", "int8+trunc_add_t8"], "needs a bf16 multiplier"),
    (["--exact-nodes", "conv,nope"], "nope"),
    (["--scheduler", "localhost:8786"], "scheduler must be"),
    (["--subset", "0"], "subset must be an integer >= 1"),
])
def test_cli_bad_input_exit_2_nothing_written(setup, tmp_path, capsys, args, msg):
    d, model, x, y = setup
    if not (d / "lstm.onnx").exists():
        g = helper.make_graph(
            [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2)], "l",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 2])],
            [numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "W"),
             numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R")])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.save(m, str(d / "lstm.onnx"))
        np.savez(d / "rgb.npz", x_test=np.zeros((3, 3, 8, 8), np.float32), y_test=np.zeros(3, int))
    base = {"--model": str(model), "--dataset": f"npz:{d / 'data.npz'}", "--mult": "fp32,bf16",
            "--subset-mult": "none", "--scheduler": "serial"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v.format(d=d)
    out = tmp_path / "out"
    argv = ["accuracy"] + [a for kv in base.items() for a in kv] + [
        "-o", str(out), "--traces", str(tmp_path / "traces")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("approxmac: error:") == 1
    assert not out.exists() and not (tmp_path / "traces").exists()


def test_cli_end_to_end(setup, tmp_path, capsys):
    d, model, _, _ = setup
    assert main(["accuracy", "--model", str(model), "--dataset", f"npz:{d / 'data.npz'}",
                 "--mult", "fp32,mitch_bf16_w6_trunc", "--subset-mult", "none", "--limit", "12",
                 "--exact-nodes", "fc", "--scheduler", "serial", "-o", str(tmp_path),
                 "--traces", ""]) == 0
    doc = json.loads((tmp_path / "accuracy.json").read_text())
    assert [r["images"] for r in doc["records"]] == [12, 12] and doc["run"]["exact_nodes"] == ["fc"]
    err = capsys.readouterr().err
    assert "accuracy: [2/2]" in err and "mitch_bf16_w6_trunc" in err
