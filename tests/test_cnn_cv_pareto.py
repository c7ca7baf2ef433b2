"""cnn.cv_pareto: entries find the array that computes them (scales fold into batch norm, an
integer variate needs the port's significand bits), comparisons are paired McNemar tests on the
per-image correctness, and the CLI writes the table and the plot (bad input: exit 2)."""

import json
import subprocess
import sys

import pytest

from cnn import cv_pareto as cp
from cnn.stats import mcnemar_exact
from golden.params import ParameterError

MITCH = {"n": 16, "w": 3, "variant": "trunc", "signed": "c1"}


def rec(pe, energy, cv=False, **params):
    return {"unit": "systolic", "module": f"m_{pe}_{energy}", "recipe": "abc-buf",
            "stream": "cnn", "vectors": 128, "liberty": {"name": "osu018"},
            "energy_pj_per_op": energy, "area_um2": 1000.0 * energy, "delay_ns": 10.0,
            "params": {"rows": 4, "cols": 4, "pe": pe, "cv": cv, "kappa_width": None,
                       "acc_width": None, **params}}


def row(entry, correct):
    k = correct.count("1")
    return {"entry": entry, "top1": k / len(correct), "top1_ci": [0.0, 1.0], "correct": correct}


def write(tmp_path):
    n = 40
    rows = [row("int16", "1" * 36 + "0" * 4),
            row("mitch_int16_w3_trunc_c1", "1" * 10 + "0" * 30),
            row("mitch_int16_w3_trunc_c1+lscale", "1" * 30 + "0" * 10),
            row("mitch_int16_w3_trunc_c1+cvs", "1" * 34 + "0" * 6),
            row("mitch_int16_w3_trunc_c1+cvs_k8", "1" * 33 + "0" * 7),
            row("mitch_int16_w3_trunc_c1+cvs_k4", "1" * 20 + "0" * 20),
            row("mitch_int16_w6_trunc_c1+lscale", "1" * 20 + "0" * 12 + "1" * 8),
            row("mitch_bf16_w3_trunc+cvs", "1" * 35 + "0" * 5)]
    acc = {"model": "resnet.onnx", "dataset": "fm", "test_images": n, "test_subset": "all",
           "results": rows}
    (tmp_path / "acc.json").write_text(json.dumps(acc))
    recs = [rec("int_mac", 100.0, n=16), rec("mitch_mac", 60.0, **MITCH),
            rec("mitch_mac", 70.0, cv=True, **MITCH),
            rec("mitch_mac", 75.0, **dict(MITCH, w=6)),
            rec("mitch_bf16_mac", 90.0, cv=True, w=3, variant="trunc")]
    for i, r in enumerate(recs):
        (tmp_path / f"c{i}.json").write_text(json.dumps(r))
    return tmp_path / "acc.json", [tmp_path / f"c{i}.json" for i in range(len(recs))]


def test_entries_find_their_array(tmp_path):
    acc, costs = write(tmp_path)
    rows, run = cp.load_accuracy([acc])
    pts = {p["entry"]: p for p in cp.points(rows, cp.load_costs(costs))}
    assert pts["mitch_int16_w3_trunc_c1"]["energy"] == 60.0
    assert pts["mitch_int16_w3_trunc_c1+lscale"]["energy"] == 60.0      # folded into BN
    assert pts["mitch_int16_w3_trunc_c1+cvs_k8"]["energy"] == 70.0      # the cv array, M = 8
    assert pts["mitch_bf16_w3_trunc+cvs"]["energy"] == 90.0
    assert pts["mitch_int16_w6_trunc_c1+lscale"]["energy"] == 75.0
    # full-precision integer kappa and M = 4 have no array here
    assert "mitch_int16_w3_trunc_c1+cvs" not in pts and "mitch_int16_w3_trunc_c1+cvs_k4" not in pts
    assert cp.array_key("fp32") is None


def test_compare_is_a_paired_test(tmp_path):
    acc, costs = write(tmp_path)
    rows, _ = cp.load_accuracy([acc])
    pts = cp.points(rows, cp.load_costs(costs))
    c = cp.compare(pts, rows, "mitch_int16_w3_trunc_c1+cvs_k8", "mitch_int16_w6_trunc_c1+lscale")
    # b, c counted independently from the two correctness strings
    x, y = rows[c["x"]]["correct"], rows[c["y"]]["correct"]
    b = sum(u > v for u, v in zip(x, y))
    cc = sum(u < v for u, v in zip(x, y))
    assert (c["b"], c["c"]) == (b, cc) and c["p"] == mcnemar_exact(b, cc)
    assert c["energy_ratio"] == pytest.approx(70 / 75)
    assert c["verdict"] == ("dominates" if c["p"] < 0.05 else
                            "cheaper, accuracy not distinguishable")
    worse = cp.compare(pts, rows, "mitch_int16_w3_trunc_c1", "mitch_int16_w3_trunc_c1+lscale")
    assert worse["verdict"] == "does not dominate" and worse["p"] < 0.05
    costlier = cp.compare(pts, rows, "int16", "mitch_int16_w3_trunc_c1")
    assert costlier["verdict"] == "does not dominate"
    with pytest.raises(ParameterError, match="no accuracy row with an array cost"):
        cp.compare(pts, rows, "mitch_int16_w3_trunc_c1+cvs", "int16")


def test_ambiguous_or_mixed_costs_are_refused(tmp_path):
    acc, costs = write(tmp_path)
    rows, _ = cp.load_accuracy([acc])
    recs = cp.load_costs(costs)
    with pytest.raises(ParameterError, match="2 cost records"):
        cp.points(rows, recs + [dict(recs[1], module="other")])
    with pytest.raises(ParameterError, match="differ in"):
        cp.points(rows, recs + [dict(rec("mitch_mac", 1.0, **dict(MITCH, w=5)), recipe="abc")])


def test_cli_writes_table_and_plot(tmp_path):
    acc, costs = write(tmp_path)
    md, png = tmp_path / "t.md", tmp_path / "p.png"
    cli = [sys.executable, "-m", "cnn.cv_pareto", "--accuracy", str(acc), "--costs",
           *map(str, costs)]
    out = subprocess.run(cli + ["--compare", "mitch_int16_w3_trunc_c1+cvs_k8:int16",
                                "--md", str(md), "--png", str(png)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = md.read_text()
    assert "| mitch_int16_w3_trunc_c1+cvs_k8 | yes | 82.50 [0.0, 100.0] | 70.00 |" in text
    assert "| mitch_int16_w3_trunc_c1+cvs_k8 | int16 | 0.700 |" in text
    assert png.stat().st_size > 5000
    bad = subprocess.run(cli + ["--compare", "int16"], capture_output=True, text=True)
    assert bad.returncode == 2 and "X:Y" in bad.stderr
