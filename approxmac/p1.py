r"""The P1 study: the Mitch-w6 ÷ bf16 energy per MAC across the design space (issue 13, item 7).

Kim et al. report that a Mitch-w6 MAC needs up to 80 % less energy than a bfloat16 MAC, i.e. a
ratio E(Mitch-w6 MAC) / E(bf16 MAC) of 0.20. The study measures that ratio with the cost flow
(synth.flow, cnn stream) under every combination that can move it:

* the pairs ``mitch_bf16_mac w=6`` and ``mitch_mac n=16 w=6 signed=c1`` against ``bf16_mac``,
  with the exact ``int_mac n=16`` for context;
* the common clock and each unit's own clock (report.HEADLINE_RULE, through report.pairing and
  report.iso_energy);
* unpipelined / pipelined (``pipeline=1``) and no gating / zero-operand gating (``gate_zero``),
  both units of a pair built alike;
* accumulator widths ACC_WIDTHS of the int16 Mitch MAC;
* the lone MAC, the MAC behind input registers as it sits in an array (scope ``registered``,
  tools/registered_pe.py) and the 4 × 4 output-stationary array (energy per MAC);
* every built-in library (arrays on the first only: their gate-level runs take minutes).

:func:`plan` lists the runs (:class:`Run`), :func:`table` turns measured records into rows,
:func:`overflow` states the accumulator bound of an int16 operand stream (golden.mac.mac_run at
64 bits and at each width), :func:`render_markdown` writes the section, :func:`attach_p1` puts it
into REPORT.md. tools/p1_study.py runs the flow and writes build/report/p1_study.{md,json}.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from golden.mac import mac_run, mac_spec
from golden.params import ParameterError
from hdl.catalogue import get_unit

from .report import HEADLINE_RULE, RECIPE_FIELDS, pairing, put_section

CLAIM_RATIO = 0.20
LIBRARIES = ("osu018", "sky130hd")
ACC_WIDTHS = (40, 32, 24)
CONFIGS = ((0, False), (0, True), (1, False), (1, True))     # (pipeline, gate_zero)
SCOPES = ("lone", "part", "registered", "array")
ARRAY_SIZE = 4
# The processing elements: (catalogue unit, parameters, report label).
PES = {
    "bf16": ("bf16_mac", {}, "bf16_mac"),
    "mitch_bf16": ("mitch_bf16_mac", {"w": 6, "variant": "trunc"}, "mitch_bf16_mac w=6"),
    "mitch_int16": ("mitch_mac", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"},
                    "mitch_mac n=16 w=6 signed=c1"),
    "int16": ("int_mac", {"n": 16}, "int_mac n=16"),
}
REFERENCE = "bf16"
PAIRS = ("mitch_bf16", "mitch_int16", "int16")           # each against REFERENCE
# Accumulator widths per PE: the int16 Mitch MAC at every width, the exact one at the default.
PE_WIDTHS = {"bf16": (None,), "mitch_bf16": (None,), "mitch_int16": ACC_WIDTHS, "int16": (40,)}
# The MACs' parts measured alone (combinational units on the same stream): where a MAC's energy
# goes. fp32_add's cnn stream is the bf16 MAC's adder inputs (synth/streams.py).
PARTS = {
    "bf16_mul": ("bf16_mul", {}, "bf16_mul"),
    "mitch_bf16_mul": ("mitch_bf16_mul", {"w": 6, "variant": "trunc"}, "mitch_bf16_mul w=6"),
    "fp32_add": ("fp32_add", {}, "fp32_add"),
    "int_mul": ("int_mul", {"n": 16, "signed": "exact"}, "int_mul n=16"),
    "mitch_mul": ("mitch_mul", {"n": 16, "w": 6, "variant": "trunc", "signed": "c1"},
                  "mitch_mul n=16 w=6 signed=c1"),
}
# Rough seconds per run on the 2-core CI machine at 500 vectors (arrays: 200 cycles), for the
# plan's estimate only.
EST_SECONDS = {"lone": 60, "part": 30, "registered": 70, "array": 600}


@dataclass(frozen=True)
class Run:
    """One cost-flow run of the study.

    Attributes
    ----------
    scope : str
        ``lone`` (the catalogued MAC), ``registered`` (behind input registers), ``array``
        (4 × 4 systolic array of the PE) or ``part`` (a multiplier or adder alone).
    library : str
        Built-in library name.
    pe : str
        A key of PES (a key of PARTS for scope ``part``).
    pipeline, gate_zero, acc_width
        The PE's options (acc_width None: floats, or a part).
    """
    scope: str
    library: str
    pe: str
    pipeline: int = 0
    gate_zero: bool = False
    acc_width: int = None

    @property
    def key(self):
        acc = "" if self.acc_width is None else f"/acc{self.acc_width}"
        return f"{self.scope}/{self.library}/{self.pe}/p{self.pipeline}/zg{int(self.gate_zero)}{acc}"

    @property
    def label(self):
        table = PARTS if self.scope == "part" else PES
        return table[self.pe][2] + ("" if self.acc_width is None else f" acc={self.acc_width}")

    def unit_params(self):
        """(catalogue unit, parameters) as synth.flow.synth_unit takes them (``registered``:
        the MAC that tools/registered_pe.py wraps)."""
        if self.scope == "part":
            unit, params, _ = PARTS[self.pe]
            return unit, dict(params)
        unit, params, _ = PES[self.pe]
        params = dict(params, pipeline=self.pipeline, gate_zero=self.gate_zero)
        if self.acc_width is not None:
            params["acc_width"] = self.acc_width
        if self.scope == "array":
            return "systolic", dict(rows=ARRAY_SIZE, cols=ARRAY_SIZE, pe=unit, **params)
        return unit, params


def plan(libraries=LIBRARIES, scopes=SCOPES, configs=CONFIGS, array_configs=((0, False),),
         registered_configs=((0, False),)):
    """The study's runs, cheapest and most telling first: per library the lone MACs of every
    configuration, then the parts; then (first library only) the registered PEs and the arrays
    of ``array_configs``, both at the 40-bit int16 accumulator."""
    runs = []
    for scope in scopes:
        if scope not in SCOPES:
            raise ParameterError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    for lib in libraries:
        if "lone" in scopes:
            runs += [Run("lone", lib, pe, p, g, a) for p, g in configs
                     for pe in (REFERENCE, *PAIRS) for a in PE_WIDTHS[pe]]
        if "part" in scopes:
            runs += [Run("part", lib, part) for part in PARTS]
    first = libraries[0]
    for scope, cfgs in (("registered", registered_configs), ("array", array_configs)):
        if scope in scopes:
            runs += [Run(scope, first, pe, p, g, None if PE_WIDTHS[pe] == (None,) else 40)
                     for p, g in cfgs for pe in (REFERENCE, "mitch_bf16", "mitch_int16")]
    return runs


def estimate_seconds(runs, vectors=500, array_vectors=200):
    """A rough duration of ``runs`` (EST_SECONDS, scaled by the vector counts)."""
    return sum(EST_SECONDS[r.scope] * ((array_vectors / 200) if r.scope == "array"
                                       else (0.3 + 0.7 * vectors / 500)) for r in runs)


def merge_recipes(records):
    """{Run.key: record} from {"<Run.key>@<recipe>": result record}: per run its lowest-energy
    netlist's record with ``recipes`` = every recipe's RECIPE_FIELDS (what report.pairing
    chooses from, as in report.headline)."""
    groups = {}
    for name, rec in records.items():
        key, _, recipe = name.partition("@")
        if rec.get("recipe") != recipe:
            raise ParameterError(f"{name}: the record is of recipe {rec.get('recipe')!r}")
        groups.setdefault(key, []).append(rec)
    return {key: dict(min(recs, key=lambda r: r["energy_pj_per_op"]),
                      recipes=[{k: r[k] for k in RECIPE_FIELDS} for r in recs])
            for key, recs in groups.items()}


def _reference_run(run):
    return Run(run.scope, run.library, REFERENCE, run.pipeline, run.gate_zero, None)


def table(measured):
    """One row per measured pairing: every Mitch (or int16) run of ``measured`` ({Run.key:
    result record}) against the bf16 MAC of the same scope, library, pipeline and gating, under
    report.pairing (HEADLINE_RULE). ``ratio_common``: energies at the common clock;
    ``ratio_own``: each netlist at its own clock."""
    rows = []
    for key, rec in measured.items():
        run = parse_key(key)
        if run.scope == "part" or run.pe == REFERENCE:
            continue
        ref = measured.get(_reference_run(run).key)
        if ref is None:
            continue
        p = pairing(rec, ref)
        rows.append({
            **{k: v for k, v in asdict(run).items()}, "unit": run.label,
            "reference": PES[REFERENCE][2], "period_ns": p["period_ns"],
            "recipes": [p["unit"]["recipe"], p["ref"]["recipe"]],
            "unit_delay_ns": rec["delay_ns"], "reference_delay_ns": ref["delay_ns"],
            "common_pj": [round(x, 6) for x in p["iso_pj"]],
            "own_pj": [round(x, 6) for x in p["own_pj"]],
            "ratio_common": round(p["iso_pj"][0] / p["iso_pj"][1], 4),
            "ratio_own": round(p["own_pj"][0] / p["own_pj"][1], 4)})
    order = {s: i for i, s in enumerate(SCOPES)}
    rows.sort(key=lambda r: (order[r["scope"]], r["library"], r["pipeline"], r["gate_zero"],
                             PAIRS.index(r["pe"]), -(r["acc_width"] or 0)))
    return rows


def parse_key(key):
    """The Run of a Run.key."""
    parts = key.split("/")
    try:
        scope, library, pe, p, zg = parts[:5]
        acc = int(parts[5][3:]) if len(parts) > 5 else None
        return Run(scope, library, pe, int(p[1:]), bool(int(zg[2:])), acc)
    except (ValueError, IndexError):
        raise ParameterError(f"not a P1 run key: {key!r}") from None


def run_of_record(record):
    """The Run a cost-flow result record belongs to (a catalogued PE or its 4 × 4 array, as
    ``approxmac synth`` writes it), to enter a run measured outside the study.

    Raises
    ------
    ParameterError
        For a record that is none of the study's runs (another unit, size or PE)."""
    params = dict(record["params"])
    scope = "lone"
    unit = record["unit"]
    if unit == "systolic":
        if (params.get("rows"), params.get("cols"), bool(params.get("cv"))) != \
                (ARRAY_SIZE, ARRAY_SIZE, False):
            raise ParameterError(f"{record['module']}: the study's arrays are "
                                 f"{ARRAY_SIZE} × {ARRAY_SIZE} without cv")
        scope, unit = "array", params["pe"]
    pipeline, gate_zero = int(params.get("pipeline") or 0), bool(params.get("gate_zero"))
    for pe, (pe_unit, pe_params, _) in PES.items():
        if pe_unit != unit:
            continue
        # the PE's parameters, unset ones (None) at the catalogued unit's defaults
        defaults = {p.name: p.default for p in get_unit(unit).params}
        value = lambda k: defaults.get(k) if params.get(k) is None else params[k]   # noqa: E731
        if any(value(k) != v for k, v in pe_params.items()):
            continue
        width = None if PE_WIDTHS[pe] == (None,) else (
            value("acc_width") or mac_spec(unit, **pe_params).acc_width)
        if width not in PE_WIDTHS[pe]:
            continue
        return Run(scope, record["liberty"]["name"], pe, pipeline, gate_zero, width)
    raise ParameterError(f"{record['module']}: not one of the study's PEs "
                         f"({', '.join(v[2] for v in PES.values())})")


