"""The w = 2..8 sweep of the Mitch-w MACs (bf16 and int16) with their exact references, on the
given libraries and streams: approxmac.report.run_report on report.FULL_SET's MACs (no arrays,
no lone multipliers), into OUT (REPORT.md, costs.json, pairings.json, plots).

    python tools/w_sweep.py OUT --liberty osu018 --streams cnn [--vectors 2000] [--jobs 2]
                            [--ws 6,8,7,5,4,3,2] [--recipes abc,abc-area,abc-delay]
                            [--no-references]

``--ws`` orders the runs (both families at each w in turn, then the references), so an
interrupted sweep has its most telling w's cached first; a rerun reuses every cached result.
"""
import argparse
import sys

from approxmac.report import FULL_SET, run_report


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--liberty", default="osu018")
    p.add_argument("--streams", default="cnn")
    p.add_argument("--vectors", type=int, default=2000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--ws", default="2,3,4,5,6,7,8")
    p.add_argument("--recipes", default=None)
    p.add_argument("--no-references", action="store_true",
                   help="leave out bf16_mac and int_mac n=16 (no pairings, only the w sweep)")
    args = p.parse_args()
    macs = [e for e in FULL_SET if e.is_mac and (e.unit != "int_mac" or e.params["n"] == 16)]
    ws = [int(w) for w in args.ws.split(",")]
    entries = [e for w in ws for e in macs if e.params.get("w") == w] + \
        ([] if args.no_references else [e for e in macs if "w" not in e.params])
    return run_report(out_dir=args.out, vectors=args.vectors, jobs=args.jobs,
                      streams=tuple(args.streams.split(",")), entries=entries,
                      liberties=tuple(args.liberty.split(",")),
                      recipes=args.recipes.split(",") if args.recipes else None)


if __name__ == "__main__":
    sys.exit(main())
