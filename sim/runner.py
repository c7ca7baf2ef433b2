"""Run a cocotb bench on the Verilog of an hdl/ component with Icarus Verilog.

The pytest side owns the model: it draws the stimulus, computes the expected outputs with
golden/, and stores both in an .npz file (``in_<port>`` arrays are driven, ``out_<port>``
arrays are expected). The bench (a cocotb test module in sim/benches/) only drives, samples and
compares, so the arithmetic is defined once.
"""

import os
from pathlib import Path

import numpy as np
from cocotb_tools.runner import get_results, get_runner

from hdl.export import write_verilog

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "cosim"


class CosimFailure(AssertionError):
    """The simulated RTL disagreed with golden/ (details in the bench log)."""


def run_cosim(component, bench, *, inputs, expected, tag="", extra_env=None):
    """Simulate ``component`` under the cocotb bench ``sim.benches.<bench>``.

    ``inputs`` and ``expected`` map port names to integer arrays of equal length (one entry
    per vector or per cycle, as the bench defines). Returns the number of vectors checked;
    raises CosimFailure when the bench reports a mismatch.
    """
    work = BUILD / f"{component.name}{tag}"
    work.mkdir(parents=True, exist_ok=True)
    source = write_verilog(component, work)
    vectors = work / "vectors.npz"
    arrays = {f"in_{k}": np.asarray(v) for k, v in inputs.items()}
    arrays.update({f"out_{k}": np.asarray(v) for k, v in expected.items()})
    np.savez(vectors, **arrays)

    runner = get_runner("icarus")
    runner.build(sources=[source], hdl_toplevel=component.name, build_dir=work,
                 timescale=("1ns", "1ps"), always=True, log_file=work / "build.log")
    env = {"APPROXMAC_VECTORS": str(vectors), "APPROXMAC_REPORT": str(work / "report.txt")}
    env.update(extra_env or {})
    results = work / "results.xml"
    results.unlink(missing_ok=True)
    try:
        runner.test(test_module=f"sim.benches.{bench}", hdl_toplevel=component.name,
                    build_dir=work, test_dir=work, extra_env=env,
                    results_xml=str(results), log_file=work / "sim.log")
    except SystemExit:
        pass  # the runner exits when a cocotb test fails; the results file says which
    if not results.exists():
        raise CosimFailure(f"{component.name}: the simulation did not run (log: {work / 'sim.log'})")
    tests, fails = get_results(results)
    report = (work / "report.txt").read_text() if (work / "report.txt").exists() else ""
    if tests == 0 or fails:
        raise CosimFailure(f"{component.name}: {fails} of {tests} cocotb tests failed\n{report}"
                           f"(log: {work / 'sim.log'})")
    return int(report.split()[0]) if report else 0
