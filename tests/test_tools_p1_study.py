"""tools/p1_study.py: a pipelined MAC's energy split at its product register adds up to the
flow's figure, with every flip-flop in its part."""
import pytest

from approxmac.p1 import Run
from synth.flow import synth_unit
from tools.p1_study import mac_split


def test_split_of_a_pipelined_mac(tmp_path):
    record = synth_unit("int_mac", {"n": 4, "pipeline": 1}, stream="uniform", vectors=60,
                        out_root=tmp_path, cache=False)
    s = mac_split(tmp_path / "osu018" / record["module"], Run("lone", "osu018", "int16", 1))
    parts = s["multiplier_pj"] + s["accumulate_pj"] + s["clock_pj"] + s["control_pj"]
    assert parts == pytest.approx(record["energy_pj_per_op"], rel=1e-4)
    # a 16-bit accumulator (2N + 8), the 8-bit product stage, the en/clr stage
    assert s["flops"] == {"accumulate": 16, "multiplier": 8, "control": 2}
    assert s["multiplier_pj"] > 0 and s["accumulate_pj"] > 0 and s["clock_pj"] > 0


def test_added_runs_make_the_array_rows(tmp_path):
    """--add enters approxmac synth's result folders: the array rows come from them alone."""
    import json
    from golden.params import ParameterError
    from tools.p1_study import main

    def folder(name, pe, energy, delay, vectors=128, **extra):
        d = tmp_path / name
        d.mkdir()
        params = {"rows": 4, "cols": 4, "pe": pe, "n": 16 if pe == "mitch_mac" else None,
                  "w": 6 if pe != "bf16_mac" else None, "signed": "c1" if pe == "mitch_mac"
                  else None, "variant": None, "acc_width": None, "pipeline": None,
                  "gate_zero": None, "cv": False, **extra}
        (d / "result.json").write_text(json.dumps({
            "unit": "systolic", "params": params, "module": name, "liberty": {"name": "osu018"},
            "stream": "cnn", "vectors": vectors, "recipe": "abc-buf", "delay_ns": delay,
            "clock_ns": delay * 1.1, "dynamic_pj_per_op": energy, "leakage_pj_per_op": 0.0,
            "energy_pj_per_op": energy, "cells": 1, "area_um2": 1.0}))
        return str(d)

    out = tmp_path / "report"
    args = ["--no-run", "--scopes", "array", "--array-vectors", "128", "--libraries", "osu018",
            "--trace", str(tmp_path / "none.npz"), "--overflow-pairs", "128",
            "--accuracy", str(tmp_path / "none.json"), "-o", str(out)]
    adds = ["--add", folder("bf", "bf16_mac", 200.0, 17.0),
            "--add", folder("mb", "mitch_bf16_mac", 150.0, 15.0),
            "--add", folder("mi", "mitch_mac", 80.0, 10.0)]
    assert main(args + adds) == 0
    rows = json.loads((out / "p1_study.json").read_text())["rows"]
    got = {(r["scope"], r["pe"]): r["ratio_own"] for r in rows}
    assert got == {("array", "mitch_bf16"): 0.75, ("array", "mitch_int16"): 0.4}
    with pytest.raises(ParameterError, match="the study uses cnn with 128"):
        main(args + ["--add", folder("short", "bf16_mac", 1.0, 1.0, vectors=50)])
