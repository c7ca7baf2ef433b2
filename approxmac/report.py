"""``approxmac report`` (``make report``): the cost flow over the default unit set.

Runs synth.flow.synth_unit for every entry of DEFAULT_SET and every stream (two at a time on two
cores), then writes into the output folder:

* ``pairings.json`` -- every pairing's figures under HEADLINE_RULE (common clock, the chosen
  recipes, energies and savings iso-clock and at own clocks), library by library;
* ``costs.json`` -- the list of every result record (the fields of result.json plus the
  report's ``label``), in default-set order, stream by stream, with sorted keys, fixed seeds and
  no timestamps, so two runs give the same bytes; skipped entries are listed in REPORT.md;
* ``REPORT.md``  -- area, delay and energy per operation per stream; the saving of every MAC
  against the bf16 MAC and of every approximate unit against its exact counterpart, each row
  naming its pairing; the OpenSTA cross-check; what the numbers say about the 80 % claim;
* ``energy_area_vs_w.png`` and ``energy_by_unit.png``.

The default set is a table: an entry whose unit is not (yet) in hdl/catalogue.py, or whose
parameters the unit does not take, is skipped with a message instead of failing the report.
"""

import json
import os
import statistics
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from golden.params import ParameterError

from hdl.catalogue import UNITS
from sweep.runner import Task, run_tasks


@dataclass(frozen=True)
class Entry:
    unit: str
    params: dict = field(default_factory=dict)
    exact: str = ""          # label of the exact counterpart this approximate unit is paired with
    lone: str = ""           # arrays: label of the lone PE they are compared with
    max_vectors: int = 0     # arrays: measured cycles are capped (each cycle is R x C MACs)
    first_stream_only: bool = False   # arrays: gate-level runs of ~40k cells take minutes each
    first_library_only: bool = False  # arrays, lone multipliers, adder: first --liberty only
    one_recipe: bool = False          # the default mapping recipe only (arrays: ARRAY_RECIPE)

    @property
    def label(self):
        shown = {k: v for k, v in self.params.items() if k != "variant"}
        return " ".join([self.unit] + [f"{k}={v}" for k, v in shown.items()])

    @property
    def is_mac(self):
        return self.unit.endswith("_mac")

    @property
    def is_array(self):
        return self.unit == "systolic"


BASELINE = "bf16_mac"


# Measured cycles of a 4 x 4 array: two tiles of K = 64 (2 048 MACs). The arrays are not
# headline pairings and their gate-level runs (~38 000 cells) were most of make report's time.
ARRAY_CYCLES = 128
# The arrays' one mapping recipe: Yosys's default mapping plus ABC's buffering of high-fanout
# nets and sizing, without which a flattened float array misses its PE's speed (synth/README.md,
# "Why abc-buf"). Their lone PEs are compared under the same recipe.
ARRAY_RECIPE = "abc-buf"


def unit_set(ws):
    """The report's units with the Mitch-w MACs at every w of ``ws``."""
    return (
    [Entry("bf16_mac")]
    + [Entry("mitch_bf16_mac", {"w": w, "variant": "trunc"}, exact="bf16_mac") for w in ws]
    + [Entry("int_mac", {"n": n}) for n in (8, 16)]
    + [Entry("mitch_mac", {"n": 16, "w": w, "variant": "trunc", "signed": "c1"},
             exact="int_mac n=16") for w in ws]
    # The lone multipliers and the adder explain the MACs; the other libraries price the MAC
    # pairings only.
    + [Entry("int_mul", {"n": 16, "signed": "none"}, first_library_only=True),
       Entry("mitch_mul", {"n": 16, "w": 6, "variant": "trunc", "signed": "none"},
             exact="int_mul n=16 signed=none", first_library_only=True),
       Entry("fp32_add", first_library_only=True)]
    + [Entry("systolic", dict(rows=4, cols=4, pe=pe, **params), exact=exact, lone=lone,
             max_vectors=ARRAY_CYCLES, first_stream_only=True, first_library_only=True)
       for pe, params, exact, lone in [
           ("bf16_mac", {}, "", "bf16_mac"),
           ("mitch_bf16_mac", {"w": 6, "variant": "trunc"}, "systolic rows=4 cols=4 pe=bf16_mac",
            "mitch_bf16_mac w=6"),
           ("int_mac", {"n": 16}, "", "int_mac n=16"),
           ("mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"},
            "systolic rows=4 cols=4 pe=int_mac n=16", "mitch_mac n=16 w=6 signed=c1"),
           # the control variate's cost (issue #12): the Mitch-w3 array with and without cv
           ("mitch_mac", {"n": 16, "w": 3, "variant": "trunc", "signed": "c1"},
            "systolic rows=4 cols=4 pe=int_mac n=16", "mitch_mac n=16 w=3 signed=c1"),
           ("mitch_mac", {"n": 16, "w": 3, "variant": "trunc", "signed": "c1", "cv": True},
            "systolic rows=4 cols=4 pe=mitch_mac n=16 w=3 signed=c1", "mitch_mac n=16 w=3 signed=c1")]])


# PLAM against the exact posit units, per posit<n, es> format: multipliers and quire MACs.
# Their gate-level runs are long (osu018, 2000 cnn vectors, 2 busy cores: posit<8,0> MAC
# ~2 min, posit<16,1> multiplier ~4 min; STATUS of the positcost branch), so they run 500
# vectors, the default recipe and the first library only, and make report has posit<8,0> only.
POSIT_FORMATS = ((8, 0),)
POSIT_FORMATS_FULL = ((8, 0), (16, 1), (32, 2))
POSIT_VECTORS = 500


