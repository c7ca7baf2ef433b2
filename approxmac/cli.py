"""The ``approxmac`` command line: verilog, errors, bench (and later synth, report, ...)."""

import argparse
import json
import sys
from pathlib import Path

from golden.params import ParameterError

from .units import UNITS, get_unit


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
    run_bench(vectors=args.vectors, cosim_vectors=args.cosim_vectors)


def build_parser():
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
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ParameterError as e:
        print(f"approxmac: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
