"""cnn.control_variate: the fast variate equals golden's, the network hook applies golden's
correction bit for bit, and the fitted corrections bring a low-w network closer to FP32."""

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from cnn import control_variate as ccv
from cnn.mults import parse_mult
from golden import control_variate as cv
from golden.floats import bf16_to_float
from golden.params import ParameterError

MODEL = Path(__file__).resolve().parent.parent / "cnn" / "models" / "smallcnn_mnist5k.onnx"


def bf16(v):
    return np.asarray(v, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)


def test_variate_is_golden_on_the_encoded_operands():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((30, 40)) * np.ldexp(1.0, rng.integers(-60, 60, (30, 40)))
    a = bf16(v)
    got = ccv.variate(a, parse_mult("mitch_bf16_w3_trunc"))
    np.testing.assert_array_equal(got.view(np.uint32),
                                  cv.variate_float(a.view(ml_dtypes.bfloat16).astype(np.float64))
                                  .view(np.uint32))
    ai = rng.integers(-127, 128, (50, 30))
    np.testing.assert_array_equal(ccv.variate(ai, parse_mult("mitch_int8_w3_trunc_exact")),
                                  ai.sum(axis=1))


def test_split_entry():
    assert ccv.split_entry("mitch_bf16_w3_trunc+cvs") == ("mitch_bf16_w3_trunc", "cvs")
    assert ccv.split_entry("mitch_int8_w2_trunc_exact") == ("mitch_int8_w2_trunc_exact", None)
    for bad in ("mitch_bf16_w9_trunc+cv", "mitch_bf16_w3_trunc+cvx", "nope+cv"):
        with pytest.raises(ParameterError):
            ccv.split_entry(bad)
    with pytest.raises(ParameterError, match="method"):
        ccv.Corrector(parse_mult("bf16"), "cvx")
    with pytest.raises(ParameterError, match="approximate"):
        ccv.Corrector(parse_mult("fp32"), "cv")
    assert ccv.split_entry("mitch_int16_w3_trunc_c1+cvs_k8") == ("mitch_int16_w3_trunc_c1",
                                                                 "cvs_k8")
    assert ccv.parse_method("cv_k4") == ("cv", 4) and ccv.parse_method("cvs") == ("cvs", None)
    for bad, msg in (("lscale_k8", "rounds a variate's kappa"), ("cvs_k1", "must be in 2..62"),
                     ("cvx_k8", "rounds a variate's kappa")):
        with pytest.raises(ParameterError, match=msg):
            ccv.split_entry(f"mitch_int8_w3_trunc_c1+{bad}")
    with pytest.raises(ParameterError, match="is for integer units"):
        ccv.Corrector(parse_mult("mitch_bf16_w3_trunc"), "cvs_k8")


@pytest.fixture(scope="module")
def net():
    ex = pytest.importorskip("cnn.executor")
    from cnn import data
    model = ex.load_model(MODEL)
    ds = data.load("mnist5k")
    xc = ex.preprocess(model, ds.x_train[ccv.subset(len(ds.x_train), 40)])
    x = ex.preprocess(model, ds.x_test[ccv.subset(len(ds.x_test), 40)])
    return ex, model, xc, x, ex.calibrate(model, xc)


@pytest.mark.parametrize("entry", ["mitch_bf16_w2_trunc+cvs", "mitch_int8_w3_trunc_exact+cv",
                                   "mitch_bf16_w3_trunc+lscale", "mitch_int8_w3_trunc_exact+cv_k3"])
def test_hook_applies_golden_correction(net, entry):
    ex, model, xc, x, act = net
    sess = ccv.make_session(model, entry, calib=act, x_calib=xc)
    corr = sess.on_product
    seen = []

    def spy(name, a, b, y):
        out = corr(name, a, b, y)
        seen.append((name, a, b, y, out))
        return out

    sess.on_product = spy
    sess.run(x[:5])
    assert [s[0] for s in seen] == ["conv1", "conv2", "fc"]
    for name, a, b, y, out in seen:
        kq, gq = corr.params[corr.key(name, b)]
        if corr.mult.kind == "float":
            want = cv.correct_float(y, cv.variate_float(bf16_to_float(a)), kq, gq)
            np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
        else:
            want = cv.correct_int(y, cv.variate_int(a), kq, gq)
            np.testing.assert_array_equal(out, want)
            if entry.endswith("_k3"):                # kq = m 2^e, |m| <= 3, some not plain
                odd = kq // (kq & -kq)
                assert np.abs(odd).max() <= 3 and (np.abs(kq) > 3).any()
        assert not np.array_equal(out, y)            # the correction did something


def test_correction_needs_fitting(net):
    ex, model, xc, x, act = net
    corr = ccv.Corrector(parse_mult("mitch_bf16_w2_trunc"), "cv")
    sess = ex.Session(model, "mitch_bf16_w2_trunc", on_product=corr)
    with pytest.raises(ParameterError, match="no correction fitted"):
        sess.run(x[:2])
    with pytest.raises(ParameterError, match="calibration images"):
        ccv.make_session(model, "mitch_bf16_w2_trunc+cv")