def closest(rows):
    """The row (and its clock, ``common`` or ``own``) whose ratio is nearest CLAIM_RATIO among
    the Mitch pairings; None without any."""
    best = None
    for r in rows:
        if r["pe"] == "int16":
            continue
        for clock in ("common", "own"):
            d = abs(r[f"ratio_{clock}"] - CLAIM_RATIO)
            if best is None or d < best[0]:
                best = (d, r, clock)
    return None if best is None else (best[1], best[2])


def cross_config(measured):
    """The most favourable mixed pairing per scope and library: each Mitch unit's
    lowest-energy configuration (own clock) against the bf16 MAC's plain one (no pipeline, no
    gating), under report.pairing. What a paper comparing an optimised Mitch MAC with a plain
    bf16 MAC would show."""
    out = []
    groups = {}
    for key, rec in measured.items():
        run = parse_key(key)
        if run.scope != "part":
            groups.setdefault((run.scope, run.library), {})[run] = rec
    order = {s: i for i, s in enumerate(SCOPES)}
    for (scope, lib), recs in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        plain = recs.get(Run(scope, lib, REFERENCE))
        if plain is None:
            continue
        for pe in ("mitch_bf16", "mitch_int16"):
            mine = [(r, rec) for r, rec in recs.items() if r.pe == pe]
            if not mine:
                continue
            run, rec = min(mine, key=lambda x: x[1]["energy_pj_per_op"])
            p = pairing(rec, plain)
            out.append({**asdict(run), "unit": run.label, "reference": "bf16_mac (plain)",
                        "period_ns": p["period_ns"],
                        "ratio_common": round(p["iso_pj"][0] / p["iso_pj"][1], 4),
                        "ratio_own": round(p["own_pj"][0] / p["own_pj"][1], 4)})
    return out


