"""The report's pairing rule (approxmac.report.pairing) on synthetic per-recipe figures."""

import pytest

from approxmac.report import HEADLINE_RULE, iso_energy, pairing


def netlist(recipe, delay, dynamic, leakage, area=100.0):
    """A recipe's figures as costs.json lists them; clock = the flow's default (delay + 10 %)."""
    clock = round(delay * 1.1, 3)
    return {"recipe": recipe, "cells": 10, "area_um2": area, "delay_ns": delay, "clock_ns": clock,
            "dynamic_pj_per_op": dynamic, "leakage_pj_per_op": leakage,
            "energy_pj_per_op": dynamic + leakage}


def test_lowest_energy_netlist_that_misses_the_common_clock_is_skipped():
    # The unit's lowest-energy netlist (abc-area, 4.1 pJ) is slower (12 ns) than the common clock
    # the reference sets: its fastest netlist needs 10 ns, the unit's fastest 8 ns -> T = 10 ns.
    unit = {"recipes": [netlist("abc", 9.0, 5.0, 0.2, area=90.0),
                        netlist("abc-area", 12.0, 4.0, 0.1, area=70.0),
                        netlist("abc-delay", 8.0, 6.0, 0.3, area=120.0)]}
    ref = {"recipes": [netlist("abc", 11.0, 8.0, 0.5), netlist("abc-delay", 10.0, 9.0, 0.6)]}
    p = pairing(unit, ref, ("abc", "abc-area", "abc-delay"))
    assert p["period_ns"] == 10.0
    # The slower unit can only run its fastest netlist at T; the unit takes its cheapest at T
    # among the two that meet it (abc: 5.0 + 0.2 * 10 / 9.9 < abc-delay: 6.0 + ...).
    assert (p["unit"]["recipe"], p["ref"]["recipe"]) == ("abc", "abc-delay")
    e_unit, e_ref = 5.0 + 0.2 * 10.0 / 9.9, 9.0 + 0.6 * 10.0 / 11.0
    assert p["iso_pj"] == pytest.approx((e_unit, e_ref))
    assert p["iso_saving"] == pytest.approx(100 * (1 - e_unit / e_ref))
    # Own clocks: the same two netlists, each at its critical path + 10 %.
    assert p["own_pj"] == (5.2, 9.6)
    assert p["own_saving"] == pytest.approx(100 * (1 - 5.2 / 9.6))
    assert p["area_saving"] == pytest.approx(10.0)
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
