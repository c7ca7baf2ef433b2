"""The cost flow end to end on small units, the operand streams, the CLI and the report."""

import json
import re
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from approxmac.cli import main
from approxmac.report import Entry, run_report
from golden.mitchell import mitch_mul
from golden.params import ParameterError
from golden.posit import plam_mul, posit_mul, posit_to_float64
from synth import energy, gatesim, streams
from synth.flow import RECIPES, RESULT_FIELDS, read_slews, synth_unit
from synth import libraries


def load_library():
    return libraries.build(libraries.resolve("osu018")).library()
from synth.netlist import read_netlist


# ---------------------------------------------------------------- streams

def test_uniform_integer_stream_covers_the_range():
    for fmt, lo, hi in ((streams.Format("int", 8, True), -128, 127),
                        (streams.Format("int", 8, False), 0, 255)):
        a, b = streams.make_stream("uniform", fmt, 20000, seed=1)
        assert a.dtype == np.uint64 and int(a.max()) <= 255 and int(b.max()) <= 255
        values = a.astype(np.int64) - (a >= 128) * 256 if fmt.signed else a.astype(np.int64)
        assert values.min() == lo and values.max() == hi


def test_streams_are_seeded():
    fmt = streams.Format("int", 16, True)
    a1, b1 = streams.make_stream("cnn", fmt, 1000, seed=7)
    a2, b2 = streams.make_stream("cnn", fmt, 1000, seed=7)
    a3, _ = streams.make_stream("cnn", fmt, 1000, seed=8)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2) and not np.array_equal(a1, a3)


def test_cnn_stream_integer_and_bf16():
    a, b = streams.make_stream("cnn", streams.Format("int", 16, True), 20000)
    assert 0.45 < np.mean(a == 0) < 0.6                  # ReLU: about half zeros
    assert int(a.max()) < 1 << 15                        # activations are non-negative
    signed_b = b.astype(np.int64) - (b >= 1 << 15) * (1 << 16)
    assert (signed_b < 0).any() and (signed_b > 0).any()
    assert np.abs(signed_b).max() <= (1 << 15) - 1       # symmetric quantisation, clipped
    ab, bb = streams.make_stream("cnn", streams.Format("bf16", 16), 20000)
    act = ab.astype(np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)
    w = bb.astype(np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)
    assert 0.45 < np.mean(act == 0) < 0.55 and (act >= 0).all()
    assert 0.8 * streams.WEIGHT_SIGMA < np.std(w) < 1.2 * streams.WEIGHT_SIGMA
    # The same draws as the integer stream: zeros in the same places.
    assert np.mean((act == 0) != (a == 0)) < 0.01


def test_uniform_float_stream_is_normal_numbers():
    a, _ = streams.make_stream("uniform", streams.Format("bf16", 16), 20000)
    exp = (a >> np.uint64(7)) & np.uint64(0xFF)
    assert exp.min() == 64 and exp.max() == 190
    a32, _ = streams.make_stream("uniform", streams.Format("fp32", 32), 5000)
    assert np.isfinite(a32.astype(np.uint32).view(np.float32)).all()


def test_cnn_fp32_stream_is_product_and_running_sum():
    fmt = streams.Format("fp32", 32)
    a, b = streams.make_stream("cnn", fmt, 200)
    prod = a.astype(np.uint32).view(np.float32)
    partial = b.astype(np.uint32).view(np.float32)
    n = streams.DOT_LENGTH
    assert partial[0] == 0 and partial[n] == 0 and partial[1] == prod[0]
    assert partial[n + 2] == np.float32(prod[n] + prod[n + 1])


