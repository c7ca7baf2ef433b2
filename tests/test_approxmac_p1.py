"""approxmac/p1.py: the P1 study's plan, ratio table, accumulator bound and report hook."""
import numpy as np
import pytest

from approxmac import p1
from golden.params import ParameterError


def record(delay, clock, dynamic, leakage, recipe="abc", area=100.0):
    return {"delay_ns": delay, "clock_ns": clock, "dynamic_pj_per_op": dynamic,
            "leakage_pj_per_op": leakage, "energy_pj_per_op": dynamic + leakage,
            "recipe": recipe, "cells": 1, "area_um2": area, "module": "m"}


def test_plan_covers_the_combinations_once():
    runs = p1.plan()
    keys = [r.key for r in runs]
    assert len(keys) == len(set(keys))
    lone = [r for r in runs if r.scope == "lone"]
    # per library and config: bf16, mitch_bf16, int16 and the int16 Mitch MAC at 3 widths
    assert len(lone) == 2 * 4 * 6
    assert {r.acc_width for r in lone if r.pe == "mitch_int16"} == {40, 32, 24}
    assert {r.library for r in runs if r.scope in ("array", "registered")} == {"osu018"}
    assert all(p1.parse_key(r.key) == r for r in runs)
    unit, params = p1.Run("array", "osu018", "mitch_int16", 1, True, 24).unit_params()
    assert unit == "systolic" and params["pe"] == "mitch_mac" and params["acc_width"] == 24
    assert params["pipeline"] == 1 and params["gate_zero"] is True
    assert p1.Run("lone", "sky130hd", "bf16", 0, True).unit_params() == \
        ("bf16_mac", {"pipeline": 0, "gate_zero": True})
    with pytest.raises(ParameterError, match="scope must be one of"):
        p1.plan(scopes=("lone", "wafer"))
    with pytest.raises(ParameterError, match="not a P1 run key"):
        p1.parse_key("lone/osu018")


def test_table_pairs_like_configs_at_the_common_clock():
    ref = record(delay=10.0, clock=11.0, dynamic=4.0, leakage=0.11)
    mine = record(delay=5.0, clock=5.5, dynamic=1.0, leakage=0.05)
    other = record(delay=12.0, clock=13.5, dynamic=1.5, leakage=0.27)
    measured = {"lone/osu018/bf16/p0/zg0": ref, "lone/osu018/mitch_bf16/p0/zg0": mine,
                "lone/osu018/mitch_int16/p0/zg0/acc24": other,
                "lone/osu018/mitch_bf16/p1/zg0": mine}       # no pipelined bf16: not paired
    rows = p1.table(measured)
    assert [(r["pe"], r["acc_width"]) for r in rows] == [("mitch_bf16", None), ("mitch_int16", 24)]
    a, b = rows
    # common clock = the slower critical path; leakage per MAC scales with the period
    assert a["period_ns"] == 10.0
    assert a["ratio_common"] == pytest.approx((1.0 + 0.05 * 10 / 5.5) / (4.0 + 0.11 * 10 / 11),
                                              abs=1e-4)
    assert a["ratio_own"] == pytest.approx(1.05 / 4.11, abs=1e-4)
    assert b["period_ns"] == 12.0
    assert b["ratio_common"] == pytest.approx((1.5 + 0.27 * 12 / 13.5) / (4.0 + 0.11 * 12 / 11),
                                              abs=1e-4)
    best, clock = p1.closest(rows)
    assert best is a and clock == "own"            # 0.255 is nearer 0.20 than the others
    assert p1.effect(rows, "pipeline", 0, 1) == []
    measured["lone/osu018/bf16/p1/zg0"] = ref
    rows = p1.table(measured)
    assert p1.effect(rows, "pipeline", 0, 1) == [0.0]            # same records: no change
    assert p1.effect(rows, "pe", "mitch_bf16", "mitch_int16") == []   # acc widths differ
    cross = p1.cross_config(measured)
    assert {c["pe"] for c in cross} == {"mitch_bf16", "mitch_int16"}


def test_merge_recipes_lets_pairing_choose_per_common_clock():
    fast = record(delay=6.0, clock=6.5, dynamic=3.0, leakage=0.1, recipe="abc-delay")
    slow = record(delay=9.0, clock=10.0, dynamic=2.0, leakage=0.1, recipe="abc")
    ref = record(delay=10.0, clock=11.0, dynamic=4.0, leakage=0.1, recipe="abc")
    merged = p1.merge_recipes({"lone/osu018/mitch_bf16/p0/zg0@abc-delay": fast,
                               "lone/osu018/mitch_bf16/p0/zg0@abc": slow,
                               "lone/osu018/bf16/p0/zg0@abc": ref})
    mine = merged["lone/osu018/mitch_bf16/p0/zg0"]
    assert mine["recipe"] == "abc" and len(mine["recipes"]) == 2      # the lowest energy
    (row,) = p1.table(merged)
    assert row["recipes"] == ["abc", "abc"] and row["period_ns"] == 10.0
    with pytest.raises(ParameterError, match="is of recipe"):
        p1.merge_recipes({"lone/osu018/bf16/p0/zg0@abc-area": ref})


