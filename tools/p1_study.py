"""The P1 study (approxmac/p1.py): run the cost flow over the plan, write the ratio table.

    PYTHONPATH=. nice -n 10 python tools/p1_study.py [--libraries osu018,sky130hd]
        [--scopes lone,part,registered,array] [--vectors 500] [--array-vectors 200]
        [--array-configs p0] [--recipes abc] [--add FOLDER ...] [--dry-run] [-o build/report]

Prints the plan (run count and a rough duration) first, then runs one flow at a time (cached
under build/cache: a repeated run is a lookup), rewriting build/report/p1_study.{json,md} after
every run, so an interrupted study leaves a valid partial table. Runs of earlier invocations
with the same stream and vector counts stay in the table (they are kept in p1_study.json), so
the scopes, libraries and mapping recipes can be run one invocation at a time; a run measured
with several recipes enters the pairings with all of them (report.HEADLINE_RULE). ``--add
FOLDER`` enters a run measured by ``approxmac synth`` (e.g. an array at a chosen clock): its
result folder must be one of the study's PEs or 4 × 4 arrays on the same stream and vector count;
``--scopes array --no-run --add ...`` builds the array rows from such runs alone. At the end:
the energy breakdowns (tools/energy_breakdown.py) of the plain lone MACs, the arrays and the
pairing closest to 0.20, the accumulator bound on the int16 CNN trace (``--trace``, from
``make accuracy``) and on the cnn stream, and REPORT.md gets the section when it exists.
"""
import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from approxmac import p1
from golden.params import ParameterError
from synth import streams
from synth.flow import DEFAULT_RECIPE, RECIPES, synth_unit
from tools.energy_breakdown import breakdown
from tools import registered_pe
from tools.registered_pe import signed16

DEFAULT_TRACE = "build/traces/resnet20_fashion-mnist_int16.npz"


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def measure(run, recipe, args):
    """(result record, result folder) of one run."""
    unit, params = run.unit_params()
    out_root = Path(args.synth_dir)
    suffix = "" if recipe == DEFAULT_RECIPE else f"--{recipe}"
    common = dict(stream=args.stream, out_root=out_root, liberty=run.library, recipe=recipe,
                  cache=True, progress=lambda m: say(f"  {m}"))
    if run.scope == "registered":
        # the PE's own stream (tools/registered_pe.py: float patterns go in as a trace)
        rec = registered_pe.measure(unit, params, vectors=args.vectors,
                                    folder=Path(args.synth_dir).parent / "registered_pe", **common)
    else:
        vectors = args.array_vectors if run.scope == "array" else args.vectors
        rec = synth_unit(unit, params, vectors=vectors, **common)
    return rec, out_root / rec["liberty"]["name"] / (rec["module"] + suffix)


def added_run(folder, args):
    """(run name, state entry) of a result folder measured outside the study (``--add``).

    Raises
    ------
    ParameterError
        For a folder without result.json, a run that is not the study's (approxmac.p1.
        run_of_record) or one of another stream or vector count than the study's."""
    path = Path(folder) / "result.json"
    if not path.is_file():
        raise ParameterError(f"--add: no result.json in {folder}")
    rec = json.loads(path.read_text())
    run = p1.run_of_record(rec)
    vectors = args.array_vectors if run.scope == "array" else args.vectors
    if (rec["stream"], rec["vectors"]) != (args.stream, vectors):
        raise ParameterError(f"--add {folder}: measured on {rec['stream']} with "
                             f"{rec['vectors']} {'cycles' if run.scope == 'array' else 'vectors'}; "
                             f"the study uses {args.stream} with {vectors} (--stream, "
                             f"{'--array-vectors' if run.scope == 'array' else '--vectors'})")
    return f"{run.key}@{rec['recipe']}", {"record": rec, "folder": str(folder)}


