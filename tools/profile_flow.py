"""Per-phase CPU profile of the cost flow: CPU seconds (user + sys, this process + children) of
Yosys, OpenSTA, the gate-level simulation and the rest, for one synth_unit run.

    python tools/profile_flow.py UNIT 'JSON params' --liberty osu018 --recipe abc --vectors 2000
"""
import argparse
import json
import os
import resource
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
    args = p.parse_args()
    flow.run_yosys = timed("yosys", flow.run_yosys)
    flow.run_sta = timed("opensta", flow.run_sta)
    flow.gatesim.simulate = timed("gatesim", gatesim.simulate)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["APPROXMAC_CACHE"] = os.environ.get("APPROXMAC_CACHE", tmp + "/cache")
        t0, w0 = cpu(), time.perf_counter()
        rec = flow.synth_unit(args.unit, json.loads(args.params), stream=args.stream,
                              vectors=args.vectors, out_root=tmp, liberty=args.liberty,
                              recipe=args.recipe, cache=False)
        total, wall = cpu() - t0, time.perf_counter() - w0
    rest = total - sum(v[0] for v in PHASES.values())
    out = {"unit": args.unit, "params": args.params, "liberty": args.liberty,
           "recipe": args.recipe, "vectors": args.vectors, "cells": rec["cells"],
           "cpu_s": {k: round(v[0], 1) for k, v in PHASES.items()},
           "other_cpu_s": round(rest, 1), "total_cpu_s": round(total, 1),
           "wall_s": round(wall, 1), "energy": rec["energy_pj_per_op"], "delay": rec["delay_ns"]}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
