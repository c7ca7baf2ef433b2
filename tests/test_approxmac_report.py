"""The report's pairing rule (approxmac.report.pairing) on synthetic per-recipe figures."""

import pytest

from approxmac.report import HEADLINE_RULE, iso_energy, pairing


def netlist(recipe, delay, dynamic, leakage, area=100.0):
    """A recipe's figures as costs.json lists them; clock = the flow's default (delay + 10 %)."""
    clock = round(delay * 1.1, 3)
    return {"recipe": recipe, "cells": 10, "area_um2": area, "delay_ns": delay, "clock_ns": clock,
            "dynamic_pj_per_op": dynamic, "leakage_pj_per_op": leakage,
            "energy_pj_per_op": dynamic + leakage}


def test_common_clock_is_the_slower_lowest_energy_netlist_and_slower_netlists_are_skipped():
    # Lowest energy at own clocks: the unit's abc-area (4.1 pJ, 12 ns), the reference's abc
    # (8.5 pJ, 11 ns) -> T = 12 ns. The reference's abc-slow netlist (13 ns) misses T: skipped,
    # although it would be the cheapest at a longer period.
    unit = {"recipes": [netlist("abc", 9.0, 5.0, 0.2, area=90.0),
                        netlist("abc-area", 12.0, 4.0, 0.1, area=70.0),
                        netlist("abc-delay", 8.0, 6.0, 0.3, area=120.0)]}
    ref = {"recipes": [netlist("abc", 11.0, 8.0, 0.5), netlist("abc-delay", 10.0, 9.0, 0.6),
                       netlist("abc-slow", 13.0, 8.0, 0.55)]}
    p = pairing(unit, ref, ("abc", "abc-area", "abc-delay", "abc-slow"))
    assert p["period_ns"] == 12.0
    assert (p["unit"]["recipe"], p["ref"]["recipe"]) == ("abc-area", "abc")
    e_unit, e_ref = 4.0 + 0.1 * 12.0 / 13.2, 8.0 + 0.5 * 12.0 / 12.1
    assert p["iso_pj"] == pytest.approx((e_unit, e_ref))
    assert p["iso_saving"] == pytest.approx(100 * (1 - e_unit / e_ref))
    # Own clocks: the same two netlists, each at its critical path + 10 %.
    assert p["own_pj"] == (4.1, 8.5)
    assert p["own_saving"] == pytest.approx(100 * (1 - 4.1 / 8.5))
    assert p["area_saving"] == pytest.approx(30.0)
    # The faster unit is not pushed onto its fastest (costliest) netlist: abc-delay is unused.
    assert "abc-delay" not in (p["unit"]["recipe"], p["ref"]["recipe"])
    # The rule as the report states it.
    assert "meets the pairing's common clock" in HEADLINE_RULE


def test_choice_is_by_energy_at_the_common_clock_not_at_the_own_clock():
    # Both of the unit's netlists meet T = 20 ns; at their own clocks the fast one is cheaper
    # (2.0 + 0.5 = 2.5 < 2.2 + 0.4 = 2.6), at 20 ns its leakage grows more (0.5 * 20 / 2.2).
    unit = {"recipes": [netlist("abc-delay", 2.0, 2.0, 0.5), netlist("abc", 4.0, 2.2, 0.4)]}
    ref = {"recipes": [netlist("abc", 20.0, 30.0, 1.0)]}
    p = pairing(unit, ref)
    assert p["period_ns"] == 20.0 and p["unit"]["recipe"] == "abc"
    assert p["iso_pj"][0] == pytest.approx(2.2 + 0.4 * 20.0 / 4.4)
    # Symmetric: the slower unit may be either side.
    q = pairing(ref, unit)
    assert q["period_ns"] == 20.0 and q["ref"]["recipe"] == "abc"


