"""The w = 2..8 sweep of the Mitch-w MACs (bf16 and int16) with their exact references, on the
given libraries and streams: approxmac.report.run_report on report.FULL_SET's MACs (no arrays,
no lone multipliers), into OUT (REPORT.md, costs.json, pairings.json, plots).

    python tools/w_sweep.py OUT --liberty osu018 --streams cnn [--vectors 2000] [--jobs 2]
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
    args = p.parse_args()
    entries = [e for e in FULL_SET if e.is_mac and (e.unit != "int_mac" or e.params["n"] == 16)]
    return run_report(out_dir=args.out, vectors=args.vectors, jobs=args.jobs,
                      streams=tuple(args.streams.split(",")), entries=entries,
                      liberties=tuple(args.liberty.split(",")))


if __name__ == "__main__":
    sys.exit(main())
