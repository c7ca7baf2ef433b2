"""Per-phase CPU profile of the cost flow: CPU seconds (user + sys, this process + children) of
the RTL export, Yosys, OpenSTA, the gate-level simulation (of it: the Icarus compile and the vvp
run, SDF annotation included) and the rest, for one synth_unit run.

    PYTHONPATH=. python tools/profile_flow.py UNIT 'JSON params' --liberty osu018 --recipe abc --vectors 2000
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from synth import flow, gatesim


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


PHASES = {}


def timed(name, fn):
    def wrapper(*args, **kwargs):
        t0, w0 = cpu(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu_s, wall = cpu() - t0, time.perf_counter() - w0
            old = PHASES.get(name, (0.0, 0.0, 0))
            PHASES[name] = (old[0] + cpu_s, old[1] + wall, old[2] + 1)
    return wrapper


def main():
    p = argparse.ArgumentParser()
    p.add_argument("unit")
    p.add_argument("params", nargs="?", default="{}")
    p.add_argument("--liberty", default="osu018")
    p.add_argument("--recipe", default="abc")
    p.add_argument("--stream", default="cnn")
    p.add_argument("--vectors", type=int, default=2000)
    p.add_argument("--no-sdf", action="store_true", help="profile only: skip $sdf_annotate")
    args = p.parse_args()
    flow.to_verilog = timed("verilog", flow.to_verilog)
    flow.run_yosys = timed("yosys", flow.run_yosys)
    flow.netlist_mod.read_netlist = timed("read_netlist", flow.netlist_mod.read_netlist)
    flow.energy.price = timed("energy", flow.energy.price)
    # Icarus: compile (iverilog) and run (vvp, SDF annotation included) apart.
    real_run = subprocess.run

    def run(cmd, *a, **kw):
        name = {"iverilog": "iverilog", "vvp": "vvp"}.get(os.path.basename(cmd[0]), "other_tools")
        return timed(name, real_run)(cmd, *a, **kw)
    gatesim.subprocess = type("shim", (), {"run": staticmethod(run)})
    flow.run_sta = timed("opensta", flow.run_sta)
    flow.gatesim.simulate = timed("gatesim", gatesim.simulate)
    if args.no_sdf:     # how much of vvp is the SDF annotation (figures are then wrong)
        real_tb = gatesim.write_testbench
        gatesim.write_testbench = lambda *a, **kw: real_tb(*a, **dict(kw, sdf=None))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["APPROXMAC_CACHE"] = os.environ.get("APPROXMAC_CACHE", tmp + "/cache")
        t0, w0 = cpu(), time.perf_counter()
        rec = flow.synth_unit(args.unit, json.loads(args.params), stream=args.stream,
                              vectors=args.vectors, out_root=tmp, liberty=args.liberty,
                              recipe=args.recipe, cache=False)
        total, wall = cpu() - t0, time.perf_counter() - w0
    nested = ("iverilog", "vvp", "other_tools")       # inside gatesim
    rest = total - sum(v[0] for k, v in PHASES.items() if k not in nested)
    out = {"unit": args.unit, "params": args.params, "liberty": args.liberty,
           "recipe": args.recipe, "vectors": args.vectors, "cells": rec["cells"],
           "cpu_s": {k: round(v[0], 1) for k, v in PHASES.items()},
           "wall_s_by_phase": {k: round(v[1], 1) for k, v in PHASES.items()},
           "other_cpu_s": round(rest, 1), "total_cpu_s": round(total, 1),
           "wall_s": round(wall, 1), "energy": rec["energy_pj_per_op"], "delay": rec["delay_ns"]}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
