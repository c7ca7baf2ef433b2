"""Critical path of a catalogued unit: the cost flow's Yosys and OpenSTA steps (synth/synth.ys,
synth/sta.tcl, OSU018) without the gate-level simulation, for quick timing comparisons.

    PYTHONPATH=. python tools/sta_only.py systolic rows=4 cols=4 pe=int_mac n=16
    PYTHONPATH=. python tools/sta_only.py int_mac n=16 --driven
    PYTHONPATH=. python tools/sta_only.py systolic rows=4 cols=4 pe=bf16_mac --hier
    PYTHONPATH=. python tools/sta_only.py bf16_mac --driven --recipe abc-delay

Prints {"module", "area", "delay_ns"}; writes build/sta/<module>/ (timing.rpt: the critical path
and each path class). ``--driven`` also times the unit with every data input driven by a
DFFPOSX1 Q pin (``driven_delay_ns``): a unit inside a design is fed by flip-flops, while the
flow's ideal input ports have no drive delay. ``--hier`` maps each module separately and flattens
afterwards (synth.ys with ``synth`` instead of ``synth -flatten``; writes build/sta/<module>--hier/),
so every module (an array's PEs and their multipliers and adders) is mapped alone. ``--pe-macro``
maps each PE of an array alone, flattened inside like the lone MAC, and flattens the array
afterwards (writes build/sta/<module>--pe-macro/). ``--recipe R`` maps with synth.flow.RECIPES[R]
(default ``abc``; writes build/sta/<module>--<R>/).
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from hdl.catalogue import get_unit
from hdl.export import write_verilog
from synth import flow, libraries

DRIVEN = """read_liberty cells.lib
read_verilog netlist.v
link_design {top}
create_clock -name clk -period 1000 [get_ports clk]
set data_inputs [delete_from_list [all_inputs] [get_ports clk]]
set_input_delay 0 -clock clk $data_inputs
set_false_path -from [get_ports rst]
set_output_delay 0 -clock clk [all_outputs]
set_input_transition 0.1 [all_inputs]
set_driving_cell -lib_cell DFFPOSX1 -pin Q $data_inputs
puts "worst_slack_ns [worst_slack -max]"
"""


def sta_only(unit_name, params, root="build/sta", driven=False, hier=False,
             recipe=flow.DEFAULT_RECIPE, pe_macro=False):
    comp = get_unit(unit_name).build(**params)
    suffix = ("--hier" if hier else "") + ("--pe-macro" if pe_macro else "") + \
        ("" if recipe == flow.DEFAULT_RECIPE else f"--{recipe}")
    work = Path(root) / (comp.name + suffix)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(write_verilog(comp, work), work / "design.v")
    (work / f"{comp.name}.v").unlink()
    shutil.copy(libraries.build(libraries.resolve(None)).lib, work / "cells.lib")
    for script in ("synth.ys", "sta.tcl"):
        shutil.copy(flow.HERE / script, work / script)
    flow.set_recipe(work, recipe, comp.name)
    if hier:
        # Map every module on its own (an array's PEs get the lone PE's netlist), flatten after.
        ys = (work / "synth.ys").read_text()
        assert ys.count("synth -flatten\n") == 1 and ys.count("opt_clean -purge\n") == 1
        ys = ys.replace("synth -flatten\n", "synth\n")
        (work / "synth.ys").write_text(ys.replace("opt_clean -purge\n", "flatten\nopt_clean -purge\n"))
    if pe_macro:
        # Map every PE of an array on its own, flattened inside as the lone MAC is (the same
        # netlist as the lone PE's), then flatten the array: the PE as a hard macro.
        ys = (work / "synth.ys").read_text()
        assert ys.count("synth -flatten\n") == 1 and ys.count("opt_clean -purge\n") == 1
        pes = " ".join(f"{comp.name}.pe_{i}_{j}" for i in range(comp.rows) for j in range(comp.cols))
        ys = ys.replace("synth -flatten\n",
                        f"setattr -mod -set keep_hierarchy 1 {pes}\nsynth -flatten\n")
        (work / "synth.ys").write_text(ys.replace(
            "opt_clean -purge\n", "setattr -mod -unset keep_hierarchy *\nflatten\nopt_clean -purge\n"))
    area = flow.run_yosys(work)
    slack, timing, _, _ = flow.run_sta(work, top=comp.name, clock_ns=1000.0, clock_port="clk",
                                       power=False)
    (work / "timing.rpt").write_text(timing)
    out = {"module": comp.name, "recipe": recipe, "area": area,
           "delay_ns": round(1000.0 - slack, 4)}
    if driven:
        (work / "driven.tcl").write_text(DRIVEN.format(top=comp.name))
        text = subprocess.run(["sta", "-no_splash", "-exit", "driven.tcl"], cwd=work,
                              capture_output=True, text=True, check=True).stdout
        slack = float(text.split("worst_slack_ns")[1].split()[0])
        out["driven_delay_ns"] = round(1000.0 - slack, 4)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    argv = sys.argv[1:]
    recipe = flow.DEFAULT_RECIPE
    if "--recipe" in argv:
        at = argv.index("--recipe")
        recipe = argv[at + 1]
        del argv[at:at + 2]
    args = [a for a in argv if a not in ("--driven", "--hier", "--pe-macro")]
    params = {}
    for kv in args[1:]:
        k, v = kv.split("=")
        params[k] = int(v) if v.lstrip("-").isdigit() else \
            {"True": True, "False": False}.get(v, v)
    sta_only(args[0], params, driven="--driven" in argv, hier="--hier" in argv, recipe=recipe,
             pe_macro="--pe-macro" in argv)