def test_trace_stream(tmp_path):
    path = tmp_path / "ops.npz"
    np.savez(path, a=np.array([-3, 5, 0, 7]), b=np.array([1, -128, 127, 2]))
    a, b = streams.make_stream(f"trace:{path}", streams.Format("int", 8, True), 3)
    assert list(a) == [0xFD, 5, 0] and list(b) == [1, 0x80, 0x7F]
    np.savez(path, a=np.array([1.5, -2.0], np.float32), b=np.array([0x3F80, 0], np.uint16))
    fa, _ = streams.make_stream(f"trace:{path}", streams.Format("bf16", 16), 2)
    assert list(fa) == [0x3FC0, 0xC000]
    with pytest.raises(ParameterError, match="vectors must be at most the trace length 2"):
        streams.make_stream(f"trace:{path}", streams.Format("bf16", 16), 3)
    with pytest.raises(ParameterError, match="must be integers"):
        streams.make_stream(f"trace:{path}", streams.Format("int", 8, True), 2)
    np.savez(path, a=np.array([200]), b=np.array([0]))
    with pytest.raises(ParameterError, match=r"-128\.\.127"):
        streams.make_stream(f"trace:{path}", streams.Format("int", 8, True), 1)
    with pytest.raises(ParameterError, match="no such file"):
        streams.make_stream(f"trace:{tmp_path / 'none.npz'}", streams.Format("int", 8, True), 1)
    with pytest.raises(ParameterError, match="stream must be one of"):
        streams.make_stream("gaussian", streams.Format("int", 8, True), 1)


def test_posit_streams():
    """Uniform: every pattern but NaR. cnn: the stream's draws (ReLU(N(0, 1)), N(0, σ), redrawn
    here) as fp32, each rounded to the nearest posit (checked against both neighbours) or
    saturated to +-minpos / +-maxpos."""
    rng = np.random.default_rng(2022)
    act = np.maximum(rng.standard_normal(20000), 0.0)
    weight = rng.standard_normal(20000) * streams.WEIGHT_SIGMA
    drawn = np.concatenate([act, weight]).astype(np.float32).astype(np.float64)
    for n, es in ((8, 0), (16, 1), (32, 2)):
        fmt = streams.operand_format("plam_mac", {"n": n, "es": es})
        assert fmt == streams.Format("posit", n, es=es) and fmt.label == f"posit<{n},{es}>"
        a, b = streams.make_stream("uniform", fmt, 20000, seed=3)
        both = np.concatenate([a, b])
        assert int(both.max()) < 1 << n and not (both == 1 << (n - 1)).any()
        if n == 8:
            assert len(np.unique(both)) == 255
        pa, pb = streams.make_stream("cnn", fmt, 20000)
        p = np.concatenate([pa, pb]).astype(np.int64)
        v = posit_to_float64(p, n=n, es=es)
        maxpos, mask = 2.0 ** ((n - 2) << es), (1 << n) - 1
        lo = posit_to_float64((p - 1) & mask, n=n, es=es)
        hi = posit_to_float64((p + 1) & mask, n=n, es=es)
        inside = (np.abs(drawn) > 1 / maxpos) & (np.abs(drawn) < maxpos)
        assert np.array_equal(drawn == 0, v == 0) and np.array_equal(np.sign(drawn), np.sign(v))
        assert (np.abs(drawn - v) <= np.abs(drawn - lo))[inside].all()
        assert (np.abs(drawn - v) <= np.abs(drawn - hi))[inside].all()
        assert (np.abs(v[~inside & (drawn != 0)]) == np.where(
            np.abs(drawn) >= maxpos, maxpos, 1 / maxpos)[~inside & (drawn != 0)]).all()
    path = Path(__import__("tempfile").mkdtemp()) / "t.npz"
    fmt = streams.Format("posit", 8, es=0)
    np.savez(path, a=np.array([1.0, -0.5, 0.0]), b=np.array([64, 255, 1], dtype=np.uint8))
    ta, tb = streams.make_stream(f"trace:{path}", fmt, 3)
    assert list(ta) == [64, 224, 0] and list(tb) == [64, 255, 1]
    np.savez(path, a=np.array([1, 2, 3]), b=np.array([256, 1, 2], dtype=np.uint16))
    with pytest.raises(ParameterError, match="unsigned posit<8,0> patterns"):
        streams.make_stream(f"trace:{path}", fmt, 3)


def test_operand_formats_of_the_catalogue():
    assert streams.operand_format("bf16_mac", {}).label == "bf16"
    assert streams.operand_format("fp32_add", {}).label == "fp32"
    assert streams.operand_format("int_mac", {"n": 8}).label == "int8"
    assert streams.operand_format("mitch_mul", {"n": 16, "signed": "none"}).label == "uint16"
    with pytest.raises(ParameterError, match="two scalar operands"):
        streams.operand_format("systolic", {"n": None, "rows": 4})


# ---------------------------------------------------------------- the flow, end to end

def _rows(path):
    return [line.strip() for line in path.read_text().splitlines()]


