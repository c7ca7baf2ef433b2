"""Cell models generated from the Liberty (synth/cellmodels.py) against the vendors' models.

Every cell the flow may map to (the build copy's cells) is simulated next to the vendor's model
of the same name on every transition between two input combinations (data pins change first,
then clock / enable pins, so no edge races its data), and all outputs must agree exactly
(``!==``, X included). Then a delay-annotated run of a mapped unit must count exactly the same
toggles on every net with the generated models as with osu018_stdcells.v when both use the
vendor file's 10 ps time precision.
"""

import gzip
import itertools
import re
import subprocess

import pytest
from liberty.parser import parse_liberty

from synth import cellmodels, libraries
from synth.flow import synth_unit


@pytest.mark.parametrize("function, reference", [
    ("A B+C", lambda A, B, C: (A & B) | C),
    ("(A+B) C", lambda A, B, C: (A | B) & C),
    ("!A^B", lambda A, B, C: (1 - A) ^ B),
    ("A'&B'", lambda A, B, C: (1 - A) & (1 - B)),
    ("!(A*B|C)", lambda A, B, C: 1 - ((A & B) | C)),
    ("A^B C", lambda A, B, C: (A ^ B) & C),           # ^ binds tighter than AND
    ("(A&!C)|(B&C)", lambda A, B, C: B if C else A),
    ("1", lambda A, B, C: 1),
])
def test_liberty_functions_translate_with_liberty_precedence(function, reference):
    expr = cellmodels.to_verilog(function)
    for a, b, c in itertools.product((0, 1), repeat=3):
        assert cellmodels._eval(expr, {"A": a, "B": b, "C": c}) == reference(a, b, c), \
            (function, expr, a, b, c)


def test_bad_functions_are_refused():
    for bad in ("A +", "(A B", "A $ B"):
        with pytest.raises(cellmodels.FunctionSyntaxError):
            cellmodels.to_verilog(bad)


def _cells(built):
    lib = parse_liberty(built.lib.read_text())
    cells = []
    for cell in lib.get_groups("cell"):
        pins = [(str(p.args[0]).strip('"'), str(p.get("direction")).strip('"'))
                for p in cell.get_groups("pin")]
        clocks = set()
        for g in cell.get_groups("ff") + cell.get_groups("latch"):
            for key in ("clocked_on", "enable"):
                if g.get(key) is not None:
                    clocks |= set(re.findall(r"\w+", str(g[key])))
        ins = [n for n, d in pins if d == "input"]
        outs = [n for n, d in pins if d == "output"]
        cells.append((str(cell.args[0]).strip('"'), ins, outs, [i for i in ins if i in clocks]))
    return cells


def equivalence_bench(cells):
    """A testbench running every cell's generated model (gen_*) next to the vendor's."""
    lines = ["`timescale 1ns/1ps", "module tb;", "  integer errors = 0, i, j;"]
    body = []
    for k, (name, ins, outs, clocks) in enumerate(cells):
        n = len(ins)
        lines += [f"  reg [{n - 1}:0] i{k};", f"  wire [{len(outs) - 1}:0] g{k}, v{k};"]
        for prefix, bus in (("gen_", "g"), ("", "v")):
            conns = [f".{p}(i{k}[{b}])" for b, p in enumerate(ins)]
            conns += [f".{p}({bus}{k}[{b}])" for b, p in enumerate(outs)]
            lines.append(f"  {prefix}{name} {bus}u{k} ({', '.join(conns)});")
        mask = sum(1 << b for b, p in enumerate(ins) if p in clocks)
        check = (f'if (g{k} !== v{k}) begin errors = errors + 1; if (errors < 20) '
                 f'$display("MISMATCH {name} in=%b gen=%b vendor=%b", i{k}, g{k}, v{k}); end')
        data = f"(i{k} & {n}'d{mask}) | (j & ~{n}'d{mask})"
        body += [f"    for (j = 0; j < {1 << n}; j = j + 1) begin i{k} = {data}; #1; "
                 f"i{k} = j; #1; end",
                 f"    for (i = 0; i < {1 << n}; i = i + 1) for (j = 0; j < {1 << n}; j = j + 1) "
                 f"begin",
                 f"      i{k} = (i{k} & {n}'d{mask}) | (i & ~{n}'d{mask}); #1; {check}",
                 f"      i{k} = i; #1; {check}",
                 f"      i{k} = {data}; #1; {check}",
                 f"      i{k} = j; #1; {check}",
                 "    end"]
    lines += ["  initial begin", *body,
              '    $display("checked %0d cells, errors %0d", ' + str(len(cells)) + ', errors);',
              "    $finish;", "  end", "endmodule", ""]
    return "\n".join(lines)


@pytest.mark.parametrize("name, defines", [("osu018", []),
                                           ("sky130hd", ["-DFUNCTIONAL", "-DUNIT_DELAY="])])
def test_generated_models_match_the_vendor_models(tmp_path, name, defines):
    built = libraries.build(libraries.resolve(name))
    cells = _cells(built)
    assert len(cells) > (25 if name == "osu018" else 300)
    gen = re.sub(r"^module (\w+)", r"module gen_\1", built.models.read_text(), flags=re.M)
    gen = re.sub(r"\b(\w+_udp)\b", r"gen_\1", gen)
    (tmp_path / "gen.v").write_text(gen)
    vendor = []
    for k, path in enumerate(libraries.BUILTIN[name].models):
        text = gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()
        (tmp_path / f"vendor{k}.v").write_text(text)
        vendor.append(f"vendor{k}.v")
    (tmp_path / "tb.v").write_text(equivalence_bench(cells))
    subprocess.run(["iverilog", "-g2012", *defines, "-o", "eq.vvp", "-s", "tb", "tb.v", "gen.v",
                    *vendor], cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "eq.vvp"], cwd=tmp_path, check=True, capture_output=True,
                         text=True).stdout
    assert f"checked {len(cells)} cells, errors 0" in out, out[-3000:]


def test_toggles_equal_the_vendor_models_at_their_precision(tmp_path):
    """Same netlist, same SDF, same stimulus: generated models at 10 ps give the very toggle
    counts of osu018_stdcells.v (whose `timescale is 1ns/10ps) on every net."""
    record = synth_unit("mitch_mul", {"n": 6, "w": 3, "registered": True}, stream="uniform",
                        vectors=120, out_root=tmp_path)
    out = tmp_path / "osu018" / record["module"]
    built = libraries.build(libraries.resolve("osu018"))
    models, _ = cellmodels.generate_models(parse_liberty(built.lib.read_text()), precision="10ps")
    (out / "gen10.v").write_text(models)
    counts = {}
    for label, cells in (("gen", out / "gen10.v"), ("vendor", libraries.BUILTIN["osu018"].models[0])):
        subprocess.run(["iverilog", "-g2012", "-gspecify", "-Ttyp", "-o", f"{label}.vvp", "-s", "tb",
                        "tb.v", "netlist_counted.v", str(cells)], cwd=out, check=True)
        subprocess.run(["vvp", "-n", f"{label}.vvp"], cwd=out, check=True, capture_output=True)
        counts[label] = (out / "toggle_counts.txt").read_text()
    assert counts["gen"] == counts["vendor"]
    assert sum(int(line.split()[1]) for line in counts["gen"].splitlines()[2:]) > 1000