def test_ties_go_to_the_first_listed_recipe_and_short_periods_are_refused():
    a, b = netlist("abc", 5.0, 1.0, 0.1), netlist("abc-area", 5.0, 1.0, 0.1)
    ref = {"recipes": [netlist("abc", 5.0, 3.0, 0.1)]}
    assert pairing({"recipes": [b, a]}, ref, ("abc", "abc-area"))["unit"]["recipe"] == "abc"
    assert pairing({"recipes": [b, a]}, ref, ("abc-area", "abc"))["unit"]["recipe"] == "abc-area"
    with pytest.raises(ValueError, match="below its critical path"):
        iso_energy(a, 4.0)


@pytest.mark.slow   # gate-level MACs on two libraries (minutes); test_synth_flow keeps a fast report
def test_report_pairs_macs_on_every_library(tmp_path):
    """Two libraries: each REPORT.md part has the MAC pairings (iso-clock and own-clock) and the
    80 % claim paragraph; lone units marked first_library_only stay on the first library."""
    import json

    from approxmac.report import Entry, run_report
    entries = [Entry("int_mac", {"n": 4}),
               Entry("mitch_mac", {"n": 4, "w": 2, "variant": "trunc", "signed": "c1"},
                     exact="int_mac n=4"),
               Entry("int_mul", {"n": 4, "signed": "none"}, first_library_only=True)]
    assert run_report(out_dir=tmp_path, vectors=30, streams=("cnn",), entries=entries,
                      liberties=("osu018", "sky130hd"), recipes=["abc"], scheduler="serial") == 0
    pairs = json.loads((tmp_path / "pairings.json").read_text())
    assert [(p["liberty"], p["unit"], p["reference"]) for p in pairs] == [
        (lib, "mitch_mac n=4 w=2 signed=c1", "int_mac n=4") for lib in ("osu018", "sky130hd")]
    costs = json.loads((tmp_path / "costs.json").read_text())
    assert [(r["liberty"]["name"], r["label"]) for r in costs] == [
        ("osu018", "int_mac n=4"), ("osu018", "mitch_mac n=4 w=2 signed=c1"),
        ("osu018", "int_mul n=4 signed=none"),
        ("sky130hd", "int_mac n=4"), ("sky130hd", "mitch_mac n=4 w=2 signed=c1")]
    report = (tmp_path / "REPORT.md").read_text()
    parts = report.split("# approxmac cost report: library ")[1:]
    assert [p.split("`")[1] for p in parts] == ["osu018", "sky130hd"]
    for part, p in zip(parts, pairs):
        assert part.count("## The 80 % claim") == 1
        assert "## Pairings: iso-clock and own-clock" in part
        assert (f"| mitch_mac n=4 w=2 signed=c1 vs int_mac n=4 | cnn | abc / abc | "
                f"{p['period_ns']:.3f} |") in part


def test_monotonicity_section_lists_each_fall_with_the_recipe_spread():
    from approxmac.report import Entry, monotone_section

    def result(w, area, energy):
        recs = [netlist(r, 5.0, e - 0.1, 0.1, area=a) for r, a, e in
                zip(("abc", "abc-area"), area, energy)]
        best = min(recs, key=lambda x: x["energy_pj_per_op"])
        return ("ok", Entry("mitch_bf16_mac", {"w": w}), "cnn", dict(best, recipes=recs), {})

    # w=6 maps larger than w=8 on both recipes (outside the spread); its energy falls from w=6
    # to w=8 only on the own picks, inside the spread.
    results = [result(4, (50, 60), (1.0, 1.2)), result(6, (90, 95), (2.0, 2.6)),
               result(8, (80, 85), (1.9, 2.5))]
    lines = "\n".join(monotone_section(results, ("cnn",)))
    assert "Checked: 4 steps" in lines and "2 steps fall" in lines
    assert ("| mitch_bf16_mac | cnn | area µm² | w=6 → w=8 | 90 (abc) → 80 (abc) | 90..95 | "
            "80..85 | outside the recipe spread; the best netlists fall too (min 90 > 80) |") in lines
    assert ("| energy pJ/op | w=6 → w=8 | 2.000 (abc) → 1.900 (abc) | 2.000..2.600 | "
            "1.900..2.500 | inside") in lines
    assert "w=4 → w=6" not in lines
    assert "Every step is monotone" in "\n".join(monotone_section(results[:2], ("cnn",)))