def flop_split(folder, run):
    b = breakdown(folder)
    flops = sum(v for k, v in b["by_kind"].items() if "df" in k.lower())
    clock = sum(v for k, v in b["by_part"].items() if k.endswith(":clock"))
    return {"library": run.library, "scope": run.scope, "unit": run.label,
            "config": p1._cfg({"pipeline": run.pipeline, "gate_zero": run.gate_zero}),
            "energy_pj_per_op": b["energy_pj_per_op"], "flop_pj": round(flops, 6),
            "clock_pj": round(clock, 6), "logic_pj": round(b["sum_pj_per_op"] - flops, 6),
            "by_part": {k: round(v, 6) for k, v in b["by_part"].items()}}


def split_part(name, lone):
    """A pipelined MAC's flip-flops: the accumulator, the en/clr stage, else the product stage."""
    return "accumulate" if name == "acc" else "control" if name.endswith("_stage") else "multiplier"


def mac_split(folder, run):
    """A pipelined lone MAC's energy split at its product register (tools/energy_breakdown.py):
    multiplier (with the product register), accumulate (adder, clear/enable logic, accumulator),
    clock pins, control."""
    b = breakdown(folder, lone=False, part_of=split_part)
    get = lambda k: round(b["by_part"].get(k, 0.0), 6)              # noqa: E731
    return {"library": run.library, "pe": run.pe, "acc_width": run.acc_width, "unit": run.label,
            "key": run.key, "energy_pj_per_op": b["energy_pj_per_op"],
            "multiplier_pj": get("multiplier"), "accumulate_pj": get("accumulate"),
            "clock_pj": round(sum(v for k, v in b["by_part"].items() if k.endswith(":clock")), 6),
            "control_pj": round(get("control") + get("mixed"), 6),
            "flops": b["flops_per_part"]}


def overflow_section(trace, pairs):
    """The accumulator bound of the int16 Mitch MAC (and the exact one) on the trace and the
    cnn stream."""
    out, missing = {}, []
    sources = []
    trace = Path(trace)
    if trace.is_file():
        tag = trace.stem.rsplit("_", 1)[0]
        model = Path("cnn/models") / f"{tag}.onnx"
        with np.load(trace) as d:
            a, b, layers = d["a"], d["b"], d["layer"]
        starts, n = p1.trace_starts(layers, p1.dot_lengths(model))
        sources.append((f"the {tag} int16 trace ({trace})", a[:n], b[:n], starts))
    else:
        missing.append(f"accumulator bound on the CNN trace ({trace} not found: make accuracy "
                       "writes it)")
    a, b = streams.make_stream("cnn", streams.Format("int", 16, True), pairs)
    sources.append((f"the cnn stream ({pairs} pairs, dot products of {streams.DOT_LENGTH})",
                    signed16(a), signed16(b), np.arange(pairs) % streams.DOT_LENGTH == 0))
    for name, a, b, starts in sources:
        for pe in ("mitch_int16", "int16"):
            unit, params, label = p1.PES[pe]
            o = p1.overflow(a, b, starts, unit=unit, **params)
            out[f"{name}: {label}"] = dict(o, unit=label, source=name)
    return out, missing


