"""A MAC unit as it sits in a systolic array: its operands (a, b) and controls (en, clr) come from
flip-flops (one register stage; like hdl/systolic.py's, the operand registers have no reset and
en/clr have a synchronous one), priced
by the cost flow's user-Verilog path (synth.flow.synth_verilog, same stream and library).

    PYTHONPATH=. python tools/registered_pe.py mitch_mac n=16 w=6 signed=c1 [--clock-ns 12]
        [--vectors 2000] [--stream cnn] [--recipe abc] [-o build/synth]

Writes build/registered_pe/<module>_reg.v and prints the flow's result record. The lone unit's
own record has ideal input ports (no flip-flop, no clock pin behind a and b); an array PE pays
for the registers that feed it, so this is the lone-PE figure an array is compared with.

The operands are the PE's own stream, the same patterns as its lone run (and its array's):
synth_verilog drives integer operands, so a float PE's bf16 patterns go in as a trace
(``trace:FILE`` next to the Verilog) of the patterns read as int16 values. (Before, a float PE
got the integer cnn stream's values as bf16 patterns: tiny numbers, a wrong and cheap stream.)
"""
import argparse
import json
from pathlib import Path

import numpy as np
from amaranth.back.verilog import convert

from hdl.catalogue import get_unit
from synth import streams
from synth.flow import synth_verilog

WRAPPER = """
module {top}(clk, rst, en, clr, a, b, acc);
  input clk, rst, en, clr;
  input {sign}[{w1}:0] a;
  input {sign}[{w1}:0] b;
  output [{acc1}:0] acc;
  reg [{w1}:0] a_q = 0, b_q = 0;
  reg en_q = 0, clr_q = 0;
  always @(posedge clk) begin a_q <= a; b_q <= b; end
  always @(posedge clk)
    if (rst) begin en_q <= 0; clr_q <= 0; end
    else begin en_q <= en; clr_q <= clr; end
  {pe} pe (.clk(clk), .rst(rst), .en(en_q), .clr(clr_q), .a(a_q), .b(b_q), .acc(acc));
endmodule
"""


def write_registered(unit_name, params, out_dir="build/registered_pe"):
    comp = get_unit(unit_name).build(**params)
    text = convert(comp, name=comp.name, emit_src=False)
    top = f"{comp.name}_reg"
    signed = unit_name in ("int_mac", "mitch_mac") and params.get("signed", "exact") != "none"
    text += WRAPPER.format(top=top, pe=comp.name, w1=len(comp.a) - 1, acc1=len(comp.acc) - 1,
                           sign="signed " if signed else "")
    out = Path(out_dir) / f"{top}.v"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out, top, signed


def signed16(patterns):
    """16-bit patterns as the int16 values of the same bits."""
    v = np.asarray(patterns, dtype=np.int64)
    return np.where(v >= 1 << 15, v - (1 << 16), v)


def pe_stream(unit_name, params, stream, vectors, folder, seed=2022):
    """(stream, signed) for synth_verilog that drive the registered PE with the PE's own
    operand patterns (streams.make_stream in its format, ``vectors`` + 1 of them as the flow
    draws them): the stream itself for integer PEs, a trace of the bf16 patterns read as int16
    values (signed) for float PEs."""
    fmt = streams.operand_format(unit_name, params)
    signed = unit_name in ("int_mac", "mitch_mac") and params.get("signed", "exact") != "none"
    if fmt.kind == "int":
        return stream, signed
    a, b = streams.make_stream(stream, fmt, vectors + 1, seed=seed)
    trace = Path(folder) / f"{stream.replace(':', '_').replace('/', '_')}_{fmt.label}_{seed}_{vectors + 1}.npz"
    trace.parent.mkdir(parents=True, exist_ok=True)
    np.savez(trace, a=signed16(a), b=signed16(b))
    return f"trace:{trace}", True


def measure(unit_name, params, *, stream="cnn", vectors=2000, folder="build/registered_pe",
            **flow_args):
    """The flow's record of the registered PE on the PE's own stream (pe_stream)."""
    path, top, _ = write_registered(unit_name, params, out_dir=folder)
    drive, signed = pe_stream(unit_name, params, stream, vectors, folder,
                              seed=flow_args.get("seed", 2022))
    return synth_verilog(path, top=top, operands=["a", "b"], signed=signed, stream=drive,
                         vectors=vectors, **flow_args)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("unit")
    p.add_argument("params", nargs="*", help="name=value")
    p.add_argument("--clock-ns", type=float, default=None)
    p.add_argument("--vectors", type=int, default=2000)
    p.add_argument("--stream", default="cnn")
    p.add_argument("--recipe", default="abc", help="mapping recipe (synth.flow.RECIPES)")
    p.add_argument("-o", "--output", default="build/synth")
    args = p.parse_args(argv)
    params = {}
    for kv in args.params:
        k, v = kv.split("=")
        params[k] = int(v) if v.lstrip("-").isdigit() else \
            {"True": True, "False": False}.get(v, v)
    record = measure(args.unit, params, stream=args.stream, vectors=args.vectors,
                     clock_ns=args.clock_ns, out_root=args.output, cache=False, recipe=args.recipe)
    print(json.dumps(record, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