def posit_entries(formats):
    """posit_mul, plam_mul (paired with it), posit_mac, plam_mac (paired) per (n, es)."""
    entries = []
    cheap = dict(max_vectors=POSIT_VECTORS, one_recipe=True, first_library_only=True)
    for n, es in formats:
        for exact, approx in (("posit_mul", "plam_mul"), ("posit_mac", "plam_mac")):
            ref = Entry(exact, {"n": n, "es": es}, **cheap)
            entries += [ref, Entry(approx, {"n": n, "es": es}, exact=ref.label, **cheap)]
    return entries


DEFAULT_SET = unit_set((4, 6, 8)) + posit_entries(POSIT_FORMATS)
# make report-full: the Mitch-w MACs (bf16 and int16) over the full sweep w = 2..8, and the posit
# units at <16,1> and <32,2> too.
FULL_SET = unit_set(range(2, 9)) + posit_entries(POSIT_FORMATS_FULL)
SETS = {"default": DEFAULT_SET, "full": FULL_SET}
ARRAY_BASELINE = "systolic rows=4 cols=4 pe=bf16_mac"
# The pairings the paper's "up to 80 % less energy than a bfloat16 MAC" is about.
CLAIM_PAIRS = ("mitch_mac n=16 w=6 signed=c1", "mitch_bf16_mac w=6")


UNIT_RULE = ("a unit's own figure (its row in the unit table, the plots, costs.json) is its "
             "lowest-energy netlist over the mapping recipes, each netlist clocked at its own "
             "critical path + 10 % (the flow's default clock), on the same stream")
HEADLINE_RULE = ("the headline figure of each unit in a pairing is its lowest-energy netlist over "
                 "the mapping recipes that meets the pairing's common clock; the common clock is "
                 "the slower of the two units' lowest-energy netlists' critical paths (so neither "
                 "unit is forced onto a faster, costlier netlist than it needs at that clock); "
                 "energies at the common clock count leakage at that period. The own-clock saving "
                 "of a pairing compares the same two netlists, each at its own clock (critical "
                 "path + 10 %)")
# The per-recipe figures costs.json lists under ``recipes`` (a pairing is computed from them).
RECIPE_FIELDS = ("recipe", "cells", "area_um2", "delay_ns", "clock_ns", "dynamic_pj_per_op",
                 "leakage_pj_per_op", "energy_pj_per_op")


def headline(outcomes, groups, recipes):
    """One outcome per (unit, stream, library) in ``groups`` order: UNIT_RULE's pick among its
    recipes' results, whose record gains ``recipes`` = every recipe's RECIPE_FIELDS (what
    :func:`pairing` chooses from); when no recipe succeeded, the first failure (else the first
    skip)."""
    merged = []
    for entry, stream, lib in groups:
        mine = [o for o in outcomes if o[1].label == entry.label and o[2] == stream and o[5] == lib]
        mine.sort(key=lambda o: recipes.index(o[6]) if o[6] in recipes else -1)
        ok = [o for o in mine if o[0] == "ok"]
        failed = [o for o in mine if o[0] == "failed"]
        if not ok:
            merged.append((failed or mine)[0][:6])
            continue
        best = min(ok, key=lambda o: (o[3]["energy_pj_per_op"], recipes.index(o[6])
                                      if o[6] in recipes else -1))
        spread = [{k: o[3][k] for k in RECIPE_FIELDS} for o in ok]
        merged.append(("ok", entry, stream, dict(best[3], recipes=spread), best[4], lib))
        merged += [o[:6] for o in failed]      # a failed recipe is reported, not hidden
    return merged


def iso_energy(rec, period_ns):
    """Energy per operation of a measured netlist (a result record or one of its ``recipes``)
    clocked at ``period_ns`` instead of its own clock.

    Once every path settles within the period, a longer period spaces the same events further
    apart: the counted toggles, hence the dynamic energy per operation, are unchanged, and only
    the leakage per operation grows with the period (leakage power x period / operations per
    period, i.e. the own-clock leakage per operation scaled by period / own clock).

    Raises
    ------
    ValueError
        When ``period_ns`` is below the netlist's critical path."""
    if period_ns < rec["delay_ns"]:
        raise ValueError(f"{rec.get('module', rec.get('recipe'))}: period {period_ns} ns below "
                         f"its critical path {rec['delay_ns']} ns")
    return rec["dynamic_pj_per_op"] + rec["leakage_pj_per_op"] * period_ns / rec["clock_ns"]


def _netlists(rec):
    return rec.get("recipes") or [{k: rec[k] for k in RECIPE_FIELDS}]


def pairing(rec, ref, order=()):
    """HEADLINE_RULE applied to two measured units (result records with their ``recipes``).

    Returns a dict: ``period_ns`` (the common clock), ``unit`` and ``ref`` (the chosen
    netlists' recipe figures), ``iso_pj`` and ``own_pj`` (unit, reference energies at the common
    clock and at their own clocks), ``iso_saving``, ``own_saving`` and ``area_saving`` (%).
    Ties go to the recipe listed first in ``order`` (then to the record's order)."""
    mine, theirs = _netlists(rec), _netlists(ref)
    rank = lambda x: order.index(x["recipe"]) if x["recipe"] in order else len(order)  # noqa: E731
    cheapest = lambda n: min(n, key=lambda x: (x["energy_pj_per_op"], rank(x)))  # noqa: E731
    period = max(cheapest(mine)["delay_ns"], cheapest(theirs)["delay_ns"])

    def pick(netlists):
        fit = [x for x in netlists if x["delay_ns"] <= period]
        return min(fit, key=lambda x: (iso_energy(x, period), rank(x)))

    u, r = pick(mine), pick(theirs)
    iso = (iso_energy(u, period), iso_energy(r, period))
    own = (u["energy_pj_per_op"], r["energy_pj_per_op"])
    return {"period_ns": period, "unit": u, "ref": r, "iso_pj": iso, "own_pj": own,
            "iso_saving": _saving(*iso), "own_saving": _saving(*own),
            "area_saving": _saving(u["area_um2"], r["area_um2"])}


