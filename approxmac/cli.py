"""The ``approxmac`` command line: verilog, errors, bench (and later synth, report, ...)."""

import argparse
import json
import sys
from pathlib import Path

from golden.params import ParameterError
from hdl.catalogue import UNITS, get_unit



def parse_w_range(text):
    """'6' -> [6]; '2..16' -> [2, ..., 16]; '4,6,8' -> [4, 6, 8]."""
    try:
        if ".." in text:
            lo, hi = text.split("..")
            return list(range(int(lo), int(hi) + 1))
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ParameterError(f"--w must look like 6, 2..16 or 4,6,8; got {text!r}") from None


def add_unit_params(parser, unit):
    for p in unit.params:
        flag = "--" + p.name.replace("_", "-")
        if p.type is bool:
            parser.add_argument(flag, action="store_true", help=p.help)
        else:
            parser.add_argument(flag, type=p.type, default=p.default, help=f"{p.help} (default {p.default})",
                                **({"choices": p.choices} if p.choices else {}))


def unit_params(args, unit):
    return {p.name: getattr(args, p.name) for p in unit.params}


def cmd_verilog(args):
    from hdl.export import write_verilog
    unit = get_unit(args.unit)
    component = unit.build(**unit_params(args, unit))
    print(write_verilog(component, args.output))


def cmd_errors(args):
    from golden.errors import error_table, format_table
    table = error_table(n=args.n, ws=parse_w_range(args.w), variant=args.variant,
                        samples=args.samples, seed=args.seed)
    print(format_table(table))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {path}")


def cmd_bench(args):
    from .bench import run_bench
    run_bench(vectors=args.vectors, cosim_vectors=args.cosim_vectors, net_images=args.net_images,
              net_clock=args.net_clock, net_threads=args.net_threads, net_only=args.net_only)