ROW_FIELDS = ("scope", "library", "pe", "pipeline", "gate_zero", "acc_width")


def effect(rows, field, before, after, clock="common"):
    """How one option moves the ratio: ``ratio(after) - ratio(before)`` of ``field`` for every
    pair of rows equal in all other ROW_FIELDS (``clock``: ``common`` or ``own``)."""
    index = {tuple(r[f] for f in ROW_FIELDS): r for r in rows}
    at = ROW_FIELDS.index(field)
    deltas = []
    for key, r in index.items():
        if key[at] != before:
            continue
        other = index.get(key[:at] + (after,) + key[at + 1:])
        if other is not None:
            deltas.append(round(other[f"ratio_{clock}"] - r[f"ratio_{clock}"], 4))
    return deltas


# --- the accumulator bound -------------------------------------------------------------------

def dot_lengths(model_path):
    """{node name: K} of every Conv / Gemm / MatMul node with a weight initializer of an ONNX
    model: the dot-product length one output of the node sums over."""
    import onnx
    model = onnx.load(str(model_path))
    init = {i.name: list(i.dims) for i in model.graph.initializer}
    ks = {}
    for node in model.graph.node:
        dims = init.get(node.input[1]) if len(node.input) > 1 else None
        if dims is None:
            continue
        if node.op_type == "Conv":
            ks[node.name] = int(np.prod(dims[1:]))            # C_in / group x kernel
        elif node.op_type == "Gemm":
            trans = any(a.name == "transB" and a.i for a in node.attribute)
            ks[node.name] = dims[1] if trans else dims[0]
        elif node.op_type == "MatMul":
            ks[node.name] = dims[0]
    return ks