def test_overflow_against_python_integers():
    # two dot products of int16 products near 2^30: 4 x 32767^2 needs 33 signed bits
    a = np.array([32767, 32767, 32767, 32767, -5, 7])
    b = np.array([32767, 32767, 32767, 32767, 3, 2])
    starts = np.array([1, 0, 0, 0, 1, 0], bool)
    o = p1.overflow(a, b, starts, unit="int_mac", n=16, widths=(40, 33, 32, 24))
    sums = [sum(int(x) * int(y) for x, y in zip(a[:k + 1], b[:k + 1])) for k in range(4)]
    assert o["max_abs_partial"] == max(sums) == 4 * 32767 ** 2
    assert o["max_abs_final"] == 4 * 32767 ** 2 and o["dot_products"] == 2
    assert o["bits_partial"] == 33
    assert not o["widths"]["40"]["partial_overflow"] and o["widths"]["40"]["wrong_results"] == 0
    assert not o["widths"]["33"]["partial_overflow"]
    assert o["widths"]["32"] == {"partial_overflow": True, "wrong_results": 1}
    # at 24 bits the small second dot product (-15 + 14 = -1) still comes out right
    assert o["widths"]["24"] == {"partial_overflow": True, "wrong_results": 1}
    with pytest.raises(ParameterError, match="must start a dot product"):
        p1.overflow(a, b, ~starts, unit="int_mac", n=16)


def test_trace_starts_split_runs_by_the_node_length():
    layers = np.array(["c1"] * 6 + ["c2"] * 2 + ["c1"] * 3 + ["c2"])
    starts, n = p1.trace_starts(layers, {"c1": 3, "c2": 2})
    assert n == 11                                  # the last c2 dot product is cut short
    assert np.flatnonzero(starts).tolist() == [0, 3, 6, 8]
    with pytest.raises(ParameterError, match="no dot-product length"):
        p1.trace_starts(layers, {"c1": 3})
    with pytest.raises(ParameterError, match="is not 4 pairs long"):
        p1.trace_starts(layers, {"c1": 4, "c2": 2})


def test_render_and_attach_replace_the_section(tmp_path):
    measured = {"lone/osu018/bf16/p0/zg0": record(10.0, 11.0, 4.0, 0.1),
                "lone/osu018/mitch_bf16/p0/zg0": record(9.0, 10.0, 2.0, 0.1)}
    data = {"meta": {"stream": "cnn", "vectors": 500, "array_vectors": 200, "recipes": ["abc"],
                     "commands": ["tools/p1_study.py"]}, "rows": p1.table(measured)}
    text = "\n".join(p1.render_markdown(data))
    assert "| osu018 | lone | p0 | mitch_bf16_mac w=6 | abc / abc | 10.000 |" in text
    assert p1.attach_p1(tmp_path) is False          # nothing to attach to yet
    (tmp_path / "REPORT.md").write_text("# report\n")
    (tmp_path / "p1_study.md").write_text(text)
    assert p1.attach_p1(tmp_path) and p1.attach_p1(tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    assert report.count(p1.P1_BEGIN) == 1 and report.startswith("# report\n")
    assert "mitch_bf16_mac w=6" in report


def test_run_of_record_names_the_study_run():
    def rec(unit, params, lib="osu018"):
        return {"unit": unit, "params": params, "module": "m", "liberty": {"name": lib}}
    # approxmac synth's array record: unset PE parameters are None (the unit's defaults)
    array = {"rows": 4, "cols": 4, "pe": "mitch_mac", "n": 16, "w": 6, "variant": None,
             "signed": "c1", "acc_width": None, "pipeline": 1, "gate_zero": None, "cv": False}
    assert p1.run_of_record(rec("systolic", array)) == p1.Run("array", "osu018", "mitch_int16",
                                                              1, False, 40)
    assert p1.run_of_record(rec("systolic", dict(array, pe="bf16_mac", n=None, w=None,
                                                 signed=None, pipeline=0, gate_zero=True))) == \
        p1.Run("array", "osu018", "bf16", 0, True, None)
    assert p1.run_of_record(rec("mitch_bf16_mac", {"w": 6, "variant": "trunc", "pipeline": 0,
                                                   "gate_zero": False}, "sky130hd")) == \
        p1.Run("lone", "sky130hd", "mitch_bf16")
    assert p1.run_of_record(rec("mitch_mac", {"n": 16, "w": 6, "signed": "c1", "acc_width": 24})) \
        == p1.Run("lone", "osu018", "mitch_int16", 0, False, 24)
    for unit, params, match in (
            ("mitch_mac", {"n": 16, "w": 6, "signed": None}, "not one of the study's PEs"),
            ("mitch_bf16_mac", {"w": 5}, "not one of the study's PEs"),
            ("int_mac", {"n": 16, "acc_width": 36}, "not one of the study's PEs"),
            ("systolic", dict(array, rows=8, cols=8), "4 × 4 without cv"),
            ("systolic", dict(array, cv=True), "4 × 4 without cv")):
        with pytest.raises(ParameterError, match=match):
            p1.run_of_record(rec(unit, params))
