"""Gate-level simulation of a mapped netlist on Icarus, and the toggle count of every net.

The netlist is simulated with the liberty's Verilog cell models and ``-gspecify``, so the cells'
path delays are applied and glitches (several transitions of a net per operation) are seen and
counted: arithmetic circuits glitch a lot and every glitch costs energy. The delays are OpenSTA's
load- and slew-dependent cell delays (an SDF file annotated with $sdf_annotate), not the models'
fixed unloaded specify values; a pulse shorter than a cell's delay is filtered by that cell
(Icarus's inertial path delays), as in any gate-level simulation.

Time line, period T (ns), steps i = 0 .. S-1 of port values (one step = one operation):

* combinational units: step i's inputs are applied at i·T;
* sequential units (a ``clk`` port): rising clock edges at i·T for i >= 1; step i's inputs are
  applied DRIVE_NS after the edge at i·T (so no register sees its D change at its own edge) and
  sampled by the edge at (i+1)·T. When ``rst`` rises or falls (only before the measured
  window), the next edge comes RESET_SETTLE_NS later: the flow builds no buffered reset tree
  (rst is a false path in STA), and an unbuffered rst fanning out to thousands of flip-flops
  takes longer than a clock period to settle, so without the wait some flip-flops would miss the
  reset or violate their setup checks, and hold X.

The measured window starts at first·T - GUARD_NS (``first`` = the first measured step, after
warm-up and reset, when every net has settled) and the simulation stops at S·T - GUARD_NS, so it
covers exactly S - first operations.

Toggles are counted inside the simulator: an instrumented copy of the netlist
(``netlist_counted.v``, :func:`instrument_netlist`) has one ``always @(net)`` block per net of
its top module that counts its changes to 1 (rises) and to 0 (falls) while the window is open
(``toggles.txt``); a change to X or Z inside the window is an error. This is exact and costs
about a microsecond per event, where reading a VCD of millions of changes in Python costs
seconds. With ``vcd=True`` the testbench also dumps the window as ``activity.vcd``;
:func:`count_toggles` reads such a dump with pyvcd, and the tests check that both counts agree.
The testbench also writes every output port just before each step ends (``outputs.txt``), so
tests can compare the gate-level results with golden/.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vcd.reader import TokenKind, tokenize

GUARD_NS = 0.01
DRIVE_NS = 0.05
RESET_SETTLE_NS = 1000.0
COUNT_BITS = 32        # per net: up to 2^32 - 1 changes in the measured window
COUNT_GROUP = 500      # toggle counters per generate block (see instrument_netlist)


@dataclass
class Activity:
    rises: dict            # net name -> 0→1 changes inside the window
    falls: dict            # net name -> 1→0 changes inside the window
    ops: int               # operations inside the window
    window_ns: float
    settle_ns: float       # latest net change after a step's start (inputs applied / clock edge)
    outputs: dict          # output port -> np.uint64 array, one value per step ("x" reads as 0)


def _fmt(t):
    return f"{t:.3f}"


def write_testbench(path, netlist, steps, *, period_ns, first, clock=None, sdf=None, vcd=False):
    """Write the testbench driving ``steps`` (port -> array of per-step values) into ``path``.

    The per-net toggle counters live inside the netlist's top module (see
    :func:`instrument_netlist`): Icarus compiles tens of thousands of ``always`` blocks on local
    nets several times faster than the same blocks on hierarchical ``dut.net`` references."""
    count = len(next(iter(steps.values())))
    inputs = [p for p, (d, _, _) in netlist.ports.items() if d == "input" and p != clock]
    outputs = [p for p, (d, _, _) in netlist.ports.items() if d == "output"]
    missing = set(inputs) - set(steps)
    if missing:
        raise ValueError(f"no stimulus for input port(s) {', '.join(sorted(missing))}")
    width = {p: len(netlist.ports[p][1]) for p in netlist.ports}
    skew = DRIVE_NS if clock else 0.0
    lines = ["`timescale 1ns/1ps", "module tb;"]
    for p in inputs + ([clock] if clock else []):
        lines.append(f"  reg [{width[p] - 1}:0] {p};")
    for p in outputs:
        lines.append(f"  wire [{width[p] - 1}:0] {p};")
    for p in inputs:
        lines.append(f"  reg [{width[p] - 1}:0] mem_{p} [0:{count - 1}];")
    conns = ", ".join(f".{p}({p})" for p in netlist.ports)
    lines += [f"  {netlist.top} dut ({conns});",
              "  integer i, fd;"]
    if sdf:
        lines.append(f'  initial $sdf_annotate("{sdf}", dut);')
    # Steps at which rst changes (rises, or falls): the next clock edge waits RESET_SETTLE_NS
    # longer (see above).
    rst = np.asarray(steps.get("rst", np.zeros(count)), dtype=np.uint64)
    changes = [i for i in range(count) if rst[i] != (rst[i - 1] if i else 0)]
    if any(i >= first for i in changes):
        raise ValueError(f"rst changes at step {max(changes)}, inside the measured window "
                         f"(from step {first})")
    half = period_ns / 2
    if clock:
        lines.append(f"  initial {clock} = 0;")
    lines.append("  initial begin")
    lines += [f'    $readmemh("in_{p}.hex", mem_{p});' for p in inputs]
    lines.append('    fd = $fopen("outputs.txt", "w");')
    lines.append(f"    for (i = 0; i < {count}; i = i + 1) begin")
    lines.append("      dut.step_start_ = $realtime; -> dut.step_;")
    drive = " ".join(f"{p} = mem_{p}[i];" for p in inputs)
    if clock:   # rising edge i starts step i (none before step 0), falling edge half-way
        lines.append(f"      if (i > 0) {clock} = 1;")
        lines.append(f"      #{_fmt(skew)} {drive}")
        lines.append(f"      #{_fmt(half - skew)} {clock} = 0;")
        rest = period_ns - half - GUARD_NS
    else:
        lines.append(f"      {drive}")
        rest = period_ns - GUARD_NS
    fmt = " ".join("%h" for _ in outputs)
    args = ", ".join(outputs)
    lines.append(f'      #{_fmt(rest)} $fdisplay(fd, "{fmt}", {args});')
    for i in changes:
        lines.append(f"      if (i == {i}) #{_fmt(RESET_SETTLE_NS)};")
    start = "dut.counting_ = 1;"
    if vcd:
        # The design's nets by name: a plain $dumpvars(1, dut) would add the counters too.
        signals = dict.fromkeys(re.sub(r"\[\d+\]$", "", net.name) for net in netlist.nets.values())
        start += (' $dumpfile("activity.vcd"); $dumpvars(0, '
                  + ", ".join(f"dut.{name}" for name in signals) + ");")
    lines.append(f"      if (i == {first - 1}) begin {start} end")
    lines.append(f"      if (i < {count - 1}) #{_fmt(GUARD_NS)};")
    lines += ["    end", "    dut.counting_ = 0;", "    $fclose(fd);",
              '    dut.write_toggles_;', "    $finish;", "  end", "endmodule", ""]
    Path(path).write_text("\n".join(lines))
    for p in inputs:
        digits = (width[p] + 3) // 4
        values = np.asarray(steps[p], dtype=np.uint64)
        (Path(path).parent / f"in_{p}.hex").write_text(
            "".join(f"{int(v):0{digits}x}\n" for v in values))


def instrument_netlist(netlist, src, dst, *, clock=None):
    """Copy netlist ``src`` to ``dst`` with a toggle counter on every net of the top module.

    Each net gets ``always @(net)`` counting its changes to 1 (rises) and to 0 (falls) while
    ``counting_`` is set (a change to X/Z is counted as unknown, an error); a data net's change
    also updates ``settle_`` = the latest change after the step began (``step_start_``, set by
    the testbench; the clock net's own edges are not settling events). The task
    ``write_toggles_`` writes their counts. The design's logic is untouched."""
    text = Path(src).read_text()
    header = re.search(rf"^module\s+{re.escape(netlist.top)}\s*\(", text, re.M)
    end = text.rfind("endmodule")
    if header is None or end < header.start() or "\nmodule " in text[header.end():end]:
        raise ValueError(f"{src}: expected the flattened top module {netlist.top} last")
    nets = [net.name for net in netlist.nets.values()]
    n = len(nets)
    body = ["  // toggle counters added by synth/gatesim.py (not part of the design)",
            "  reg counting_ = 0;", "  real step_start_ = 0, settle_ = 0;",
            # $realtime is a system call (slow): a change is timed only once the step is older
            # than settle_ (late_ is set), since no earlier change can raise it.
            "  reg late_ = 0;", "  event step_;",
            "  always @(step_) begin late_ = 0; #(settle_) late_ = 1; end",
            # One add per change, no branch: the low half counts changes, the high half the
            # changes to 1 (the net's new value); a change to X/Z makes the count X.
            f"  reg [{2 * COUNT_BITS - 1}:0] count_ [0:{n - 1}];", "  integer k_;",
            f"  initial for (k_ = 0; k_ < {n}; k_ = k_ + 1) count_[k_] = 0;"]
    for k, name in enumerate(nets):
        settle = "" if name == clock else \
            ("if (late_) begin if ($realtime - step_start_ > settle_) "
             "settle_ = $realtime - step_start_; end ")
        # Icarus's compile time grows faster than linearly with the processes of one scope
        # (measured: 16 000 such blocks 12.9 s in one scope, 5.1 s in generate blocks of 1000),
        # so the counters sit in generate blocks of COUNT_GROUP; names resolve upwards as before.
        if k % COUNT_GROUP == 0:
            body.append(f"  if (1) begin : count_g{k // COUNT_GROUP}")
        body.append(f"  always @({name}) if (counting_) begin "
                    f"count_[{k}] = count_[{k}] + {{{name}, {COUNT_BITS}'d1}}; {settle}end")
        if k % COUNT_GROUP == COUNT_GROUP - 1 or k == n - 1:
            body.append("  end")
    # Counts are written by index (one loop, not one statement per net, which Icarus compiles
    # slowly); simulate() turns them into toggles.txt with the nets' names.
    body += ["  task write_toggles_;", "    integer fd_;", "    begin",
             '      fd_ = $fopen("toggle_counts.txt", "w");',
             '      $fdisplay(fd_, "settle_ns %0.3f", settle_);',
             f'      for (k_ = 0; k_ < {n}; k_ = k_ + 1) '
             '$fdisplay(fd_, "%0d %0d", k_, count_[k_]);',
             "      $fclose(fd_);", "    end", "  endtask"]
    Path(dst).write_text(text[:end] + "\n".join(body) + "\n" + text[end:])


def _compile_cmd(netlist_v, cell_models):
    return ["iverilog", "-g2012", "-gspecify", "-Ttyp", "-o", "gatesim.vvp", "-s", "tb",
            "tb.v", str(netlist_v), str(cell_models)]


def compile_icarus(workdir, netlist_v, cell_models, cache_parts=None):
    """Compile tb.v, the netlist and the cell models with delays (-gspecify) into
    ``workdir``/gatesim.vvp; returns the compiler's output.

    With ``cache_parts`` (a dict naming the compiler's version), the compiled simulation is
    cached (synth/cache.py, kind ``icarus``) under the exact text of the three inputs, the
    command's flags and those parts: the testbench reads operands, SDF and output files by
    relative name at run time, so one compiled file serves every stream of a netlist."""
    from . import cache
    workdir = Path(workdir)
    cmd = _compile_cmd(netlist_v, cell_models)
    key = parts = None
    if cache_parts is not None:
        parts = {"stage": "icarus", "flags": cmd[1:-3], **cache_parts,
                 **{name: cache.digest(Path(path).read_bytes()) for name, path in
                    (("tb", workdir / "tb.v"), ("netlist", netlist_v), ("models", cell_models))}}
        key = cache.result_key(**parts)
        hit = cache.lookup(key, kind="icarus")
        if hit is not None:
            shutil.copy(hit / "gatesim.vvp", workdir / "gatesim.vvp")
            return (hit / "compile.log").read_text()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode:
        raise RuntimeError(f"iverilog failed (log: {workdir / 'gatesim.log'}):\n{text[-2000:]}")
    if key is not None:
        (workdir / "compile.log").write_text(text)
        cache.store(key, workdir, parts, kind="icarus", files=("gatesim.vvp", "compile.log"),
                    replace=False)
        (workdir / "compile.log").unlink()
    return text


def run_icarus(workdir, netlist_v, cell_models, compile_cache=None):
    """Compile (:func:`compile_icarus`) and run; outputs.txt and toggles.txt land in ``workdir``."""
    workdir = Path(workdir)
    log = workdir / "gatesim.log"
    log.write_text("")
    compile_cmd = _compile_cmd(netlist_v, cell_models)
    try:
        text = compile_icarus(workdir, netlist_v, cell_models, compile_cache)
    except RuntimeError as e:
        with log.open("a") as f:
            f.write(f"$ {' '.join(compile_cmd)}\n{e}")
        raise
    with log.open("a") as f:
        f.write(f"$ {' '.join(compile_cmd)}\n{text}")
    if "SDF ERROR" in text or "SDF WARNING" in text:
        raise RuntimeError(f"iverilog failed (log: {log}):\n{text[-2000:]}")
    cmd = ["vvp", "-n", "gatesim.vvp"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n{text}")
    # Icarus reports an SDF that does not fit the netlist as warnings only.
    if proc.returncode or "SDF ERROR" in text or "SDF WARNING" in text:
        raise RuntimeError(f"{cmd[0]} failed (log: {log}):\n{text[-2000:]}")


def name_toggle_counts(netlist, src, dst):
    """toggles.txt ("unknown N", "settle_ns T", then "net rises falls" lines) from the
    simulator's index-ordered packed counts (see :func:`instrument_netlist`); N = the nets that
    changed to X/Z inside the window."""
    nets = [net.name for net in netlist.nets.values()]
    lines, unknown = [], 0
    mask = (1 << COUNT_BITS) - 1
    for line in Path(src).read_text().splitlines():
        fields = line.split()
        if fields[0] == "settle_ns":
            lines.append(line)
            continue
        name = nets[int(fields[0])]
        if not fields[1].isdigit():            # x / X / z: a change to X/Z
            unknown += 1
            lines.append(f"{name} 0 0")
            continue
        count = int(fields[1])
        rises, changes = count >> COUNT_BITS, count & mask
        lines.append(f"{name} {rises} {changes - rises}")
    Path(dst).write_text("\n".join([f"unknown {unknown}", *lines]) + "\n")


def read_toggles(path):
    """(rises, falls, settle_ns) from the testbench's toggles.txt; X/Z in the window is an error."""
    rises, falls = {}, {}
    settle = 0.0
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields[0] == "unknown":
            if int(fields[1]):
                raise RuntimeError(f"gate-level simulation: {fields[1]} nets change to X/Z inside "
                                   f"the measured window ({path})")
        elif fields[0] == "settle_ns":
            settle = float(fields[1])
        else:
            rises[fields[0]], falls[fields[0]] = int(fields[1]), int(fields[2])
    return rises, falls, settle


def count_toggles(vcd_path):
    """Rises and falls of every net bit in a VCD (read with pyvcd's tokenizer); the initial
    values of the $dumpvars section are not changes. X/Z inside the dump is an error."""
    names = {}                  # id code -> bit names, least significant first
    last = {}                   # id code -> last value (int)
    rises, falls = {}, {}
    in_dumpvars = False
    with open(vcd_path, "rb") as f:
        for tok in tokenize(f):
            kind = tok.kind
            if kind is TokenKind.CHANGE_SCALAR or kind is TokenKind.CHANGE_VECTOR:
                change = tok.scalar_change if kind is TokenKind.CHANGE_SCALAR else tok.vector_change
                value = _as_int(change.value)
                if value is None:
                    raise RuntimeError(f"{vcd_path}: {names[change.id_code][0]} is X/Z")
                if not in_dumpvars:
                    _tally(names[change.id_code], last[change.id_code], value, rises, falls)
                last[change.id_code] = value
            elif kind is TokenKind.VAR:
                var = tok.var
                names[var.id_code] = _bit_names(var.reference, var.bit_index, var.size)
                for name in names[var.id_code]:
                    rises[name] = falls[name] = 0
            elif kind is TokenKind.DUMPVARS:
                in_dumpvars = True
            elif kind is TokenKind.END:
                in_dumpvars = False
    return rises, falls


def _as_int(value):
    if isinstance(value, int):
        return value
    text = str(value).lower()
    return None if any(c in text for c in "xz") else int(text, 2)


def _bit_names(reference, bit_index, size):
    """Names of a VCD var's bits, least significant first ("a[0]", ...; "x" for a scalar)."""
    if size == 1 and bit_index is None:
        return [reference]
    if isinstance(bit_index, tuple):
        msb, lsb = bit_index
    elif bit_index is not None:
        msb = lsb = bit_index
    else:
        msb, lsb = size - 1, 0
    step = 1 if msb >= lsb else -1
    return [f"{reference}[{lsb + i * step}]" for i in range(size)]


def _tally(names, old, new, rises, falls):
    diff = old ^ new
    while diff:
        low = diff & -diff
        i = low.bit_length() - 1
        if new & low:
            rises[names[i]] += 1
        else:
            falls[names[i]] += 1
        diff ^= low


def read_outputs(path, netlist):
    """Output port values per step, as written by the testbench (X reads as 0)."""
    outputs = [p for p, (d, _, _) in netlist.ports.items() if d == "output"]
    rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    # Ports wider than 64 bits (an array's result bus) are kept as Python ints.
    return {p: np.array([int(r[i], 16) if "x" not in r[i].lower() else 0 for r in rows],
                        dtype=np.uint64 if len(netlist.ports[p][1]) <= 64 else object)
            for i, p in enumerate(outputs)}


def simulate(netlist, workdir, steps, *, period_ns, first, netlist_v, cell_models, clock=None,
             sdf=None, vcd=False, compile_cache=None):
    """Run the gate-level simulation of ``steps`` and return the measured :class:`Activity`.
    ``compile_cache``: see :func:`compile_icarus` (None: always compile)."""
    workdir = Path(workdir)
    count = len(next(iter(steps.values())))
    write_testbench(workdir / "tb.v", netlist, steps, period_ns=period_ns, first=first, clock=clock,
                    sdf=sdf, vcd=vcd)
    instrument_netlist(netlist, netlist_v, workdir / "netlist_counted.v", clock=clock)
    run_icarus(workdir, (workdir / "netlist_counted.v").resolve(), cell_models, compile_cache)
    name_toggle_counts(netlist, workdir / "toggle_counts.txt", workdir / "toggles.txt")
    rises, falls, settle = read_toggles(workdir / "toggles.txt")
    ops = count - first
    return Activity(rises, falls, ops, ops * period_ns, settle,
                    read_outputs(workdir / "outputs.txt", netlist))