def trace_starts(layers, ks):
    """Start flags of the dot products of a cnn.traces trace (whole dot products appended; a
    node's consecutive ones share its name) and the length of the complete prefix (a last,
    truncated dot product is left out).

    Raises
    ------
    ParameterError
        For a node without a known K."""
    layers = np.asarray(layers)
    n = len(layers)
    starts = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        name = str(layers[i])
        if name not in ks:
            raise ParameterError(f"trace node {name!r} has no dot-product length in the model "
                                 f"(nodes: {', '.join(sorted(ks))})")
        k = ks[name]
        if i + k > n:
            return starts[:i], i
        if not np.all(layers[i:i + k] == layers[i]):
            raise ParameterError(f"trace: the dot product of {name} at pair {i} is not {k} "
                                 "pairs long (not a cnn.traces trace of this model?)")
        starts[i] = True
        i += k
    return starts, n


def overflow(a, b, starts, *, unit="mitch_mac", widths=ACC_WIDTHS, **params):
    """The accumulator bound of one operand stream of dot products.

    ``a``, ``b`` are signed operand values, ``starts`` flags each dot product's first pair. The
    golden MAC (golden.mac.mac_run) runs at 64 bits (exact for these streams) and at each width;
    returns the largest |partial sum| (every accumulator value) and |final sum|, the signed bits
    they need, and per width whether a partial sum leaves the A-bit range and how many dot
    products end with a wrong (wrapped) result. Partial-sum overflow alone does no harm: the
    sums are exact modulo 2^A, so a result that fits comes out right."""
    starts = np.asarray(starts, dtype=bool)
    if len(starts) == 0 or not starts[0]:
        raise ParameterError("overflow: the stream must start a dot product at its first pair")
    exact = mac_run(a, b, 1, starts, 0, unit=unit, acc_width=64, **params).astype(np.int64)
    ends = np.append(starts[1:], True)
    finals = exact[ends]

    def bits(values):
        lo, hi = int(values.min()), int(values.max())
        return max(max(hi, 0).bit_length(), max(-lo - 1, 0).bit_length()) + 1

    out = {"pairs": int(len(a)), "dot_products": int(starts.sum()),
           "max_abs_partial": int(np.abs(exact).max()), "max_abs_final": int(np.abs(finals).max()),
           "bits_partial": bits(exact), "bits_final": bits(finals), "widths": {}}
    for width in widths:
        got = mac_run(a, b, 1, starts, 0, unit=unit, acc_width=width, **params)
        out["widths"][str(width)] = {
            "partial_overflow": bool(out["bits_partial"] > width),
            "wrong_results": int(np.sum(got[ends] != finals))}
    return out


