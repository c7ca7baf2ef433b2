"""Gate-level Verilog models of a library's cells, generated from the Liberty itself.

A user's .lib usually comes without simulation models, so the flow writes them: for every cell,

* each output pin's ``function`` (Liberty Boolean syntax: ``!x``, ``x'``, ``^``, ``&``, ``*``,
  juxtaposition = AND, ``|``, ``+``, constants 0/1) becomes a continuous assignment;
* an ``ff (IQ, IQN)`` group becomes an edge-triggered register: on the rising edge of
  ``clocked_on`` IQ <= next_state; ``clear`` / ``preset`` act asynchronously, both at once per
  ``clear_preset_var1/2`` (L, H, N = hold, T = toggle, X);
* a ``latch (IQ, IQN)`` group becomes a level-sensitive register (``enable``, ``data_in``,
  ``clear``, ``preset``);
* every output gets a ``specify`` path ``(in *> out) = 0`` from each input that one of its
  ``timing`` groups names (related_pin), so $sdf_annotate finds the IOPATHs OpenSTA writes and
  the simulation carries the real delays: every output is driven through a ``buf`` behind its
  path delay, so pulses shorter than the delay are filtered as in the vendors' models and
  longer glitches propagate.

``generate_models`` returns (Verilog text, {cell: why no model}) -- a cell whose function uses
something outside this grammar gets no model and is not mapped to. The models are checked
against the vendors' (osu018_stdcells.v, the sky130 models) on every input transition of every
kept cell by tests/test_synth_cellmodels.py.
"""

import re

from golden.params import ParameterError


class FunctionSyntaxError(ValueError):
    pass


