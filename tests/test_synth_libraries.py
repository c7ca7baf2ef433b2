"""Libraries by name or path, the normalised build copy, and refusals of unusable libraries."""

import hashlib
import json
import re
import subprocess

import numpy as np
import pytest

from approxmac.cli import main
from golden.mitchell import mitch_mul
from golden.params import ParameterError
from synth import libraries

SKY = libraries.BUILTIN["sky130hd"].path


def test_resolve_names_paths_and_refusals(tmp_path):
    spec = libraries.resolve("sky130hd")
    assert spec.path == SKY and spec.sha256 == hashlib.sha256(SKY.read_bytes()).hexdigest()
    assert libraries.resolve(None).name == "osu018"
    lib = tmp_path / "mycells.lib"
    lib.write_text("library (mycells) { }\n")
    assert libraries.resolve(str(lib)).name == "mycells"
    with pytest.raises(ParameterError, match="liberty must be one of osu018, sky130hd"):
        libraries.resolve("tsmc7")
    with pytest.raises(ParameterError, match="neither"):
        libraries.resolve(str(tmp_path / "none.lib"))


def test_shipped_sky130_is_unmodified_and_provenance_names_its_hash():
    provenance = (SKY.parent / "PROVENANCE.md").read_text()
    for path in SKY.parent.iterdir():
        if path.name != "PROVENANCE.md":
            assert hashlib.sha256(path.read_bytes()).hexdigest() in provenance, path.name


def _inverter_lib(text):
    """The library text with only sky130's inv_1 left (fast to load in OpenSTA)."""
    kept, _ = libraries.select_cells(text, r"^(?!sky130_fd_sc_hd__inv_1$)")
    return kept


def _sta_internal_power(tmp_path, lib_text):
    (tmp_path / "cells.lib").write_text(lib_text)
    (tmp_path / "inv.v").write_text("module inv(a, y);\n  input a; output y;\n"
                                    "  sky130_fd_sc_hd__inv_1 u1 (.A(a), .Y(y));\nendmodule\n")
    (tmp_path / "p.tcl").write_text(
        "read_liberty cells.lib\nread_verilog inv.v\nlink_design inv\n"
        "create_clock -name clk -period 10\nset_input_delay 0 -clock clk [all_inputs]\n"
        "set_output_delay 0 -clock clk [all_outputs]\n"
        "set_power_activity -input_ports [get_ports a] -activity 1 -duty 0.5\n"
        "report_power -digits 8\n")
    out = subprocess.run(["sta", "-no_splash", "-exit", "p.tcl"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"^Total\s+(\S+)", out, re.M).group(1))


def test_operating_conditions_quirk_is_fixed_in_the_build_copy_only(tmp_path):
    raw = libraries.read_text(SKY)
    before = hashlib.sha256(SKY.read_bytes()).hexdigest()
    fixed = libraries.fix_operating_conditions(raw)
    # The default now follows the group it names; nothing else moved.
    group = re.search(r'operating_conditions \("tt_025C_1v80"\) \{.*?\}', fixed, re.S)
    default = re.search(r"default_operating_conditions", fixed)
    assert default.start() > group.end()
    assert sorted(fixed.splitlines()) == sorted(raw.splitlines())
    # Debian's OpenSTA: zero internal power on the raw file, the Liberty tables on the copy.
    (tmp_path / "raw").mkdir()
    (tmp_path / "fixed").mkdir()
    assert _sta_internal_power(tmp_path / "raw", _inverter_lib(raw)) == 0.0
    assert _sta_internal_power(tmp_path / "fixed", _inverter_lib(fixed)) > 0.0
    built = libraries.build(libraries.resolve("sky130hd"))
    copy = built.lib.read_text()
    assert copy.index("default_operating_conditions") > copy.index('operating_conditions ("tt')
    assert "default_wire_load" not in copy and "default_wire_load" in raw
    assert built.corner == "tt_025C_1v80"
    assert hashlib.sha256(SKY.read_bytes()).hexdigest() == before     # shipped file untouched
    excluded = (built.folder / "excluded.txt").read_text()
    for cell, why in (("ebufn_1", "tri-state"), ("dlclkp_1", "state table"),
                      ("lpflow_inputiso0n_1", "")):
        assert re.search(rf"sky130_fd_sc_hd__{cell}: .*{why}", excluded), cell
    assert "sky130_fd_sc_hd__dfxtp_1" in copy and "sky130_fd_sc_hd__ebufn_1" not in copy


def _osu_without(tmp_path, pattern, name):
    text = libraries.read_text(libraries.BUILTIN["osu018"].path)
    kept, dropped = libraries.select_cells(text, pattern)
    assert dropped
    path = tmp_path / f"{name}.lib"
    path.write_text(kept)
    return path


@pytest.mark.parametrize("pattern, missing", [(r"^(DFF|LATCH)", "a D flip-flop"),
                                              (r"^INV", "an inverter")])
def test_a_library_without_essentials_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch,
                                                                 pattern, missing):
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    lib = _osu_without(tmp_path, pattern, "crippled")
    assert main(["synth", "mitch_mul", "--n", "4", "--w", "2", "--liberty", str(lib),
                 "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"liberty crippled: the flow needs {missing}" in err
    assert not (tmp_path / "out").exists()
    cache = tmp_path / "cache" / "liberty"
    assert not cache.exists() or not list(cache.iterdir())


def test_unparseable_liberty_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.lib"
    bad.write_text("library (bad) { cell (X) { area : ; \n")
    assert main(["synth", "mitch_mul", "--n", "4", "--w", "2", "--liberty", str(bad),
                 "-o", str(tmp_path / "out")]) == 2
    assert "not a parseable Liberty file" in capsys.readouterr().err
    assert main(["synth", "mitch_mul", "--n", "4", "--liberty", "nosuchlib",
                 "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_synth_on_sky130_end_to_end(tmp_path, capsys):
    assert main(["synth", "mitch_mul", "--n", "4", "--w", "3", "--liberty", "sky130hd",
                 "--stream", "uniform", "--vectors", "60", "-o", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["liberty"] == {"name": "sky130hd", "corner": "tt_025C_1v80",
                                 "sha256": libraries.resolve("sky130hd").sha256}
    out = tmp_path / "sky130hd" / record["module"]
    assert "sky130_fd_sc_hd__" in (out / "netlist.v").read_text()
    assert record["energy_pj_per_op"] > 0 and record["area_um2"] > 0
    rows = lambda name: np.array([int(x, 16) for x in (out / name).read_text().split()])  # noqa
    assert np.array_equal(rows("outputs.txt"), mitch_mul(rows("in_a.hex"), rows("in_b.hex"),
                                                         n=4, w=3))