def test_synth_combinational_end_to_end(tmp_path):
    record = synth_unit("mitch_mul", {"n": 4, "w": 2}, stream="uniform", vectors=150,
                        out_root=tmp_path)
    out = tmp_path / "osu018" / "mitch_mul_n4_w2_trunc_none"
    assert sorted(record) == sorted(RESULT_FIELDS)
    assert json.loads((out / "result.json").read_text()) == record
    for name in ("netlist.v", "stat.txt", "timing.rpt", "power.rpt", "delays.sdf", "toggles.txt"):
        assert (out / name).stat().st_size > 0, name
    assert not list(tmp_path.glob(".*tmp*"))
    assert record["module"] == "mitch_mul_n4_w2_trunc_none" and record["vectors"] == 150
    assert record["params"] == {"n": 4, "w": 2, "variant": "trunc", "signed": "none",
                                "registered": False}
    assert 0 < record["delay_ns"] <= record["clock_ns"]
    assert record["energy_pj_per_op"] == pytest.approx(
        record["dynamic_pj_per_op"] + record["leakage_pj_per_op"], rel=1e-5)
    assert record["sta_vectorless_pj_per_op"] > 0 and record["liberty"] == {
        "name": "osu018", "corner": "typical",
        "sha256": libraries.resolve("osu018").sha256}
    # The gate-level netlist computes golden's products, with delays, for every vector.
    a = np.array([int(x, 16) for x in _rows(out / "in_a.hex")])
    b = np.array([int(x, 16) for x in _rows(out / "in_b.hex")])
    p = np.array([int(x, 16) for x in _rows(out / "outputs.txt")])
    assert len(p) == 151 and np.array_equal(p, mitch_mul(a, b, n=4, w=2))
    # The recorded energy is the pricing of the counted toggles.
    lib = load_library()
    nl = read_netlist(out / "netlist.json", lib)
    rises, falls, _ = gatesim.read_toggles(out / "toggles.txt")
    slews = read_slews(out / "slews.txt")
    rep = energy.price(nl, lib, rises, falls, ops=150, clock_ns=record["clock_ns"], slews=slews)
    assert record["energy_pj_per_op"] == float(f"{rep.total_pj:.6g}")
    area = re.search(r"Chip area for module .*: ([0-9.]+)", (out / "stat.txt").read_text())
    assert record["area_um2"] == float(area.group(1))
    assert record["cells"] == len(nl.cells) == sum(nl.cell_counts().values())