def cmd_synth(args):
    from synth.flow import synth_unit
    unit = get_unit(args.unit)
    record = synth_unit(unit.name, unit_params(args, unit), stream=args.stream,
                        vectors=args.vectors, clock_ns=args.clock_ns, seed=args.seed,
                        out_root=args.output, keep_vcd=args.keep_vcd, liberty=args.liberty,
                        cache=not args.no_cache, recipe=args.recipe,
                        progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(json.dumps(record, indent=2, sort_keys=True))


def cmd_synth_verilog(args):
    from synth.flow import synth_verilog
    signed = {"auto": None, "yes": True, "no": False}[args.signed]
    record = synth_verilog(args.verilog, top=args.top,
                           operands=args.operands.split(",") if args.operands else None,
                           signed=signed, stream=args.stream, vectors=args.vectors,
                           clock_ns=args.clock_ns, seed=args.seed, out_root=args.output,
                           keep_vcd=args.keep_vcd, liberty=args.liberty, cache=not args.no_cache,
                           recipe=args.recipe,
                           progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(json.dumps(record, indent=2, sort_keys=True))


def add_flow_options(p):
    """The cost-flow options shared by every ``synth`` form."""
    p.add_argument("--stream", default="cnn", help="operand stream: uniform, cnn or trace:FILE")
    p.add_argument("--vectors", type=int, default=2000, help="measured operations")
    p.add_argument("--clock-ns", type=float, default=None,
                   help="clock period (default: critical path + 10 %%, rounded up to 0.5 ns)")
    p.add_argument("--seed", type=int, default=2022, help="stream seed")
    p.add_argument("--keep-vcd", action="store_true", help="also dump activity.vcd")
    p.add_argument("--recipe", default="abc",
                   help="mapping recipe: abc (default), abc-area, abc-delay or abc-buf (synth/README.md)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute even when a cached result has the same inputs")
    p.add_argument("--liberty", default=None,
                   help="cell library: osu018 (default), sky130hd or a Liberty file")
    p.add_argument("-o", "--output", default="build/synth",
                   help="writes OUTPUT/<library>/<module>/")


def synth_verilog_parser():
    p = argparse.ArgumentParser(
        prog="approxmac synth --verilog",
        description="price your own Verilog design (two operand inputs; combinational or "
                    "clk/rst/en/clr) through the same flow, streams and libraries")
    p.add_argument("--verilog", required=True, help="the design's Verilog file")
    p.add_argument("--top", default=None, help="top module (default: Yosys's pick)")
    p.add_argument("--operands", default=None,
                   help="the two operand ports, e.g. a,b (default: the non-control inputs)")
    p.add_argument("--signed", default="auto", choices=("auto", "yes", "no"),
                   help="operand signedness (auto: from the ports' declarations)")
    add_flow_options(p)
    p.set_defaults(func=cmd_synth_verilog)
    return p


def cmd_report(args):
    from .report import run_report
    libs = [name for item in (args.liberty or [None]) for name in
            (item.split(",") if item else [None])]
    from .report import SETS
    return run_report(out_dir=args.output, vectors=args.vectors, jobs=args.jobs,
                      entries=SETS[args.set],
                      streams=args.streams.split(","), liberties=libs, cache=not args.no_cache,
                      recipes=args.recipes.split(",") if args.recipes else None,
                      scheduler=args.scheduler)


def cmd_accuracy(args):
    from cnn.accuracy import run
    from sweep import TaskError
    from .report import attach_accuracy
    exact = [s.strip() for s in args.exact_nodes.split(",") if s.strip()] if args.exact_nodes else []
    try:
        run(models=args.model, dataset=args.dataset, entries=args.mult,
            subset_entries=args.subset_mult, subset=args.subset, seq_images=args.seq_images,
            limit=args.limit, batch=args.batch, exact_nodes=exact,
            calib_images=args.calib_images, shard=args.shard, scheduler=args.scheduler,
            n_workers=args.workers, out_dir=args.output, trace_dir=args.traces or None,
            cache=not args.no_cache)
    except TaskError as e:
        print(f"approxmac: error: {e}\n{e.remote_traceback}", file=sys.stderr)
        return 1
    if attach_accuracy(args.output):
        print(f"added the accuracy section to {Path(args.output) / 'REPORT.md'}", file=sys.stderr)


def build_parser():
    from cnn.accuracy import (DEFAULT_CALIB_IMAGES, DEFAULT_MODELS, DEFAULT_SEQ_IMAGES,
                              DEFAULT_SHARD, DEFAULT_SUBSET)
    parser = argparse.ArgumentParser(prog="approxmac", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    verilog = sub.add_parser("verilog", help="write the Verilog of one unit")
    units = verilog.add_subparsers(dest="unit", required=True, metavar="UNIT")
    for unit in UNITS.values():
        p = units.add_parser(unit.name, help=unit.summary)
        add_unit_params(p, unit)
        p.add_argument("-o", "--output", default="build/verilog", help="output directory")
    verilog.set_defaults(func=cmd_verilog)

    errors = sub.add_parser("errors", help="Mitch-w error statistics per w")
    errors.add_argument("--n", type=int, default=16, help="operand width N (4..32)")
    errors.add_argument("--w", default="2..16", help="w values: 6, 2..16 or 4,6,8")
    errors.add_argument("--variant", default="trunc", choices=("trunc", "unbiased"))
    errors.add_argument("--samples", type=int, default=1_000_000, help="operand pairs per distribution")
    errors.add_argument("--seed", type=int, default=2022)
    errors.add_argument("--json", help="also write the table as JSON to this path")
    errors.set_defaults(func=cmd_errors)

    bench = sub.add_parser("bench", help="throughput benchmarks (golden model, co-simulation)")
    bench.add_argument("--vectors", type=int, default=2_000_000)
    bench.add_argument("--cosim-vectors", type=int, default=50_000)
    bench.add_argument("--net-images", type=int, default=64,
                       help="ResNet-20 batch for the whole-network benchmark (default %(default)s)")
    bench.add_argument("--net-clock", choices=("wall", "cpu"), default="wall",
                       help="whole-network timings: wall time or the process's CPU time (cpu: "
                            "comparable on a loaded machine)")
    bench.add_argument("--net-threads", type=int, default=None,
                       help="threads for both the executor (BLAS, numba) and onnxruntime "
                            "(default: each library's own)")
    bench.add_argument("--net-only", action="store_true",
                       help="only the whole-network benchmark")
    bench.set_defaults(func=cmd_bench)

    synth = sub.add_parser("synth", help="area, delay and energy per operation of one unit "
                                         "(or of your own design: synth --verilog FILE ...)")
    units = synth.add_subparsers(dest="unit", required=True, metavar="UNIT")
    for unit in UNITS.values():
        p = units.add_parser(unit.name, help=unit.summary)
        add_unit_params(p, unit)
        add_flow_options(p)
    synth.set_defaults(func=cmd_synth)

    report = sub.add_parser("report", help="cost flow over the default unit set -> REPORT.md")
    report.add_argument("--vectors", type=int, default=2000, help="measured operations per run")
    report.add_argument("--jobs", type=int, default=None, help="parallel runs (default: cores, max 2)")
    report.add_argument("--streams", default="cnn,uniform", help="comma-separated streams")
    report.add_argument("--recipes", default=None,
                        help="comma-separated mapping recipes (default: all of synth.flow.RECIPES)")
    report.add_argument("--set", default="default", choices=("default", "full"),
                        help="unit set: default (Mitch-w MACs at w = 4, 6, 8; posit<8,0>) or full "
                             "(w = 2..8; posit<8,0>, <16,1>, <32,2>)")
    report.add_argument("--scheduler", default=None,
                        help="tcp://HOST:PORT of a running dask cluster, or serial "
                             "(default: an in-process LocalCluster of --jobs workers)")
    report.add_argument("--no-cache", action="store_true",
                        help="recompute every result (and replace the cached ones)")
    report.add_argument("--liberty", action="append",
                        help="cell library (repeatable or comma-separated): osu018 (default), "
                             "sky130hd or a Liberty file")
    report.add_argument("-o", "--output", default="build/report")
    report.set_defaults(func=cmd_report)

    acc = sub.add_parser(
        "accuracy", help="ONNX models x multipliers on a test set (golden arithmetic, on dask)",
        description="Run ONNX models with every product of every Conv / Gemm / MatMul through a "
                    "golden multiplier (everything else in fp32), compare with their FP32 path "
                    "on the same images (95 %% Wilson CI, exact McNemar test), as tasks on "
                    "dask.distributed. Writes OUTPUT/accuracy.{json,md}, plots, and traces.")
    acc.add_argument("--model", default=",".join(DEFAULT_MODELS),
                     help="comma-separated .onnx paths or committed model names (cnn/models/); "
                          "default %(default)s")
    acc.add_argument("--dataset", default="fashion-mnist",
                     help="fashion-mnist, mnist5k, digits, idx:PATH or npz:PATH (x_test float32 "
                          "N x C x H x W in the model's input scale, y_test); default %(default)s")
    acc.add_argument("--mult", default="headline",
                     help="entries run on every test image: comma-separated fp32, bf16, "
                          "mitch_bf16_w6_trunc, int8, mitch_int8_w6_trunc_c1, posit_n8_es0, "
                          "plam_n16_es1, bf16+trunc_add_t12, ..., or a list name: headline (fp32, bf16, "
                          "mitch_bf16_w6_{trunc,unbiased}), sweep (the other multipliers), adders "
                          "(the MULT+ADDER entries), all, none; default %(default)s")
    acc.add_argument("--subset-mult", default="sweep",
                     help="entries run on the subset only (same names; default %(default)s: "
                          "the w sweep, the integer and the posit units)")
    acc.add_argument("--subset", type=int, default=DEFAULT_SUBSET,
                     help="subset size: every k-th test image (default %(default)s)")
    acc.add_argument("--seq-images", type=int, default=DEFAULT_SEQ_IMAGES,
                     help="test images for MULT+ADDER (MAC-order) entries (default %(default)s)")
    acc.add_argument("--limit", type=int, help="only the first LIMIT test images")
    acc.add_argument("--batch", type=int, default=100,
                     help="images per executor run (bounds memory; default %(default)s)")
    acc.add_argument("--exact-nodes", default="",
                     help="comma-separated Conv/Gemm/MatMul node names kept in fp32")
    acc.add_argument("--calib-images", type=int, default=DEFAULT_CALIB_IMAGES,
                     help="training images for the integer units' activation scales "
                          "(default %(default)s)")
    acc.add_argument("--shard", type=int, default=DEFAULT_SHARD,
                     help="test images per task (default %(default)s)")
    acc.add_argument("--scheduler", default=None,
                     help="tcp://HOST:PORT of a running dask scheduler; 'serial' for no dask; "
                          "default: an in-process LocalCluster with one worker process per core")
    acc.add_argument("--workers", type=int, default=None,
                     help="LocalCluster worker processes (default: the cores)")
    acc.add_argument("--traces", default="build/traces",
                     help="operand-trace directory ('' = none; default %(default)s)")
    acc.add_argument("--no-cache", action="store_true",
                     help="recompute every task (and replace the cached results; cache: "
                          "$APPROXMAC_CACHE or build/cache)")
    acc.add_argument("-o", "--output", default="build/report")
    acc.set_defaults(func=cmd_accuracy)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["synth"] and any(a == "--verilog" or a.startswith("--verilog=")
                                     for a in argv[1:]):
        args = synth_verilog_parser().parse_args(argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except ParameterError as e:
        print(f"approxmac: error: {e}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