def network_bound(path):
    """The largest |dot-product result| of the int16 MACs over a whole network evaluation
    (``approxmac accuracy``'s max_abs_accumulator, accuracy.json), or [] without the file."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for r in json.loads(path.read_text())["records"]:
        if "max_abs_accumulator" in r and (r["mult"] == "int16" or (
                r["mult"].startswith("mitch_int16_w6_") and r["mult"].endswith("_c1"))):
            v = int(r["max_abs_accumulator"])
            out.append({"model": r["model"], "mult": r["mult"], "image_set": r["image_set"],
                        "max_abs_result": v, "bits": v.bit_length() + 1, "source": str(path)})
    return out


def paragraph(data):
    """The study's verdict, from its figures."""
    rows = data["rows"]
    best = p1.closest(rows)
    if best is None:
        return ""
    row, clock = best
    ratio = row[f"ratio_{clock}"]
    text = [f"Closest to {p1.CLAIM_RATIO:.2f}: {row['unit']} against bf16_mac ({row['library']}, "
            f"{row['scope']}, {p1._cfg(row)}) at a ratio of {ratio:.3f} "
            f"({'common' if clock == 'common' else 'own'} clock), a saving of "
            f"{100 * (1 - ratio):.1f} %"]
    # widths whose results stay right on the CNN trace (else on every overflow source)
    mitch = [o for o in (data.get("overflow") or {}).values()
             if o["unit"] == p1.PES["mitch_int16"][2]]
    trace = [o for o in mitch if "trace" in o["source"]] or mitch
    unsafe = {int(w) for o in trace for w, v in o["widths"].items() if v["wrong_results"]}
    if row["acc_width"] in unsafe:
        safe = p1.closest([r for r in rows if r["acc_width"] not in unsafe])
        if safe is not None:
            s, c = safe
            text.append(f", but its {row['acc_width']}-bit accumulator gives wrong results on "
                        f"the CNN trace (below); the closest with an accumulator that holds "
                        f"them is {s['unit']} ({s['library']}, {s['scope']}, {p1._cfg(s)}) at "
                        f"{s[f'ratio_{c}']:.3f} ({c} clock)")
    cross = data.get("cross_config") or []
    if cross:
        c = min(cross, key=lambda c: min(c["ratio_common"], c["ratio_own"]))
        text.append(f"; the most favourable mixed pairing ({c['unit']} {p1._cfg(c)} "
                    f"against the plain bf16 MAC, {c['library']}, {c['scope']}) gives "
                    f"{min(c['ratio_common'], c['ratio_own']):.3f}")
    all_ratios = [min(r["ratio_common"], r["ratio_own"]) for r in rows if r["pe"] != "int16"]
    reached = min(all_ratios) <= p1.CLAIM_RATIO
    text.append(". The paper's 80 % is " + ("reached" if reached else "not reached by any "
                                            "measured combination") + ". ")
    splits = {(s["library"], s["pe"], s["acc_width"]): s for s in data.get("splits") or []}
    for lib in dict.fromkeys(s["library"] for s in splits.values()):
        ref, mb = splits.get((lib, "bf16", None)), splits.get((lib, "mitch_bf16", None))
        if ref is None or mb is None:
            continue
        e, m, a = ref["energy_pj_per_op"], ref["multiplier_pj"], ref["accumulate_pj"]
        text.append(
            f"Where the energy goes (pipelined lone MACs on {lib}, split at the product "
            f"register): the bf16 MAC spends {e:.1f} pJ/MAC, its multiplier with the product "
            f"register only {m:.1f} pJ ({100 * m / e:.0f} %) against {a:.1f} pJ for the fp32 adder "
            f"with the accumulator, so even a free multiplier would leave a ratio of "
            f"{(e - m) / e:.2f}. The Mitch-w6 bf16 MAC keeps that adder: its multiplier part "
            f"falls to {mb['multiplier_pj']:.1f} pJ and its adder part to "
            f"{mb['accumulate_pj']:.1f} pJ (the same fp32 adder, fed Mitch-w6 products), the "
            f"adder {'giving the larger' if a - mb['accumulate_pj'] > m - mb['multiplier_pj'] else 'giving the smaller'} share of the saving. ")
        mi = splits.get((lib, "mitch_int16", 40))
        if mi is not None:
            text.append(
                f"The int16 Mitch MAC replaces the fp32 adder by a 40-bit integer one "
                f"({mi['accumulate_pj']:.1f} pJ with its accumulator), but its 16-bit Mitch "
                f"multiplier part alone ({mi['multiplier_pj']:.1f} pJ) is "
                f"{100 * mi['multiplier_pj'] / e:.0f} % of the bf16 MAC, against the "
                f"{100 * p1.CLAIM_RATIO:.0f} % ({p1.CLAIM_RATIO * e:.1f} pJ) the claim allows "
                f"the whole MAC, and the clock pins of its flip-flops add "
                f"{mi['clock_pj']:.1f} pJ ({mi['energy_pj_per_op']:.1f} pJ in all). ")
        break
    def span(deltas):
        return f"{min(deltas):+.3f}..{max(deltas):+.3f}" if deltas else None

    moves = []
    for what, field, a, b in (("pipelining", "pipeline", 0, 1),
                              ("zero gating", "gate_zero", False, True),
                              ("a 24- instead of a 40-bit int16 accumulator", "acc_width", 40, 24),
                              ("the 4 × 4 array instead of the lone MAC", "scope", "lone", "array"),
                              ("sky130hd instead of osu018", "library", "osu018", "sky130hd")):
        s = span(p1.effect([r for r in rows if r["pe"] != "int16"], field, a, b))
        if s:
            moves.append(f"{what} {s}")
    gap = max((abs(r["ratio_common"] - r["ratio_own"]) for r in rows), default=0.0)
    recs = [v["record"] for v in (data.get("runs") or {}).values()]
    leak = max((r["leakage_pj_per_op"] / r["energy_pj_per_op"] for r in recs), default=0.0)
    moves.append(f"the common instead of the own clocks at most {gap:.3f} in either direction "
                 f"(leakage, the only part that depends on the period, is at most "
                 f"{100 * leak:.2g} % of any measured energy)")
    if moves:
        text.append("How each option moves the ratio (common clock, Mitch pairings, "
                    "min..max over the other options): " + "; ".join(moves) + ". ")
    return "".join(text)