def test_synth_sequential_end_to_end(tmp_path):
    record = synth_unit("mitch_mul", {"n": 4, "w": 3, "signed": "c1", "registered": True},
                        stream="cnn", vectors=100, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    assert record["module"] == "mitch_mul_n4_w3_trunc_c1_reg"
    timing = (out / "timing.rpt").read_text()
    assert "=== input to register" in timing and "=== register to output" in timing
    assert "DFFPOSX1" in (out / "stat.txt").read_text()
    rows = _rows(out / "outputs.txt")                # sampled at the end of every step
    a = np.array([int(x, 16) for x in _rows(out / "in_a.hex")])
    b = np.array([int(x, 16) for x in _rows(out / "in_b.hex")])
    assert list(np.array([int(x, 16) for x in _rows(out / "in_rst.hex")])) == [1, 1] + [0] * 101
    signed = lambda x: np.where(x >= 8, x - 16, x)   # noqa: E731
    expected = mitch_mul(signed(a), signed(b), n=4, w=3, signed="c1") & 0xFF
    got = np.array([int(x, 16) for x in rows[1:]])   # row 0 precedes the first clock edge
    # Row k + 1 holds the product of step k's operands (one cycle of latency); reset gives 0.
    assert list(got[:2]) == [0, 0]
    assert np.array_equal(got[2:], expected[2:-1])
    # The clock net toggles twice per measured cycle.
    rises, falls, _ = gatesim.read_toggles(out / "toggles.txt")
    assert (rises["clk"], falls["clk"]) == (100, 100)


def test_synth_rejects_a_clock_shorter_than_the_critical_path(tmp_path):
    with pytest.raises(ParameterError, match="clock_ns must be at least the critical path"):
        synth_unit("mitch_mul", {"n": 4, "w": 2}, vectors=10, clock_ns=0.05,
                   out_root=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [
    ["mitch_mul", "--n", "4", "--w", "9"],
    ["mitch_mul", "--n", "4", "--w", "2", "--stream", "gaussian"],
    ["mitch_mul", "--n", "4", "--w", "2", "--vectors", "0"],
    ["mitch_mul", "--n", "4", "--w", "2", "--clock-ns", "-1"],
])
def test_cli_synth_bad_parameters_exit_2_and_write_nothing(tmp_path, capsys, argv):
    assert main(["synth", *argv, "-o", str(tmp_path / "out")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_synth_writes_result(tmp_path, capsys):
    assert main(["synth", "mitch_mul", "--n", "4", "--w", "2", "--vectors", "20",
                 "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["module"] == "mitch_mul_n4_w2_trunc_none"
    assert "gate-level simulation" in captured.err           # progress on stderr
    assert (tmp_path / "osu018" / "mitch_mul_n4_w2_trunc_none" / "result.json").exists()


# ---------------------------------------------------------------- the report

def test_report_is_reproducible_and_names_pairings(tmp_path, monkeypatch):
    entries = [Entry("int_mul", {"n": 4, "signed": "none"}),
               Entry("mitch_mul", {"n": 4, "w": 2, "variant": "trunc", "signed": "none"},
                     exact="int_mul n=4 signed=none"),
               Entry("no_such_unit", {"n": 4})]
    texts = []
    for run in ("one", "two"):    # one: a dask LocalCluster; two: serial, every result cached
        if run == "two":          # a cache hit runs no tool: no Verilog, Yosys, OpenSTA, Icarus
            from synth import flow

            def no_tool(*args, **kwargs):
                raise AssertionError("a cached report ran a tool")
            for module, name in ((flow, "to_verilog"), (flow, "run_yosys"), (flow, "run_sta"),
                                 (gatesim, "simulate")):
                monkeypatch.setattr(module, name, no_tool)
        status = run_report(out_dir=tmp_path / run, vectors=40, jobs=2, streams=("cnn",),
                            entries=entries, cache=run == "two",
                            scheduler=None if run == "one" else "serial")
        assert status == 0
        texts.append((tmp_path / run / "costs.json").read_bytes())
    assert texts[0] == texts[1]
    costs = json.loads(texts[0])
    assert [r["module"] for r in costs] == ["int_mul_n4_none", "mitch_mul_n4_w2_trunc_none"]
    assert all(set(r) == set(RESULT_FIELDS) | {"label", "recipes"} for r in costs)
    for r in costs:     # the headline rule: the lowest-energy recipe, every recipe listed
        assert sorted(x["recipe"] for x in r["recipes"]) == sorted(RECIPES)
        best = min(r["recipes"], key=lambda x: x["energy_pj_per_op"])
        assert r["recipe"] == best["recipe"] and r["energy_pj_per_op"] == best["energy_pj_per_op"]
    report = (tmp_path / "one" / "REPORT.md").read_text()
    assert "## Synthesis noise (mapping recipes)" in report and "lowest-energy netlist" in report
    # The pairing: common clock = the slower unit's fastest netlist; pairings.json says which.
    iso = re.search(r"^\| mitch_mul n=4 w=2 signed=none vs int_mul n=4 signed=none \| cnn \| "
                    r"(\S+) / (\S+) \| ([0-9.]+) \|", report, re.M)
    # the common clock: the slower of the two lowest-energy netlists' critical paths
    period = max(min(r["recipes"], key=lambda x: x["energy_pj_per_op"])["delay_ns"] for r in costs)
    assert iso and float(iso.group(3)) == pytest.approx(period, abs=1e-3)
    pairs = json.loads((tmp_path / "one" / "pairings.json").read_text())
    assert [(p["unit"], p["reference"], p["period_ns"]) for p in pairs] == [
        ("mitch_mul n=4 w=2 signed=none", "int_mul n=4 signed=none", period)]
    assert (iso.group(1), iso.group(2)) == (pairs[0]["unit_recipe"], pairs[0]["reference_recipe"])
    assert "mitch_mul n=4 w=2 signed=none vs int_mul n=4 signed=none: energy" in report
    assert "no_such_unit n=4 (cnn): skipped — unit no_such_unit is not in hdl/catalogue.py" \
        in report
    for png in ("energy_area_vs_w.png", "energy_by_unit.png"):
        assert (tmp_path / "one" / png).read_bytes()[:4] == b"\x89PNG"


def test_synth_systolic_array_prices_per_mac_and_computes_golden(tmp_path):
    from golden.systolic import matmul
    from synth.flow import array_settle
    record = synth_unit("systolic", {"rows": 2, "cols": 2, "pe": "int_mac", "n": 4}, stream="uniform",
                        vectors=64, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    assert record["module"] == "systolic_r2_c2_int_mac_n4_acc16"
    details = json.loads((out / "details.json").read_text())
    assert details["ops_per_period"] == 4 and details["measured_ops"] == 4 * 64
    # The window starts after the fill and a tile -1's drain (latency 4 + R 2 = 6 steps):
    # 64 measured steps are one whole tile period, so c_valid rises and falls exactly once.
    assert array_settle(record["params"]) == 6
    assert len(_rows(out / "in_valid.hex")) == 2 + 6 + 64
    toggles = dict((n, (int(r), int(f))) for n, r, f in
                   (line.split() for line in _rows(out / "toggles.txt")[2:]))
    assert toggles["c_valid"] == (1, 1)
    # Leakage per MAC is the array's leakage over one clock period shared by its 4 MACs.
    assert record["leakage_pj_per_op"] == pytest.approx(
        details["leakage_nw"] * record["clock_ns"] * 1e-6 / 4, rel=1e-4)
    hexes = {p: np.array([int(x, 16) for x in _rows(out / f"in_{p}.hex")])
             for p in ("a", "b", "valid", "last", "rst")}
    lead = int(np.argmax(hexes["valid"]))
    assert lead == 2 and hexes["last"][lead + 63] == 1 and hexes["last"][lead:lead + 63].sum() == 0
    signed = lambda x: np.where(x >= 8, x - 16, x)   # noqa: E731
    A = np.stack([signed((hexes["a"][lead:lead + 64] >> (4 * i)) & 15) for i in range(2)])
    B = np.stack([signed((hexes["b"][lead:lead + 64] >> (4 * j)) & 15) for j in range(2)], axis=1)
    want = matmul(A, B, pe="int_mac", n=4) & 0xFFFF
    nl = read_netlist(out / "netlist.json", load_library())
    outputs = gatesim.read_outputs(out / "outputs.txt", nl)
    shown = np.flatnonzero(outputs["c_valid"])
    assert len(shown) == 2 and shown[1] == shown[0] + 1    # exactly one tile: rows 1 then 0
    rows = [int(outputs["c"][t]) for t in shown]
    assert [[(c >> (16 * k)) & 0xFFFF for k in range(2)] for c in rows] == [list(want[1]), list(want[0])]


def test_accuracy_section_is_attached_once(tmp_path):
    from approxmac.report import attach_accuracy
    assert not attach_accuracy(tmp_path)                      # nothing to attach yet
    (tmp_path / "REPORT.md").write_text("# cost report\n")
    (tmp_path / "accuracy.md").write_text("| mult | top-1 |\n|---|---|\n| fp32 | 98.3 |\n")
    assert attach_accuracy(tmp_path) and attach_accuracy(tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert text.startswith("# cost report") and text.count("| fp32 | 98.3 |") == 1


def test_iso_clock_energy_is_the_same_events_with_longer_leakage(tmp_path):
    """The iso-clock figures rest on this: a longer period leaves the counted toggles (so the
    dynamic energy) unchanged and only stretches the leakage."""
    from approxmac.report import iso_energy
    fast = synth_unit("mitch_mul", {"n": 4, "w": 3, "registered": True}, stream="cnn", vectors=80,
                      clock_ns=5.0, out_root=tmp_path / "fast")
    slow = synth_unit("mitch_mul", {"n": 4, "w": 3, "registered": True}, stream="cnn", vectors=80,
                      clock_ns=13.0, out_root=tmp_path / "slow")
    toggles = [gatesim.read_toggles(tmp_path / run / "osu018" / fast["module"] / "toggles.txt")[:2]
               for run in ("fast", "slow")]
    assert toggles[0] == toggles[1]
    assert slow["dynamic_pj_per_op"] == fast["dynamic_pj_per_op"]
    assert iso_energy(fast, 13.0) == pytest.approx(slow["energy_pj_per_op"], rel=1e-5)
    with pytest.raises(ValueError, match="below its critical path"):
        iso_energy(fast, fast["delay_ns"] / 2)


def test_report_compares_plam_with_the_exact_posit_unit_and_the_published_figures(tmp_path):
    exact = Entry("posit_mul", {"n": 5, "es": 1})
    entries = [exact, Entry("plam_mul", {"n": 5, "es": 1}, exact=exact.label)]
    assert run_report(out_dir=tmp_path, vectors=40, jobs=1, streams=("uniform",),
                      entries=entries, recipes=("abc",), scheduler="serial") == 0
    costs = {r["unit"]: r for r in json.loads((tmp_path / "costs.json").read_text())}
    report = (tmp_path / "REPORT.md").read_text()
    section = report[report.index("## PLAM against the exact posit units"):]
    row = re.search(r"^\| ⟨5,1⟩ \| plam_mul vs posit_mul \| uniform \| .*$", section, re.M)
    cells = [c.strip() for c in row.group(0).strip("|").split("|")]
    plam, ref = costs["plam_mul"], costs["posit_mul"]
    assert cells[4] == f"{100 * (1 - plam['area_um2'] / ref['area_um2']):.1f} %"
    assert cells[6] == f"{100 * (1 - plam['delay_ns'] / ref['delay_ns']):.1f} %"
    assert cells[8] == f"{100 * (1 - plam['energy_pj_per_op'] / ref['energy_pj_per_op']):.1f} %"
    assert "| 72.86 % | 81.79 % | 17.01 % |" in section and "| 70.4 % | 80.3 % | 7.2 % |" in section
    # The gate-level netlists computed golden's products.
    for unit, golden in (("posit_mul", posit_mul), ("plam_mul", plam_mul)):
        out = tmp_path / "synth" / "uniform" / "osu018" / costs[unit]["module"]
        a, b, p = (np.array([int(x, 16) for x in _rows(out / name)])
                   for name in ("in_a.hex", "in_b.hex", "outputs.txt"))
        assert len(p) == 41 and np.array_equal(p, golden(a, b, n=5, es=1))


def test_wide_array_buses_are_split_into_64_bit_ports():
    from hdl.systolic import SystolicArray
    from hdl.export import to_verilog
    from synth.flow import operand_chunks, read_ports, split_array_ports
    assert operand_chunks(8, 16) == [(0, 4), (4, 8)]
    assert operand_chunks(9, 8) == [(0, 8), (8, 9)]
    assert operand_chunks(3, 16) == [(0, 3)]
    narrow = SystolicArray(rows=2, cols=2, pe="int_mac", n=4)
    assert split_array_ports(to_verilog(narrow), narrow) == to_verilog(narrow)
    wide = SystolicArray(rows=3, cols=1, pe="int_mac", n=32)    # a: 96 bits, b: 32 bits
    top, ports = read_ports(split_array_ports(to_verilog(wide), wide))
    assert top == wide.name
    assert {p: w for p, (_, w, _) in ports.items()} == {
        "clk": 1, "rst": 1, "valid": 1, "last": 1, "a_0": 64, "a_1": 32, "b": 32,
        "c": wide.acc_width, "c_valid": 1}


@pytest.mark.slow
def test_synth_wide_array_computes_golden(tmp_path):
    """A 9 x 1 int8 array (a 72-bit operand bus, driven as a_0 and a_1) computes golden."""
    from golden.systolic import matmul
    record = synth_unit("systolic", {"rows": 9, "cols": 1, "pe": "int_mac", "n": 8},
                        stream="uniform", vectors=70, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    hexes = {p: np.array([int(x, 16) for x in _rows(out / f"in_{p}.hex")])
             for p in ("a_0", "a_1", "b", "valid")}
    lead = int(np.argmax(hexes["valid"]))
    signed = lambda x: np.where(x >= 128, x - 256, x)   # noqa: E731
    a = [(hexes["a_0"] >> (8 * i)) & 255 for i in range(8)] + [hexes["a_1"] & 255]
    A = np.stack([signed(x[lead:lead + 64]) for x in a])
    B = signed(hexes["b"][lead:lead + 64] & 255)[:, None]
    want = matmul(A, B, pe="int_mac", n=8) & ((1 << 24) - 1)
    nl = read_netlist(out / "netlist.json", load_library())
    outputs = gatesim.read_outputs(out / "outputs.txt", nl)
    shown = np.flatnonzero(outputs["c_valid"])
    assert len(shown) == 9
    assert [int(outputs["c"][t]) for t in shown] == [int(want[r, 0]) for r in range(8, -1, -1)]