def _cpu_s():
    """CPU seconds (user + sys) of this process and of its finished child processes."""
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _say(line):
    """Progress goes to stderr (stdout keeps the command's result lines)."""
    print(line, file=sys.stderr, flush=True)


def _run_one(entry, stream, vectors, out_root, liberty=None, cache=True, recipe=None):
    """Worker: (status, entry, stream, record or message, details)."""
    from synth.flow import DEFAULT_RECIPE, synth_unit
    recipe = recipe or DEFAULT_RECIPE
    cpu0 = _cpu_s()
    if entry.unit not in UNITS:
        return ("skipped", entry, stream, f"unit {entry.unit} is not in hdl/catalogue.py yet", None)
    try:
        if entry.max_vectors:
            vectors = min(vectors, entry.max_vectors)
        record = synth_unit(entry.unit, entry.params, stream=stream, vectors=vectors,
                            out_root=Path(out_root) / stream, liberty=liberty, cache=cache,
                            recipe=recipe,
                            progress=lambda msg: _say(f"  {msg} [{stream}, {liberty}]"))
    except ParameterError as e:
        return ("skipped", entry, stream, f"{entry.label}: {e}", None)
    except Exception as e:  # a tool failure is reported, not hidden; the other runs go on
        return ("failed", entry, stream, f"{entry.label}: {e}\n{traceback.format_exc(limit=3)}",
                None)
    folder = record["module"] if recipe == DEFAULT_RECIPE else f"{record['module']}--{recipe}"
    details = json.loads((Path(out_root) / stream / record["liberty"]["name"] / folder
                          / "details.json").read_text())
    # What this task cost (its worker runs one task at a time): reported, never stored.
    details["task_cpu_s"] = _cpu_s() - cpu0
    _say(f"  [{record['module']}] task CPU {details['task_cpu_s']:.1f} s (user + sys, worker "
         f"and its tools) [{stream}, {liberty}, {recipe}]")
    return ("ok", entry, stream, record, details)


def run_report(out_dir="build/report", vectors=2000, jobs=None, streams=("cnn", "uniform"),
               entries=DEFAULT_SET, liberties=(None,), cache=True, recipes=None, scheduler=None):
    """Run the default set on every library and write costs.json, REPORT.md and the plots.
    Returns 0, or 1 when a run failed (skipped entries are not failures).

    ``liberties``: built-in names or Liberty files (None: the default library); REPORT.md has one
    part per library, and the plots of every library after the first carry its name.
    ``recipes``: the mapping recipes every unit runs through (default: all of synth.flow.RECIPES;
    arrays only ARRAY_RECIPE, the posit units only the default one); the headline figure of a
    unit is HEADLINE_RULE's pick, and costs.json lists every recipe's figures next to it. ``scheduler``: where the runs go
    (sweep.runner.run_tasks: None = a LocalCluster of ``jobs`` worker processes, "serial", or
    tcp://HOST:PORT of a running dask cluster); costs.json has the same bytes either way."""
    from synth import libraries
    from synth.flow import DEFAULT_RECIPE, RECIPES
    recipes = list(recipes or RECIPES)
    for recipe in recipes:
        if recipe not in RECIPES:
            raise ParameterError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    from synth.streams import make_stream, operand_format
    specs = [libraries.resolve(lib) for lib in liberties]   # bad names fail before any run
    for spec in specs:
        libraries.build(spec)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ParameterError(f"liberty: each library once, got {', '.join(names)}")
    for stream in streams:        # reject a bad stream before any tool runs
        make_stream(stream, operand_format("int_mac", {"n": 8}), 1)
    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 1:
        raise ParameterError(f"vectors must be a positive integer, got {vectors!r}")
    if scheduler not in (None, "serial") and not str(scheduler).startswith("tcp://"):
        raise ParameterError(f"scheduler must be serial or tcp://HOST:PORT, got {scheduler!r}")
    jobs = jobs or max(1, min(2, os.cpu_count() or 1))
    if jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = [(e, s, lib) for lib in names for s in streams for e in entries
              if (s == streams[0] or not e.first_stream_only)
              and (lib == names[0] or not e.first_library_only)]
    tasks = [(e, s, lib, r) for e, s, lib in groups
             for r in ([ARRAY_RECIPE] if e.is_array else [DEFAULT_RECIPE] if e.one_recipe
                       else recipes)]
    _say(f"approxmac report: {len(tasks)} runs ({len(entries)} units, {len(streams)} streams, "
         f"{len(names)} libraries, recipes {', '.join(recipes)}), {vectors} vectors each, "
         f"{jobs} in parallel")
    # A user's library travels by path, a built-in one by name.
    given = {spec.name: spec.name if spec.name in libraries.BUILTIN else str(spec.path)
             for spec in specs}
    # The arrays' gate-level runs are the longest tasks by far: they go first, so that no
    # worker is left running one alone at the end while the others idle.
    first = sorted(range(len(tasks)), key=lambda i: not tasks[i][0].is_array)
    done = run_tasks(
        _run_one, [Task(f"{e.label} ({s}, {lib}, {r})",
                        (e, s, vectors, str(out_dir / "synth"), given[lib], cache, r))
                   for e, s, lib, r in (tasks[i] for i in first)],
        scheduler=scheduler, n_workers=jobs, label="approxmac report", progress=_say)
    results = [None] * len(tasks)
    for i, result in zip(first, done):
        results[i] = result
    cpu = sum(r[4]["task_cpu_s"] for r in results if r[0] == "ok")
    _say(f"approxmac report: the {len(tasks)} tasks took {cpu:.0f} CPU s (user + sys, workers "
         f"and tools)")
    outcomes = []
    for (e, s, lib, r), (status, entry, stream, payload, details) in zip(tasks, results):
        outcomes.append((status, entry, stream, payload, details, lib, r))
        if status != "ok":
            _say(f"{status} {entry.label} ({stream}, {lib}, {r}): {payload.splitlines()[0]}")
    outcomes = headline(outcomes, groups, recipes)
    # costs.json: the list of result records (plus the report's label), in default-set order,
    # library by library.
    costs = [dict(o[3], label=o[1].label) for o in outcomes if o[0] == "ok"]
    (out_dir / "costs.json").write_text(json.dumps(costs, indent=2, sort_keys=True) + "\n")
    parts, plots, pairs = [], [], []
    for k, lib in enumerate(names):
        mine = [o[:5] for o in outcomes if o[5] == lib]
        results = [o for o in mine if o[0] == "ok"]
        pairs += pairing_records(results, streams, lib, recipes)
        suffix = "" if k == 0 else f"_{lib}"
        parts.append(render_markdown(results, mine, streams, vectors, suffix=suffix,
                                     order=recipes))
        plots += write_plots(results, streams, out_dir, suffix=suffix)
    (out_dir / "pairings.json").write_text(json.dumps(pairs, indent=2, sort_keys=True) + "\n")
    (out_dir / "REPORT.md").write_text("\n".join(parts))
    attach_accuracy(out_dir)
    from .p1 import attach_p1      # the P1 study's table (tools/p1_study.py), when it was run
    attach_p1(out_dir)
    print(f"wrote {out_dir / 'costs.json'}, {out_dir / 'REPORT.md'}, "
          + ", ".join(str(p) for p in plots))
    for o in outcomes:
        if o[0] == "failed":
            print(f"approxmac report: FAILED {o[1].label} ({o[2]}): {o[3]}", file=sys.stderr)
    return 1 if any(o[0] == "failed" for o in outcomes) else 0


