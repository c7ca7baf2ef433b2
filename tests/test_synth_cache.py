"""The result cache: a change to any part of a result's key recomputes exactly that result,
and of the cached netlist (Yosys + OpenSTA) and compiled simulation (Icarus) exactly what
depends on it: a new stream or seed only simulates."""

import json

import pytest

from approxmac.cli import main
from synth import cache, flow, gatesim, libraries

A = ("mitch_mul", {"n": 4, "w": 2})
B = ("int_mul", {"n": 4, "signed": "none"})


@pytest.fixture()
def counted(tmp_path, monkeypatch):
    """synth_unit with a private cache; returns (run, list of modules actually computed). The
    netlists mapped (Yosys) and simulations compiled (Icarus) are counted in ``run.yosys`` and
    ``run.compiled``."""
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    computed = []
    real = flow._flow

    def counting(design, module, *args, **kw):
        computed.append(module)
        return real(design, module, *args, **kw)

    monkeypatch.setattr(flow, "_flow", counting)
    yosys, compiled = [], []
    real_yosys, real_run = flow.run_yosys, gatesim.subprocess.run

    def yosys_counting(work):
        yosys.append(work.name)
        return real_yosys(work)

    def run_counting(cmd, *args, **kw):
        if cmd[0] == "iverilog":
            compiled.append(cmd)
        return real_run(cmd, *args, **kw)
    monkeypatch.setattr(flow, "run_yosys", yosys_counting)
    monkeypatch.setattr(gatesim, "subprocess", type("shim", (), {"run": staticmethod(run_counting)}))

    def run(unit, params=None, **kw):
        kw = {"stream": "uniform", "vectors": 30, "out_root": tmp_path / "out", **kw}
        return flow.synth_unit(unit[0], dict(unit[1], **(params or {})), **kw)
    run.yosys, run.compiled = yosys, compiled
    return run, computed


def test_second_run_reuses_and_each_key_recomputes_only_its_entries(counted, tmp_path, monkeypatch):
    run, computed = counted
    first = {u[0]: run(u) for u in (A, B)}
    assert computed == ["mitch_mul_n4_w2_trunc_none", "int_mul_n4_none"]
    out = tmp_path / "out" / "osu018" / "mitch_mul_n4_w2_trunc_none"
    saved = (out / "result.json").read_bytes()
    (out / "result.json").unlink()                     # the cache restores the whole folder
    assert {u[0]: run(u) for u in (A, B)} == first and len(computed) == 2
    assert (out / "result.json").read_bytes() == saved and (out / "toggles.txt").is_file()

    def recomputed(**change):
        before = len(computed)
        unit = change.pop("unit", A)
        run(unit, **change)
        return computed[before:]

    def stages(**change):
        """(results, netlists, compiled simulations) that a run with ``change`` computes."""
        before = len(computed), len(run.yosys), len(run.compiled)
        unit = change.pop("unit", A)
        run(unit, **change)
        return (len(computed) - before[0], len(run.yosys) - before[1],
                len(run.compiled) - before[2])

    assert (len(run.yosys), len(run.compiled)) == (2, 2)
    # Stream, seed: the result only; the netlist and the compiled simulation are reused (the
    # testbench reads the operands from files). Vectors: a new testbench, the same netlist.
    assert stages(seed=11) == (1, 0, 0)
    assert stages(stream="cnn", seed=11) == (1, 0, 0)
    assert stages(vectors=33) == (1, 0, 1)
    assert stages(clock_ns=40.0) == (1, 1, 1)     # STA ran at this clock (and a new testbench)
    # Each part of the key, changed for A only, recomputes A only, once.
    assert recomputed(seed=7) == ["mitch_mul_n4_w2_trunc_none"]
    assert recomputed(vectors=31) == ["mitch_mul_n4_w2_trunc_none"]
    assert recomputed(stream="cnn") == ["mitch_mul_n4_w2_trunc_none"]
    assert recomputed(clock_ns=50.0) == ["mitch_mul_n4_w2_trunc_none"]
    assert recomputed(params={"w": 3}) == ["mitch_mul_n4_w3_trunc_none"]   # the design
    assert recomputed(seed=7) == [] and recomputed() == [] and recomputed(unit=B) == []
    # Another library (the osu018 file with one comment more: another sha256).
    lib = tmp_path / "osu_copy.lib"
    lib.write_text("/* a copy */\n" + libraries.read_text(libraries.BUILTIN["osu018"].path))
    # (the same cells: the same models and netlist text, so the compiled simulation is reused)
    assert stages(liberty=str(lib)) == (1, 1, 0)
    assert recomputed(liberty=str(lib)) == []
    # A trace file's content is part of the key, not only its name.
    trace = tmp_path / "ops.npz"
    import numpy as np
    np.savez(trace, a=np.arange(40) % 16, b=np.arange(40) % 7)
    assert recomputed(stream=f"trace:{trace}") == ["mitch_mul_n4_w2_trunc_none"]
    np.savez(trace, a=np.arange(40) % 15, b=np.arange(40) % 7)
    assert recomputed(stream=f"trace:{trace}") == ["mitch_mul_n4_w2_trunc_none"]
    # The flow's code and the tool versions: every entry depends on them.
    monkeypatch.setattr(cache, "flow_digest", lambda: "another flow")
    assert stages() == (1, 1, 0)        # the same testbench and netlist text: compiled reused
    assert recomputed(unit=B) == ["int_mul_n4_none"]
    real_versions = flow.tool_versions()
    monkeypatch.setattr(flow, "tool_versions", lambda: dict(real_versions, yosys="another"))
    assert stages(unit=B) == (1, 1, 0) and recomputed(unit=B) == []
    monkeypatch.setattr(flow, "tool_versions", lambda: dict(real_versions, icarus="another"))
    assert stages(unit=B) == (1, 1, 1)
    # cache=False recomputes even an unchanged result, netlist and compile, to the same record.
    cached = run(B)
    assert stages(unit=B, cache=False) == (1, 1, 1) and run(B, cache=False) == cached
    # A recipe is part of the key too (another netlist).
    assert stages(recipe="abc-area") == (1, 1, 1)


def test_cli_no_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("APPROXMAC_CACHE", str(tmp_path / "cache"))
    argv = ["synth", "mitch_mul", "--n", "4", "--w", "2", "--vectors", "20", "-o", str(tmp_path)]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert main(argv) == 0
    second = capsys.readouterr()
    assert "cached result" in second.err and json.loads(second.out) == json.loads(first.out)
    assert main(argv + ["--no-cache"]) == 0
    assert "cached result" not in capsys.readouterr().err
    key = json.loads(next((tmp_path / "cache" / "results").glob("*/key.json")).read_text())
    assert {"design", "library", "flow", "recipe", "stream", "a", "b", "vectors", "seed",
            "tools"} <= set(key)
