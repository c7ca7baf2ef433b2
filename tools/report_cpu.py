"""CPU seconds (this process + finished children) and wall time of a small `approxmac report`:
int_mac n=8 and mitch_mac n=16 w=6 c1, every recipe, streams cnn and uniform, serial. Run it
with two checkouts (each with its own fresh $APPROXMAC_CACHE) to compare them side by side, and
again to time a cached rerun; the costs.json files must be cmp-equal.

    APPROXMAC_CACHE=/tmp/c1 PYTHONPATH=. python tools/report_cpu.py OUT [--vectors 2000]
"""
import argparse
import json
import resource
import time

from approxmac.report import Entry, run_report


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--vectors", type=int, default=2000)
    p.add_argument("--liberty", default="osu018")
    args = p.parse_args()
    entries = [Entry("int_mac", {"n": 8}),
               Entry("mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"},
                     exact="int_mac n=8")]
    t0, w0 = cpu(), time.time()
    rc = run_report(out_dir=args.out, vectors=args.vectors, streams=("cnn", "uniform"),
                    entries=entries, liberties=tuple(args.liberty.split(",")), scheduler="serial")
    print(json.dumps({"rc": rc, "cpu_s": round(cpu() - t0, 1), "wall_s": round(time.time() - w0, 1)}))


if __name__ == "__main__":
    main()