ACCURACY_BEGIN, ACCURACY_END = "<!-- accuracy: begin -->", "<!-- accuracy: end -->"


def attach_accuracy(out_dir="build/report"):
    """Put accuracy.md (written by ``approxmac accuracy``) and its plots into REPORT.md.

    Called after either job, so REPORT.md holds both whichever ran last; the section sits
    between markers and is replaced, never duplicated. Does nothing until both files exist."""
    out_dir = Path(out_dir)
    report, table = out_dir / "REPORT.md", out_dir / "accuracy.md"
    if not (report.is_file() and table.is_file()):
        return False
    section = ["## CNN accuracy (approxmac accuracy)", "", table.read_text().strip(), ""]
    for png, title in (("accuracy_vs_w.png", "accuracy vs w"),
                       ("accuracy_energy.png", "accuracy vs energy per MAC")):
        if (out_dir / png).is_file():
            section += [f"![{title}]({png})", ""]
    put_section(report, ACCURACY_BEGIN, ACCURACY_END, "\n".join(section).rstrip("\n"))
    return True


def put_section(report, begin, end, body):
    """Append ``body`` to the file ``report`` between the marker lines ``begin`` and ``end``,
    removing an older copy between the same markers first (never duplicated)."""
    text = report.read_text()
    if begin in text:
        text = text[:text.index(begin)] + text[text.index(end) + len(end):]
    report.write_text(text.rstrip("\n") + "\n\n" + begin + "\n" + body + "\n" + end + "\n")


def _saving(value, reference):
    return 100.0 * (1.0 - value / reference)


def _pairing_text(label, rec, ref_label, ref, order=()):
    if ref is None:
        return f"{ref_label} not measured"
    p = pairing(rec, ref, order)
    return (f"{label} vs {ref_label}: energy {p['own_saving']:.1f} %, area "
            f"{p['area_saving']:.1f} % ({p['unit']['recipe']} vs {p['ref']['recipe']})")


def _index(results):
    return {(r[1].label, r[2]): r[3] for r in results}


def render_markdown(results, outcomes, streams, vectors, suffix="", order=()):
    """One library's REPORT.md part. ``order``: the recipes in their listed order (ties)."""
    by = _index(results)
    tools = results[0][3]["tools"] if results else {}
    info = results[0][3]["liberty"] if results else {"name": "?", "corner": "?", "sha256": "?"}
    lib = info["name"]
    lines = [f"# approxmac cost report: library `{lib}`", "",
             f"Library `{lib}`, corner `{info['corner']}`, sha256 `{info['sha256']}`.", "",
             f"Produced by `approxmac report` (`make report`): every unit of the default set "
             f"synthesized with Yosys to the `{lib}` standard cells, timed with OpenSTA, and "
             f"simulated at gate level with delays over {vectors} operations of each operand "
             f"stream ({', '.join(streams)}; see synth/streams.py). Energy per operation = "
             f"toggle-counted internal + switching energy + leakage × clock period "
             f"(synth/README.md). A MAC's operation is one multiply-accumulate; a multiplier's is "
             f"one product, an adder's one sum. Saving = 1 − E(unit) / E(reference); a negative "
             f"saving is a cost increase.", "",
             "Tools: " + ", ".join(f"{k} {v}" for k, v in sorted(tools.items())), "",
             f"Rules: {UNIT_RULE}; {HEADLINE_RULE}. The saving columns below are pairing "
             f"figures (own clocks) and name the two netlists' recipes, which may differ from "
             f"the rows' own picks.", ""]
    for stream in streams:
        lines += [f"## Stream `{stream}`", "",
                  "| unit | module | cells | area µm² | delay ns | clock ns | energy pJ/op "
                  "| saving vs the bf16 MAC (pairing) | saving vs the exact counterpart (pairing) |",
                  "|---|---|---:|---:|---:|---:|---:|---|---|"]
        base = by.get((f"{BASELINE}", stream))
        for status, entry, s, rec, _ in results:
            if s != stream:
                continue
            if entry.is_array:
                vs_bf16 = ("reference (arrays)" if entry.label == ARRAY_BASELINE else
                           _pairing_text(entry.label, rec, ARRAY_BASELINE, by.get((ARRAY_BASELINE, stream)), order))
            elif entry.is_mac and entry.unit != BASELINE:
                vs_bf16 = _pairing_text(entry.label, rec, BASELINE, base, order)
            elif entry.unit == BASELINE:
                vs_bf16 = "reference"
            else:
                vs_bf16 = "— (not a MAC)"
            vs_exact = (_pairing_text(entry.label, rec, entry.exact, by.get((entry.exact, stream)), order)
                        if entry.exact else "— (exact unit)")
            lines.append(f"| {entry.label} | `{rec['module']}` | {rec['cells']} | "
                         f"{rec['area_um2']:.0f} | {rec['delay_ns']:.3f} | {rec['clock_ns']:g} | "
                         f"{rec['energy_pj_per_op']:.3f} | {vs_bf16} | {vs_exact} |")
        lines.append("")
    lines += noise_section(results)
    lines += iso_clock_section(results, streams, order)
    lines += monotone_section(results, streams)
    lines += array_section(results, by, streams)
    lines += claim_section(by, streams, order)
    lines += plam_section(results)
    lines += crosscheck_section(results)
    skipped = [o for o in outcomes if o[0] != "ok"]
    if skipped:
        lines += ["## Not measured", ""]
        lines += [f"* {o[1].label} ({o[2]}): {o[0]} — {o[3].splitlines()[0]}" for o in skipped]
        lines.append("")
    lines += ["## Plots", "", f"![energy and area vs w](energy_area_vs_w{suffix}.png)", "",
              f"![energy per operation by unit and stream](energy_by_unit{suffix}.png)", ""]
    return "\n".join(lines)