_LEX = re.compile(r"\s*(?:(?P<name>[A-Za-z_][\w\[\].]*)|(?P<const>[01])|(?P<op>[!'^&*|+()]))")


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _LEX.match(text, pos)
        if not m or m.end() == pos:
            raise FunctionSyntaxError(f"cannot read {text[pos:]!r} in {text!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


def to_verilog(function, rename=lambda name: name):
    """The Verilog expression of a Liberty ``function`` string, fully parenthesised.

    Precedence, highest first: postfix ' and prefix !, then ^, then AND (& * or juxtaposition),
    then OR (| +)."""
    toks = _tokens(function.strip().strip('"'))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take():
        nonlocal pos
        if pos >= len(toks):
            raise FunctionSyntaxError(f"{function!r} ends too early")
        pos += 1
        return toks[pos - 1]

    def primary():
        kind, val = take()
        if kind == "op" and val == "!":
            return f"(~{primary()})"
        if kind == "op" and val == "(":
            e = expr_or()
            if take() != ("op", ")"):
                raise FunctionSyntaxError(f"unbalanced parentheses in {function!r}")
            node = e
        elif kind == "name":
            node = rename(val)
        elif kind == "const":
            node = f"1'b{val}"
        else:
            raise FunctionSyntaxError(f"unexpected {val!r} in {function!r}")
        while peek() == ("op", "'"):
            take()
            node = f"(~{node})"
        return node

    def expr_xor():
        node = primary()
        while peek() == ("op", "^"):
            take()
            node = f"({node} ^ {primary()})"
        return node

    def starts_operand(tok):
        return tok[0] in ("name", "const") or tok in (("op", "!"), ("op", "("))

    def expr_and():
        node = expr_xor()
        while peek() in (("op", "&"), ("op", "*")) or starts_operand(peek()):
            if peek()[0] == "op" and peek()[1] in "&*":
                take()
            node = f"({node} & {expr_xor()})"
        return node

    def expr_or():
        node = expr_and()
        while peek() in (("op", "|"), ("op", "+")):
            take()
            node = f"({node} | {expr_and()})"
        return node

    result = expr_or()
    if pos != len(toks):
        raise FunctionSyntaxError(f"trailing {toks[pos][1]!r} in {function!r}")
    return result


def _q(value):
    return str(value).strip().strip('"') if value is not None else None


def _ident(name):
    return name if re.fullmatch(r"[A-Za-z_]\w*", name) else f"\\{name} "


_CLEAR_PRESET = {"L": "1'b0", "H": "1'b1", "X": "1'bx"}


def _state_value(var, own, other):
    """The value an ff/latch variable takes when clear and preset are both active."""
    code = (_q(var) or "X").upper()
    if code == "N":
        return own
    if code == "T":
        return f"~{own}"
    return _CLEAR_PRESET.get(code, "1'bx")


def _udp(name, support, expr):
    """A combinational user primitive with the truth table of ``expr`` over ``support``.

    Rows with x inputs are listed wherever the output does not depend on them (a 0 on an AND
    input gives 0 whatever the others are), as Verilog's gate primitives behave: a flip-flop
    behind a reset gate starts from X, and the reset must still clear it."""
    import itertools
    k = len(support)
    table = {}
    for bits in itertools.product((0, 1), repeat=k):
        table[bits] = _eval(expr, dict(zip(support, bits)))
    rows = []
    for combo in itertools.product("01x", repeat=k):
        outs = {v for bits, v in table.items()
                if all(c == "x" or int(c) == b for c, b in zip(combo, bits))}
        if len(outs) == 1:
            rows.append(f"    {' '.join(combo)} : {outs.pop()};")
    return "\n".join([f"primitive {name} (y, {', '.join(support)});", "  output y;",
                      f"  input {', '.join(support)};", "  table", *rows, "  endtable",
                      "endprimitive", ""])


def _eval(expr, env):
    """Value (0/1) of a to_verilog() expression for 0/1 inputs."""
    py = re.sub(r"1'b([01])", r"\1", expr).replace("~", " 1 ^ ").replace("&", " & ").replace("|", " | ")
    py = re.sub(r"\b([A-Za-z_]\w*)\b", lambda m: str(env[m.group(1)]), py)
    return eval(py, {"__builtins__": {}}) & 1   # noqa: S307 -- digits and & | ^ only


def _first(timing, kind):
    """The smallest-slew, smallest-load entry of a delay table (0 when there is none)."""
    groups = [g for g in timing.groups if g.group_name == kind]
    if not groups:
        return 0.0
    values = groups[0].get_array("values")
    return float(values[0][0]) if len(values) else 0.0


def cell_model(cell, primitives=None, time_ns=1.0):
    """Verilog module text of one liberty-parser cell group (raises FunctionSyntaxError).

    User primitives it needs are appended to ``primitives``. Path delays default to the
    smallest entries of the cells' delay tables (``time_ns``: ns per library time unit); the
    flow replaces them with OpenSTA's SDF delays."""
    primitives = [] if primitives is None else primitives
    name = _q(cell.args[0])
    pins = [(_q(p.args[0]), _q(p.get("direction", "input")), p) for p in cell.get_groups("pin")]
    inputs = [n for n, d, _ in pins if d == "input"]
    outputs = [(n, p) for n, d, p in pins if d in ("output", "inout")]
    lines = [f"module {name} ({', '.join(_ident(n) for n, _, _ in pins)});"]
    lines += [f"  input {_ident(n)};" for n in inputs]
    lines += [f"  output {_ident(n)};" for n, _ in outputs]
    pin_names = set(inputs) | {n for n, _ in outputs}
    internal = {}

    def ref(n):
        if n in internal:
            return internal[n]
        if n not in pin_names:
            raise FunctionSyntaxError(f"{name}: unknown name {n!r}")
        return _ident(n)

    for kind in ("ff", "latch"):
        for k, g in enumerate(cell.get_groups(kind)):
            iq, iqn = (_q(a) for a in g.args[:2])
            regs = f"{kind}{k}_q", f"{kind}{k}_qn"
            internal[iq], internal[iqn] = regs
            clear = to_verilog(_q(g["clear"]), ref) if g.get("clear") is not None else "1'b0"
            preset = to_verilog(_q(g["preset"]), ref) if g.get("preset") is not None else "1'b0"
            both_q = _state_value(g.get("clear_preset_var1"), regs[0], regs[1])
            both_qn = _state_value(g.get("clear_preset_var2"), regs[1], regs[0])
            lines += [f"  reg {regs[0]}, {regs[1]};",
                      f"  wire {kind}{k}_clr = {clear};", f"  wire {kind}{k}_pre = {preset};"]
            clr, pre = f"{kind}{k}_clr", f"{kind}{k}_pre"
            if kind == "ff":
                clock = to_verilog(_q(g["clocked_on"]), ref)
                data = to_verilog(_q(g["next_state"]), ref)
                lines += [f"  wire {kind}{k}_clk = {clock};",
                          f"  always @(posedge {kind}{k}_clk) if (!({clr} || {pre})) "
                          f"begin {regs[0]} <= {data}; {regs[1]} <= ~({data}); end"]
            else:
                enable = to_verilog(_q(g["enable"]), ref)
                data = to_verilog(_q(g["data_in"]), ref)
                lines += [f"  wire {kind}{k}_en = {enable};",
                          f"  always @* if (!({clr} || {pre}) && {kind}{k}_en) "
                          f"begin {regs[0]} <= {data}; {regs[1]} <= ~({data}); end"]
            # Clear and preset are levels: a second block, so that releasing one of them while
            # the other stays active gives the other's value.
            lines += [f"  always @({clr} or {pre})",
                      f"    if ({clr} && {pre}) begin {regs[0]} <= {both_q}; "
                      f"{regs[1]} <= {both_qn}; end",
                      f"    else if ({clr}) begin {regs[0]} <= 1'b0; {regs[1]} <= 1'b1; end",
                      f"    else if ({pre}) begin {regs[0]} <= 1'b1; {regs[1]} <= 1'b0; end"]
    paths = []
    for n, p in outputs:
        if p.get("function") is None:
            raise FunctionSyntaxError(f"{name}: output {n} has no function")
        function = _q(p["function"])
        support = [i for i in inputs if re.search(rf"(?<![\w\[\].]){re.escape(i)}(?![\w\[\].])", function)]
        expr = to_verilog(function, ref)
        if not internal and support and len(support) <= 6:
            # A pure function of the inputs: one user primitive, evaluated at once per input
            # event (as a vendor's single gate primitive), then the path delay.
            udp = f"{name}__{n}_udp"
            primitives.append(_udp(udp, support, expr))
            lines.append(f"  {udp} ({n}_f_, {', '.join(map(_ident, support))});")
        else:
            lines.append(f"  wire {n}_f_ = {expr};")
        lines.append(f"  buf ({_ident(n)}, {n}_f_);")
        related = {}
        for t in p.get_groups("timing"):
            for r in (_q(t.get("related_pin")) or "").split():
                if r in inputs:
                    rise, fall = related.get(r, (0.0, 0.0))
                    related[r] = (max(rise, _first(t, "cell_rise") * time_ns),
                                  max(fall, _first(t, "cell_fall") * time_ns))
        paths += [f"    ({_ident(r)} *> {_ident(n)}) = ({rise:.4f}, {fall:.4f});"
                  for r, (rise, fall) in related.items()]
    if paths:
        lines += ["  specify", *paths, "  endspecify"]
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def generate_models(lib, precision="1ps"):
    """(Verilog of every modellable cell of a parsed library, {cell: reason it has none}).

    ``precision``: the models' time precision; SDF delays are rounded to it (1 ps here; the
    OSU vendor models use 10 ps)."""
    parts = ["// Generated by synth/cellmodels.py from the Liberty file: one module per cell.",
             f"`timescale 1ns/{precision}", ""]
    unmodelled = {}
    unit = re.fullmatch(r"\s*1?\s*(ps|ns)\s*", _q(lib.get("time_unit")) or "1ns")
    time_ns = 1e-3 if unit and unit.group(1) == "ps" else 1.0
    for cell in lib.get_groups("cell"):
        try:
            prims = []
            module = cell_model(cell, prims, time_ns)
            parts += prims + [module]
        except (FunctionSyntaxError, KeyError) as e:
            unmodelled[_q(cell.args[0])] = f"no model ({e})"
    return "\n".join(parts), unmodelled


def check_essentials(lib, name):
    """Refuse a library without a positive-edge D flip-flop or an inverter (the flow needs both).

    Raises
    ------
    ParameterError
        Naming the library and what it lacks."""
    has_inv = has_dff = False
    for cell in lib.get_groups("cell"):
        ins = [_q(p.args[0]) for p in cell.get_groups("pin") if _q(p.get("direction")) == "input"]
        outs = [p for p in cell.get_groups("pin") if _q(p.get("direction")) == "output"]
        for p in outs:
            f = _q(p.get("function")) or ""
            if len(ins) == 1 and re.fullmatch(rf"\(?\s*(!\s*{ins[0]}|{ins[0]}\s*')\s*\)?", f):
                has_inv = True
        for ff in cell.get_groups("ff"):
            if re.fullmatch(r"\w+", _q(ff.get("clocked_on")) or "-") and \
                    re.fullmatch(r"\w+", _q(ff.get("next_state")) or "-"):
                has_dff = True
    missing = [what for what, ok in (("a D flip-flop", has_dff), ("an inverter", has_inv)) if not ok]
    if missing:
        raise ParameterError(f"liberty {name}: the flow needs {' and '.join(missing)}; "
                             f"the library has none the flow can use")