# --- rendering --------------------------------------------------------------------------------

def _cfg(r):
    return f"{'p1' if r['pipeline'] else 'p0'}{', zg' if r['gate_zero'] else ''}"


def render_markdown(data):
    """The P1 section (Markdown lines) of a p1_study.json dict."""
    rows, meta = data["rows"], data["meta"]
    lines = ["## The P1 study: Mitch-w6 ÷ bf16 energy per MAC across the design space", "",
             f"Ratio = E(unit) / E(bf16_mac) per MAC, both built alike (same scope, library, "
             f"pipeline, gating); the paper's \"up to 80 % less\" is a ratio of {CLAIM_RATIO:.2f}. "
             f"Cost flow on the `{meta['stream']}` stream, {meta['vectors']} measured MACs per "
             f"lone run ({meta['array_vectors']} cycles × 16 MACs per array run), mapping "
             f"recipes {', '.join(f'`{r}`' for r in meta.get('recipes', []))} (the netlists "
             f"column names each pairing's picks, unit / bf16). Common clock: {HEADLINE_RULE} "
             f"(report.pairing). Scopes: "
             "`lone` = the catalogued MAC with ideal input ports; `registered` = the MAC behind "
             "operand/control flip-flops as in an array (tools/registered_pe.py); `array` = "
             "4 × 4 output-stationary array, energy per MAC. Config: p0/p1 = `pipeline`, zg = "
             "`gate_zero`.", "",
             "| library | scope | config | unit | netlists | common clock ns | pJ/MAC unit / "
             "bf16, common clock | ratio, common clock | pJ/MAC unit / bf16, own clocks "
             "| ratio, own clocks |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['library']} | {r['scope']} | {_cfg(r)} | {r['unit']} | "
                     f"{' / '.join(r['recipes'])} | {r['period_ns']:.3f} | {r['common_pj'][0]:.3f} / {r['common_pj'][1]:.3f} "
                     f"| **{r['ratio_common']:.3f}** | {r['own_pj'][0]:.3f} / {r['own_pj'][1]:.3f} "
                     f"| {r['ratio_own']:.3f} |")
    if not rows:
        lines.append("| (nothing measured yet) | | | | | | | | | |")
    lines.append("")
    cross = data.get("cross_config") or []
    if cross:
        lines += ["Most favourable mixed pairing (each Mitch unit's lowest-energy configuration "
                  "against the plain bf16 MAC, p0 without gating):", ""]
        lines += [f"* {c['library']}, {c['scope']}: {c['unit']} ({_cfg(c)}) — ratio "
                  f"{c['ratio_common']:.3f} at the common clock {c['period_ns']:.3f} ns, "
                  f"{c['ratio_own']:.3f} at own clocks" for c in cross]
        lines.append("")
    parts = data.get("parts") or {}
    if parts:
        lines += ["Parts alone (combinational, same stream; energy per operation at own clock, "
                  "pJ): " + "; ".join(f"{lib}: " + ", ".join(f"{k} {v:.3f}" for k, v in p.items())
                                      for lib, p in parts.items()), ""]
    splits = data.get("splits") or []
    if splits:
        lines += ["Where the energy goes: pipelined lone MACs (p1) split at the product register "
                  "by tools/energy_breakdown.py (each cell charged to the register it feeds; "
                  "clock pins apart), pJ/MAC:", "",
                  "| library | unit | total | multiplier + product register | adder + "
                  "accumulator | clock pins | control |", "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {s['library']} | {s['unit']} | {s['energy_pj_per_op']:.2f} | "
                  f"{s['multiplier_pj']:.2f} | {s['accumulate_pj']:.2f} | {s['clock_pj']:.2f} | "
                  f"{s['control_pj']:.2f} |" for s in splits]
        lines.append("")
    for b in data.get("breakdowns") or []:
        lines.append(f"* where the energy goes, {b['library']} {b['scope']} {b['unit']}: "
                     f"{b['energy_pj_per_op']:.3f} pJ/MAC, flip-flops {b['flop_pj']:.3f} "
                     f"({100 * b['flop_pj'] / b['energy_pj_per_op']:.0f} %, of which clock pins "
                     f"{b['clock_pj']:.3f}), logic {b['logic_pj']:.3f}")
    if data.get("breakdowns"):
        lines.append("")
    for name, o in (data.get("overflow") or {}).items():
        verdicts = ", ".join(
            f"{w} bits: " + ("partial sums overflow" if v["partial_overflow"] else "no overflow")
            + (f", {v['wrong_results']} of {o['dot_products']} results wrong"
               if v["partial_overflow"] else "")
            for w, v in o["widths"].items())
        lines.append(f"* accumulator bound, {name} ({o['pairs']} pairs, "
                     f"{o['dot_products']} dot products): largest |partial sum| "
                     f"{o['max_abs_partial']} ({o['bits_partial']} signed bits), largest |result| "
                     f"{o['max_abs_final']} ({o['bits_final']} bits); {verdicts}")
    for nb in data.get("network_bound") or []:
        lines.append(f"* whole network ({nb['model']}, {nb['mult']}, {nb['image_set']} images; "
                     f"approxmac accuracy): largest |result| {nb['max_abs_result']} "
                     f"({nb['bits']} signed bits)")
    if data.get("overflow") or data.get("network_bound"):
        lines.append("")
    if data.get("paragraph"):
        lines += [data["paragraph"], ""]
    if data.get("missing"):
        lines += ["Not measured: " + ", ".join(data["missing"]), ""]
    lines += ["Produced by (in order; runs cached under build/cache): "
              + "; ".join(f"`{c}`" for c in meta.get("commands", [])) + ".", ""]
    return lines


P1_BEGIN, P1_END = "<!-- p1 study: begin -->", "<!-- p1 study: end -->"


def attach_p1(out_dir="build/report"):
    """Put p1_study.md (tools/p1_study.py) into REPORT.md between markers, replacing an older
    copy. Does nothing until both files exist; returns whether it attached."""
    out_dir = Path(out_dir)
    report, section = out_dir / "REPORT.md", out_dir / "p1_study.md"
    if not (report.is_file() and section.is_file()):
        return False
    put_section(report, P1_BEGIN, P1_END, section.read_text().strip())
    return True