def pairings_of(results, streams):
    """Every pairing the report evaluates: (unit label, reference label, stream) for every MAC
    against the bf16 MAC (arrays: against the bf16 array) and every approximate unit against
    its exact counterpart, both units measured."""
    by = {(r[1].label, r[2]) for r in results}
    pairs = []
    for _, entry, stream, _, _ in results:
        if entry.is_array:
            ref = ARRAY_BASELINE if entry.label != ARRAY_BASELINE else ""
            pairs += [(entry.label, ref, stream)] if ref else []
            pairs += [(entry.label, entry.exact, stream)] if entry.exact and entry.exact != ref else []
            continue
        if entry.is_mac and entry.unit != BASELINE:
            pairs.append((entry.label, BASELINE, stream))
        if entry.exact and entry.exact != BASELINE:
            pairs.append((entry.label, entry.exact, stream))
    return [p for p in pairs if (p[0], p[2]) in by and (p[1], p[2]) in by]


def pairing_records(results, streams, liberty, order=()):
    """pairings.json's entries of one library: every pairing's HEADLINE_RULE figures."""
    by = _index(results)
    out = []
    for label, ref, stream in pairings_of(results, streams):
        p = pairing(by[(label, stream)], by[(ref, stream)], order)
        out.append({"liberty": liberty, "unit": label, "reference": ref, "stream": stream,
                    "period_ns": p["period_ns"], "unit_recipe": p["unit"]["recipe"],
                    "reference_recipe": p["ref"]["recipe"],
                    "iso_pj_per_op": [round(x, 6) for x in p["iso_pj"]],
                    "own_pj_per_op": list(p["own_pj"]),
                    "iso_saving_pct": round(p["iso_saving"], 3),
                    "own_saving_pct": round(p["own_saving"], 3),
                    "area_saving_pct": round(p["area_saving"], 3)})
    return out