def test_scale_and_variate_bring_w2_closer_to_fp32(net):
    ex, model, xc, x, act = net
    ref = ex.ort_run(model, x)
    err = {}
    for e in ("mitch_bf16_w2_trunc", "mitch_bf16_w2_trunc+cvs"):
        logits = ccv.make_session(model, e, calib=act, x_calib=xc).run(x)
        err[e] = np.abs(logits.astype(np.float64) - ref).mean()
    assert err["mitch_bf16_w2_trunc+cvs"] < 0.5 * err["mitch_bf16_w2_trunc"]


def depthwise_model(rng, channels=3):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = rng.standard_normal((channels, 1, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=channels,
                            pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                    ["n", channels, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", channels, 6, 6])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("entry", ["mitch_bf16_w2_trunc+cvs", "mitch_int8_w3_trunc_exact+lscale"])
def test_grouped_conv_gets_one_correction_per_group(entry):
    ex = pytest.importorskip("cnn.executor")
    rng = np.random.default_rng(3)
    model = depthwise_model(rng)
    x = np.abs(rng.standard_normal((40, 3, 6, 6))).astype(np.float32)
    act = ex.calibrate(model, x)
    sess = ccv.make_session(model, entry, calib=act, x_calib=x)
    corr = sess.on_product
    assert len(corr.params) == 3                      # one per group (weights differ)
    gs = {int(p[1][0]) if corr.mult.kind == "int" else float(p[1][0])
          for p in corr.params.values()}
    assert len(gs) == (1 if entry.endswith("lscale") else 3)   # lscale: one g for the node
    seen = []
    sess.on_product = lambda name, a, b, y: seen.append((a, b, y, corr(name, a, b, y))) or seen[-1][3]
    sess.run(x[:4])
    assert len(seen) == 3
    for a, b, y, out in seen:
        kq, gq = corr.params[corr.key("dw", b)]
        if corr.mult.kind == "float":
            want = cv.correct_float(y, cv.variate_float(bf16_to_float(a)), kq, gq)
            np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
        else:
            np.testing.assert_array_equal(out, cv.correct_int(y, cv.variate_int(a), kq, gq))


def test_tables():
    rec = {"top1": 0.5, "top1_ci": [0.4, 0.6], "discordant": [1, 2], "mcnemar_p": 0.5,
           "agreement": 0.9, "mean_abs_logit_error": 0.1}
    res = {"model": "m", "dataset": "d", "test_images": 2, "test_subset": "all",
           "calib_images": 1, "calib_subset": "x", "fp32_top1": 1.0,
           "results": [{"entry": e, **rec} for e in ("bf16", "mitch_bf16_w2_trunc",
                                                       "mitch_bf16_w2_trunc+cvs")]}
    piv = ccv.pivot_table(res).splitlines()
    assert piv[0] == "| multiplier | none | cvs |"
    assert piv[3] == "| mitch_bf16_w2_trunc | 50.0 (0.5) | 50.0 (0.5) |"
    assert piv[2] == "| bf16 | 50.0 (0.5) |  |"
    res["results"][2]["vs_uncorrected"] = {"discordant": [3, 0], "mcnemar_p": 0.25}
    md = ccv.markdown_table(res)
    assert ("| mitch_bf16_w2_trunc+cvs | 50.00 | [40.0, 60.0] | 1 / 2 | 0.5 | 90.00 | 0.1000 |"
            " 3 / 0 | 0.25 |  | |  | |") in md
    assert "| bf16 | 50.00 | [40.0, 60.0] | 1 / 2 | 0.5 | 90.00 | 0.1000 |  | |  | |  | |" in md
    res["results"][2]["vs_lscale"] = {"discordant": [5, 1], "mcnemar_p": 0.21875}
    assert " 3 / 0 | 0.25 | 5 / 1 | 0.219 |" in ccv.markdown_table(res)


def test_evaluate_pairs_variates_with_uncorrected_and_layer_scale():
    base = "mitch_bf16_w2_trunc"
    res = ccv.evaluate(MODEL, "mnist5k", [base, f"{base}+lscale", f"{base}+cvs"], n_test=40,
                       n_calib=16, log=lambda line: None)
    rows = {r["entry"]: r for r in res["results"]}
    n = res["test_images"]
    assert "vs_uncorrected" not in rows[base] and "vs_lscale" not in rows[base]
    assert "vs_lscale" not in rows[f"{base}+lscale"]
    for e, other in ((f"{base}+lscale", base), (f"{base}+cvs", base), (f"{base}+cvs", f"{base}+lscale")):
        key = "vs_uncorrected" if other == base else "vs_lscale"
        b, c = rows[e][key]["discordant"]
        # b - c is the difference of the two entries' correct counts on the same images
        assert b - c == round(n * (rows[e]["top1"] - rows[other]["top1"]))


def test_evaluate_pairs_rounded_kappa_with_full_precision():
    base = "mitch_int8_w2_trunc_c1"
    res = ccv.evaluate(MODEL, "mnist5k", [f"{base}+cvs", f"{base}+cvs_k2"], n_test=40,
                       n_calib=16, log=lambda line: None)
    rows = {r["entry"]: r for r in res["results"]}
    b, c = rows[f"{base}+cvs_k2"]["vs_full_kappa"]["discordant"]
    assert b - c == round(40 * (rows[f"{base}+cvs_k2"]["top1"] - rows[f"{base}+cvs"]["top1"]))
    assert "vs_full_kappa" not in rows[f"{base}+cvs"]