def write(data, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "p1_study.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (out_dir / "p1_study.md").write_text("\n".join(p1.render_markdown(data)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libraries", default=",".join(p1.LIBRARIES))
    ap.add_argument("--scopes", default=",".join(p1.SCOPES))
    ap.add_argument("--vectors", type=int, default=500, help="measured MACs per lone run")
    ap.add_argument("--array-vectors", type=int, default=200, help="measured cycles per array")
    ap.add_argument("--array-configs", default="p0",
                    help="array PE configs: comma-separated of p0, p0zg, p1, p1zg")
    ap.add_argument("--stream", default="cnn")
    ap.add_argument("--recipes", default=DEFAULT_RECIPE,
                    help=f"comma-separated mapping recipes of {', '.join(RECIPES)}")
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--overflow-pairs", type=int, default=20000)
    ap.add_argument("--accuracy", default="build/report/accuracy.json",
                    help="approxmac accuracy's output: the whole-network accumulator bound")
    ap.add_argument("--synth-dir", default="build/p1/synth")
    ap.add_argument("--add", action="append", default=[], metavar="FOLDER",
                    help="enter a finished result folder of `approxmac synth` (a study PE or its "
                         "4 × 4 array, same stream and vector count) as a run; repeatable")
    ap.add_argument("--dry-run", action="store_true", help="print the plan only")
    ap.add_argument("--no-run", action="store_true",
                    help="measure nothing: rewrite the outputs from p1_study.json's runs")
    ap.add_argument("-o", "--output", default="build/report")
    args = ap.parse_args(argv)
    names = {"p0": (0, False), "p0zg": (0, True), "p1": (1, False), "p1zg": (1, True)}
    try:
        array_configs = tuple(names[c] for c in args.array_configs.split(","))
    except KeyError:
        raise ParameterError(f"--array-configs: each of {', '.join(names)}; got "
                             f"{args.array_configs!r}") from None
    libraries = tuple(args.libraries.split(","))
    recipes = args.recipes.split(",")
    for recipe in recipes:
        if recipe not in RECIPES:
            raise ParameterError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    runs = p1.plan(libraries, tuple(args.scopes.split(",")), array_configs=array_configs)
    est = p1.estimate_seconds(runs, args.vectors, args.array_vectors) * len(recipes)
    counts = {s: sum(r.scope == s for r in runs) for s in p1.SCOPES}
    print(f"P1 study: {len(runs) * len(recipes)} runs ({', '.join(recipes)}; {', '.join(f'{n} {s}' for s, n in counts.items() if n)}) "
          f"on {', '.join(libraries)}; rough estimate {est / 60:.0f} min before caching "
          f"(2 busy cores)", flush=True)
    if args.dry_run:
        for r in runs:
            print(f"  {r.key}")
        return 0
    out_dir = Path(args.output)
    meta = {"stream": args.stream, "vectors": args.vectors, "array_vectors": args.array_vectors}
    old = out_dir / "p1_study.json"
    state = {"runs": {}, "parts_src": {}}
    if old.is_file():
        prev = json.loads(old.read_text())
        if {k: prev["meta"].get(k) for k in meta} == meta:
            state["runs"] = prev.get("runs", {})
            meta["commands"] = prev["meta"].get("commands", [])
    command = "PYTHONPATH=. nice -n 10 python tools/p1_study.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    meta["commands"] = [c for c in meta.get("commands", []) if c != command] + [command]
    failures = []
    for folder in args.add:
        name, entry = added_run(folder, args)
        state["runs"][name] = entry
        say(f"added {name} from {folder}: {entry['record']['energy_pj_per_op']:.4f} pJ/op")

    def assemble():
        measured = p1.merge_recipes({k: v["record"] for k, v in state["runs"].items()})
        meta["recipes"] = sorted({k.split("@")[1] for k in state["runs"]})
        rows = p1.table(measured)
        data = {"meta": meta, "rows": rows, "cross_config": p1.cross_config(measured),
                "runs": state["runs"], "claim_ratio": p1.CLAIM_RATIO,
                "missing": [f"{k}: {m}" for k, m in failures]}
        parts = {}
        for k, v in measured.items():
            run = p1.parse_key(k)
            if run.scope == "part":
                parts.setdefault(run.library, {})[run.label] = v["energy_pj_per_op"]
        data["parts"] = parts
        return data

    t0 = time.time()
    jobs = [] if args.no_run else [(run, recipe) for recipe in recipes for run in runs]
    for i, (run, recipe) in enumerate(jobs):
        t = time.time()
        name = f"{run.key}@{recipe}"
        try:
            rec, folder = measure(run, recipe, args)
        except (ParameterError, RuntimeError) as e:
            failures.append((name, str(e).splitlines()[0]))
            say(f"[{i + 1}/{len(jobs)}] {name}: FAILED {str(e).splitlines()[0]}")
            continue
        state["runs"][name] = {"record": rec, "folder": str(folder)}
        say(f"[{i + 1}/{len(jobs)}] {name}: {rec['energy_pj_per_op']:.4f} pJ/op, delay "
            f"{rec['delay_ns']:.3f} ns ({time.time() - t:.0f} s; {time.time() - t0:.0f} s so far)")
        write(assemble(), out_dir)
    data = assemble()
    # The energy breakdowns: every array and the closest pairing's units (each run's
    # lowest-energy netlist); the splits of the pipelined lone MACs.
    measured = p1.merge_recipes({k: v["record"] for k, v in state["runs"].items()})
    wanted = [k for k in measured if k.startswith("array/")]
    best = p1.closest(data["rows"])
    if best is not None:
        run = p1.Run(**{f: best[0][f] for f in ("scope", "library", "pe", "pipeline",
                                                  "gate_zero", "acc_width")})
        wanted += [run.key, p1._reference_run(run).key]
    data["breakdowns"] = []
    for k in dict.fromkeys(wanted):
        folder = Path(state["runs"][f"{k}@{measured[k]['recipe']}"]["folder"])
        if (folder / "netlist.json").is_file():
            data["breakdowns"].append(dict(flop_split(folder, p1.parse_key(k)), key=k))
    data["splits"] = []
    for k in measured:
        run = p1.parse_key(k)
        if run.scope == "lone" and run.pipeline == 1 and not run.gate_zero:
            folder = Path(state["runs"][f"{k}@{measured[k]['recipe']}"]["folder"])
            if (folder / "netlist.json").is_file():
                data["splits"].append(mac_split(folder, run))
    order = ("bf16", "mitch_bf16", "mitch_int16", "int16")
    data["splits"].sort(key=lambda s: (s["library"], order.index(s["pe"]), -(s["acc_width"] or 0)))
    data["overflow"], missing = overflow_section(args.trace, args.overflow_pairs)
    data["network_bound"] = network_bound(args.accuracy)
    data["missing"] += missing
    data["paragraph"] = paragraph(data)
    write(data, out_dir)
    if p1.attach_p1(out_dir):
        say(f"attached the P1 section to {out_dir / 'REPORT.md'}")
    print(f"wrote {out_dir / 'p1_study.json'}, {out_dir / 'p1_study.md'} ({len(data['rows'])} "
          f"rows, {len(failures)} failed runs, {time.time() - t0:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ParameterError as e:
        print(f"p1_study: {e}", file=sys.stderr)
        sys.exit(2)