def iso_clock_section(results, streams, order=()):
    """Every pairing under HEADLINE_RULE: at the common clock and at the two netlists' own
    clocks."""
    by = _index(results)
    rows = []
    for label, ref, stream in pairings_of(results, streams):
        p = pairing(by[(label, stream)], by[(ref, stream)], order)
        rows.append(f"| {label} vs {ref} | {stream} | {p['unit']['recipe']} / "
                    f"{p['ref']['recipe']} | {p['period_ns']:.3f} | {p['iso_pj'][0]:.3f} | "
                    f"{p['iso_pj'][1]:.3f} | {p['iso_saving']:.1f} % | {p['own_pj'][0]:.3f} | "
                    f"{p['own_pj'][1]:.3f} | {p['own_saving']:.1f} % |")
    if not rows:
        return []
    return ["## Pairings: iso-clock and own-clock", "",
            f"Rule: {HEADLINE_RULE}. Energy at the common clock = dynamic energy per operation "
            "(which does not depend on the period once every path settles within it) + leakage "
            "power × period / operations per period. The saving columns of the unit tables "
            "above are the own-clock savings of these same netlists.", "",
            "| pairing | stream | netlists (unit / reference recipe) | common clock ns "
            "| energy pJ/op | reference pJ/op | saving, iso-clock "
            "| energy pJ/op, own clock | reference pJ/op, own clock | saving, own clocks |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]


def _spread(values):
    values = sorted(values)
    return values[0], float(statistics.median(values)), values[-1]


def noise_section(results):
    """Min / median / max area and energy over the mapping recipes of every unit."""
    rows = [r for r in results if len(r[3].get("recipes", [])) > 1]
    if not rows:
        return []
    lines = ["## Synthesis noise (mapping recipes)", "",
             "Every unit mapped by each recipe of `synth.flow.RECIPES` (`abc`: Yosys's default "
             "ABC script; `abc-area`: area-oriented `map -a`; `abc-delay`: delay-oriented `map` "
             "with buffering and gate sizing; `abc-buf`: the default script, then ABC's "
             "buffering of high-fanout nets and gate sizing), each netlist timed and simulated "
             "on its own. "
             f"The unit's own pick ({UNIT_RULE}) is named; pairings choose by their own rule (see "
             f"Pairings). Spread = (max − min) / min.", "",
             "| unit | stream | lowest-energy recipe | area µm² min / median / max | spread "
             "| energy pJ/op min / median / max | spread |",
             "|---|---|---|---|---:|---|---:|"]
    for _, entry, stream, rec, _ in rows:
        area = _spread([x["area_um2"] for x in rec["recipes"]])
        energy = _spread([x["energy_pj_per_op"] for x in rec["recipes"]])
        lines.append(f"| {entry.label} | {stream} | {rec['recipe']} | "
                     f"{area[0]:.0f} / {area[1]:.0f} / {area[2]:.0f} | "
                     f"{100 * (area[2] / area[0] - 1):.1f} % | "
                     f"{energy[0]:.3f} / {energy[1]:.3f} / {energy[2]:.3f} | "
                     f"{100 * (energy[2] / energy[0] - 1):.1f} % |")
    lines.append("")
    return lines


W_FAMILIES = (("mitch_bf16_mac", "mitch_bf16_mac w={w}"),
              ("mitch_mac", "mitch_mac n=16 w={w} signed=c1"))


def monotone_section(results, streams):
    """Area and energy of the Mitch-w MACs should grow with w (more bits kept): every step
    where the unit's figure (UNIT_RULE) falls as w grows is listed with the recipe spread of
    both ends, and whether the fall lies inside the mapping noise (the two w's min..max ranges
    over the recipes overlap) or also holds for the best netlist of each w (min over recipes)."""
    by = _index(results)
    lines, rows, checked = [], [], 0
    for stream in streams:
        for family, pattern in W_FAMILIES:
            ws = [w for w in range(2, 17) if (pattern.format(w=w), stream) in by]
            for key, unit in (("area_um2", "area µm²"), ("energy_pj_per_op", "energy pJ/op")):
                for lo, hi in zip(ws, ws[1:]):
                    checked += 1
                    a, b = by[(pattern.format(w=lo), stream)], by[(pattern.format(w=hi), stream)]
                    if b[key] >= a[key]:
                        continue
                    ra = [x[key] for x in _netlists(a)]
                    rb = [x[key] for x in _netlists(b)]
                    overlap = min(ra) <= max(rb) and min(rb) <= max(ra)
                    f = (lambda x: f"{x:.0f}") if key == "area_um2" else (lambda x: f"{x:.3f}")
                    best = (f"the best netlists are monotone (min {f(min(ra))} ≤ {f(min(rb))})"
                            if min(ra) <= min(rb) else
                            f"the best netlists fall too (min {f(min(ra))} > {f(min(rb))})")
                    rows.append(f"| {family} | {stream} | {unit} | w={lo} → w={hi} | "
                                f"{f(a[key])} ({a['recipe']}) → {f(b[key])} ({b['recipe']}) | "
                                f"{f(min(ra))}..{f(max(ra))} | {f(min(rb))}..{f(max(rb))} | "
                                f"{'inside the recipe spread' if overlap else 'outside the recipe spread'}"
                                f"; {best} |")
    if not checked:
        return []
    intro = ("Area and energy of a Mitch-w MAC should not fall as w grows (it keeps more bits). "
             f"Checked: {checked} steps from one measured w to the next, of each family, stream "
             "and cost, on the units' own picks (lowest-energy recipe).")
    if not rows:
        return ["## Monotonicity in w", "", intro + " Every step is monotone.", ""]
    lines = ["## Monotonicity in w", "",
             intro + f" {len(rows)} steps fall; each is listed with both w's range over the "
             "mapping recipes (min..max). A fall inside the recipe spread is mapping noise: ABC "
             "maps the larger circuit to a smaller or quieter netlist than the smaller one, by "
             "less than the spread of either.", "",
              "| family | stream | cost | step | unit's figure (recipe) | range at the lower w "
              "| range at the higher w | explanation |",
              "|---|---|---|---|---|---|---|---|", *rows, ""]
    return lines


def array_section(results, by, streams):
    """4 x 4 arrays: fmax, energy per MAC with the array's registers and wiring, and the
    overhead against R·C lone MACs of the same PE measured on the same stream."""
    arrays = [r for r in results if r[1].is_array]
    if not arrays:
        return []
    cycles = ", ".join(sorted({str(r[3]["vectors"]) for r in arrays}))
    macs = ", ".join(sorted({f"{r[4]['measured_ops']:,}".replace(",", " ") for r in arrays}))
    lines = ["## Systolic arrays", "",
             "Energy per MAC of an R × C array = its energy per cycle / (R·C): every PE does one "
             "MAC per cycle while tiles of K = 64 stream back to back (valid = 1, last every 64 "
             f"cycles), over {cycles} measured cycles ({macs} MACs) of the first stream only, "
             "since a gate-level run of a ~40 000-cell array takes minutes. "
             f"Every array is mapped with the `{ARRAY_RECIPE}` recipe (ABC's buffering of "
             "high-fanout nets and gate sizing after Yosys's default mapping: without it a "
             "flattened float array misses its PE's speed; synth/README.md). "
             "Overhead = the array against R·C lone MACs of its PE (area) and against "
             "one lone MAC (energy per MAC), the lone PE's netlist of the same recipe, both "
             "measured on the same stream; the array adds "
             "skew, operand-forwarding and de-skew registers.", "",
             "| array | stream | cells | area µm² | fmax MHz | energy pJ/MAC | lone PE (pairing) "
             "| area overhead vs R·C lone PEs | energy/MAC overhead vs the lone PE |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for _, entry, stream, rec, _ in arrays:
        lone = by.get((entry.lone, stream))
        rc = entry.params["rows"] * entry.params["cols"]
        # the lone PE's netlist under the array's recipe (compare like with like), else its pick
        same = [x for x in (lone or {}).get("recipes", []) if x["recipe"] == rec["recipe"]]
        lone = same[0] if same else lone
        if lone is None:
            area_over = energy_over = "lone PE not measured"
        else:
            area_over = f"{100 * (rec['area_um2'] / (rc * lone['area_um2']) - 1):+.1f} %"
            energy_over = f"{100 * (rec['energy_pj_per_op'] / lone['energy_pj_per_op'] - 1):+.1f} %"
        lone_name = f"{entry.lone} ({lone['recipe']})" if lone else entry.lone
        lines.append(f"| {entry.label} ({rec['recipe']}) | {stream} | {rec['cells']} | "
                     f"{rec['area_um2']:.0f} | {1000 / rec['delay_ns']:.1f} | "
                     f"{rec['energy_pj_per_op']:.3f} | {entry.label} vs {rc} × {lone_name} | "
                     f"{area_over} | {energy_over} |")
    lines.append("")
    return lines


def claim_section(by, streams, order=()):
    lines = ["## The 80 % claim", "",
             "Kim et al. report that a Mitch-w6 MAC needs up to 80 % less energy than a bfloat16 "
             "MAC. Measured here on this library, energy per MAC against `bf16_mac` on the same "
             "stream, each pairing's netlists chosen by the pairing rule (see Pairings), at the "
             "common clock (iso-clock) and at each netlist's own clock:", ""]
    pairs = [(label, BASELINE) for label in CLAIM_PAIRS] + [
        ("systolic rows=4 cols=4 pe=mitch_mac n=16 w=6 signed=c1", ARRAY_BASELINE),
        ("systolic rows=4 cols=4 pe=mitch_bf16_mac w=6", ARRAY_BASELINE)]
    for label, baseline in pairs:
        for stream in streams:
            rec, base = by.get((label, stream)), by.get((baseline, stream))
            if rec is None or base is None:
                lines.append(f"* {label} vs {baseline} ({stream}): not measured")
                continue
            p = pairing(rec, base, order)
            best = max(p["iso_saving"], p["own_saving"])
            verdict = "reproduced (≥ 80 %)" if best >= 80.0 else "not reproduced (< 80 %)"
            lines.append(
                f"* {label} vs {baseline} ({stream}; {p['unit']['recipe']} vs "
                f"{p['ref']['recipe']}): iso-clock at {p['period_ns']:.2f} ns {p['iso_pj'][0]:.2f} "
                f"vs {p['iso_pj'][1]:.2f} pJ/MAC, saving {p['iso_saving']:.1f} %; own clocks "
                f"{p['own_pj'][0]:.2f} vs {p['own_pj'][1]:.2f} pJ/MAC, saving "
                f"{p['own_saving']:.1f} % — {verdict}")
    lines.append("")
    return lines


# Published reductions of PLAM against exact posit multipliers: (source, area, power, delay) in %.
PLAM_PUBLISHED = (
    ("PLAM (Murillo, Del Barrio et al., IEEE TETC 2021): \"up to\", against state-of-the-art "
     "posit multipliers", 72.86, 81.79, 17.01),
    ("the same group, posit⟨32,2⟩ multiplier, 45 nm", 70.4, 80.3, 7.2),
)


def plam_section(results):
    """PLAM vs the exact posit unit of the same format, next to the published reductions."""
    by = {(r[1].label, r[2]): r for r in results}
    rows, muls, counts = [], [], set()
    for _, entry, stream, rec, _ in results:
        if entry.unit not in ("plam_mul", "plam_mac") or (entry.exact, stream) not in by:
            continue
        counts.add(rec["vectors"])
        base = by[(entry.exact, stream)][3]
        period = max(rec["delay_ns"], base["delay_ns"])
        saved = {"area": _saving(rec["area_um2"], base["area_um2"]),
                 "delay": _saving(rec["delay_ns"], base["delay_ns"]),
                 "energy": _saving(rec["energy_pj_per_op"], base["energy_pj_per_op"]),
                 "power": _saving(iso_energy(rec, period), iso_energy(base, period))}
        fmt = f"⟨{entry.params['n']},{entry.params['es']}⟩"
        if entry.unit == "plam_mul":
            muls.append((fmt, stream, saved))
        rows.append(f"| {fmt} | {entry.unit} vs {entry.exact.split()[0]} | {stream} | "
                    f"{rec['area_um2']:.0f} / {base['area_um2']:.0f} | {saved['area']:.1f} % | "
                    f"{rec['delay_ns']:.2f} / {base['delay_ns']:.2f} | {saved['delay']:.1f} % | "
                    f"{rec['energy_pj_per_op']:.2f} / {base['energy_pj_per_op']:.2f} | "
                    f"{saved['energy']:.1f} % | {saved['power']:.1f} % |")
    if not rows:
        return []
    lines = ["## PLAM against the exact posit units, and the published reductions", "",
             "Reduction = 1 − PLAM / exact, same posit⟨n,es⟩ format, same stream. Energy per "
             "operation at each unit's own clock (critical path + 10 %); power at a common "
             "clock = the iso-clock energy (both units clocked at the slower one's critical "
             "path, see Iso-clock pairings) per period, the closest analogue of a power figure "
             "from a synthesis run at one clock constraint. Measured operations per unit and "
             f"stream: {', '.join(str(c) for c in sorted(counts))} (the default mapping recipe).",
             "",
             "| format | pairing | stream | area µm² PLAM / exact | area | delay ns PLAM / exact "
             "| delay | energy pJ/op PLAM / exact | energy/op | power, common clock |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
             "Published (multipliers only):", "",
             "| source | area reduction | power reduction | delay reduction |",
             "|---|---:|---:|---:|"]
    lines += [f"| {src} | {a:g} % | {pw:g} % | {d:g} % |" for src, a, pw, d in PLAM_PUBLISHED]
    lines.append("")
    if muls:
        best = {k: max(muls, key=lambda m: m[2][k]) for k in ("area", "power", "delay")}
        lines += ["Measured here, the largest multiplier reductions: " + ", ".join(
            f"{k} {m[2][k]:.1f} % ({m[0]}, {m[1]})" for k, m in best.items()) + ".", ""]
    lines += [
        "Why the figures differ (what this flow can support):", "",
        "* **Reference multiplier.** Our exact unit shares PLAM's decoders, rounder, sign, zero "
        "and NaR logic (hdl/posit_mul.py; the two differ only in the significand product), so "
        "the reduction isolates the significand multiplier against PLAM's one fraction adder. "
        "The published figures compare PLAM with other groups' posit multipliers, whose "
        "decoding and rounding differ from PLAM's own.",
        "* **Multiplier architecture and synthesis recipe.** Our significand product is "
        "Yosys's generic `$mul` mapping (`synth` without `-booth`: no Booth recoding) mapped to "
        "cells by ABC (synth/synth.ys); the published units went through another synthesizer "
        "and library. How the exact product is built sets its share of the exact unit's area, "
        "energy and critical path, hence all three reductions; the mapping recipe alone moves "
        "a unit's area and energy by the spread in the noise section.",
        "* **Library.** osu018 is a 0.18 µm library (sky130hd 130 nm), against 45 nm for the "
        "published figures: wire and cell delay ratios, the leakage share and the relative cost "
        "of adders, shifters and multiplier cells differ between nodes.",
        "* **Energy, not a power estimate.** Ours is the energy per operation of a gate-level "
        "simulation with delays (glitches included) on a given operand stream, so it depends on "
        "the stream (compare cnn and uniform); a synthesis tool's power figure assumes default or "
        "propagated switching activities at one clock. PLAM's shorter critical path also lowers "
        "its own-clock energy only through leakage, which is why the common-clock column is "
        "the one to set against a published power figure.",
        "* **MACs.** In a quire MAC the quire adder, the quire register and the quire-to-posit "
        "rounder are the same in both units, so PLAM's saving is diluted; the published "
        "figures are for multipliers alone.", ""]
    return lines


def crosscheck_section(results):
    lines = ["## Cross-check with OpenSTA's vectorless power", "",
             "OpenSTA `report_power` with each input bit's measured activity and duty (it "
             "propagates probabilities through the logic and sees no glitches). This Debian "
             "OpenSTA build (2.0.17, 2019) charges rise + fall internal energy for every "
             "transition, twice the Liberty meaning (measured on an inverter and a flip-flop, "
             "pinned by tests/test_synth_energy.py), so its internal part is also shown halved.", "",
             "| module | stream | ours pJ/op | OpenSTA pJ/op | OpenSTA, internal ÷ 2 "
             "| ours ÷ (internal ÷ 2) |",
             "|---|---|---:|---:|---:|---:|"]
    for _, entry, stream, rec, details in results:
        p = details["sta_power_w"]
        halved = ((p["internal_w"] / 2 + p["switching_w"] + p["leakage_w"]) * rec["clock_ns"] * 1e3
                  / details.get("ops_per_period", 1))
        lines.append(f"| `{rec['module']}` | {stream} | {rec['energy_pj_per_op']:.3f} | "
                     f"{rec['sta_vectorless_pj_per_op']:.3f} | {halved:.3f} | "
                     f"{rec['energy_pj_per_op'] / halved:.2f} |")
    lines.append("")
    return lines


def write_plots(results, streams, out_dir, suffix=""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _index(results)
    stream = streams[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    families = [("mitch_bf16_mac", "mitch_bf16_mac w={w}", BASELINE),
                ("mitch_mac", "mitch_mac n=16 w={w} signed=c1", "int_mac n=16")]
    for ax, key, unit_label in ((axes[0], "energy_pj_per_op", "energy pJ/MAC"),
                                (axes[1], "area_um2", "area µm²")):
        for unit, pattern, exact in families:
            ws = [w for w in range(2, 17) if (pattern.format(w=w), stream) in by]
            if ws:
                recs = [by[(pattern.format(w=w), stream)] for w in ws]
                ys = [r[key] for r in recs]
                # Spread bars: the min and max over the mapping recipes.
                lo = [y - min([x[key] for x in r.get("recipes", [])] or [y]) for y, r in zip(ys, recs)]
                hi = [max([x[key] for x in r.get("recipes", [])] or [y]) - y for y, r in zip(ys, recs)]
                ax.errorbar(ws, ys, yerr=[lo, hi], fmt="o-", capsize=3, label=unit)
        for ref in (BASELINE, "int_mac n=16", "int_mac n=8"):
            if (ref, stream) in by:
                ax.axhline(by[(ref, stream)][key], ls="--", lw=1, color="gray")
                ax.annotate(ref, (ax.get_xlim()[0], by[(ref, stream)][key]), fontsize=8,
                            va="bottom")
        ax.set_xlabel("w (significant bits kept)")
        ax.set_ylabel(unit_label)
        ax.set_title(f"{unit_label} vs w ({stream} stream)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    first = out_dir / f"energy_area_vs_w{suffix}.png"
    fig.savefig(first, dpi=110, metadata={"Software": None})
    plt.close(fig)

    labels = []
    for _, entry, _, _, _ in results:
        if entry.label not in labels:
            labels.append(entry.label)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(labels) + 2), 4.8))
    width = 0.8 / max(1, len(streams))
    for k, s in enumerate(streams):
        xs = [i + k * width for i, lab in enumerate(labels) if (lab, s) in by]
        ys = [by[(lab, s)]["energy_pj_per_op"] for lab in labels if (lab, s) in by]
        ax.bar(xs, ys, width, label=s)
    ax.set_xticks([i + width * (len(streams) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("energy per operation (pJ)")
    ax.set_title("energy per operation by unit and stream")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    second = out_dir / f"energy_by_unit{suffix}.png"
    fig.savefig(second, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return [first, second]
