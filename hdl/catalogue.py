"""The unit catalogue: one name per unit across golden/, hdl/, sim/, synth/ and the report.

Each entry names the Amaranth component class and its parameters (with defaults and types) so
the command line, the cost flow and the tests build every unit the same way.
"""

from dataclasses import dataclass, field

from golden.params import SIGNED_MODES, VARIANTS, ParameterError


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: object
    help: str
    choices: tuple = ()


@dataclass(frozen=True)
class Unit:
    name: str
    summary: str
    component: str            # "module:Class" inside hdl/, imported on demand
    params: tuple = field(default_factory=tuple)

    def build(self, **params):
        """Instantiate the component; unknown or bad parameters raise ParameterError."""
        known = {p.name for p in self.params}
        unknown = set(params) - known
        if unknown:
            raise ParameterError(f"{self.name} has no parameter(s) {', '.join(sorted(unknown))}; "
                                 f"it takes {', '.join(sorted(known)) or 'none'}")
        values = {p.name: p.default for p in self.params}
        values.update(params)
        # None means "not given": the component's own default applies.
        values = {k: v for k, v in values.items() if v is not None}
        module, cls = self.component.split(":")
        mod = __import__(f"hdl.{module}", fromlist=[cls])
        return getattr(mod, cls)(**values)


def _mitch(n=16, w=6, signed="none"):
    return (Param("n", int, n, "operand width N (4..32)"),
            Param("w", int, w, "significant bits kept per operand, leading one included (2..N)"),
            Param("variant", str, "trunc", "fraction truncation", VARIANTS),
            Param("signed", str, signed, "sign handling", SIGNED_MODES))


def _mitch_bf16(w=6):
    return (Param("w", int, w, "significand bits kept per operand, leading one included (2..8)"),
            Param("variant", str, "trunc", "fraction truncation", VARIANTS))


def _posit(n=16, es=1):
    return (Param("n", int, n, "posit width n (3..32)"),
            Param("es", int, es, "posit exponent bits es (0..4, at most n-3)"))


ACC_WIDTH = Param("acc_width", int, None, "accumulator bits, wraps around (N..64; None = 2N+8, at most 64)")


PIPELINE = Param("pipeline", int, 0, "register stages between multiplier and accumulate adder "
                 "(0 or 1; 1: latency 2 cycles)", (0, 1))

GATE_ZERO = Param("gate_zero", bool, False, "skip zero products: multiplier inputs hold, no accumulate")

QUIRE = Param("quire", int, None, "quire bits Q (None = the minimum 32 + 4 (n-2) 2^es, up to 4096)")


REGISTERED = Param("registered", bool, False, "add one output register stage (clk, rst)")

UNITS = {u.name: u for u in [
    Unit("mitch_mul", "Mitch-w logarithmic multiplier, p = mitch_mul(a, b)",
         "mitchell:MitchMul", _mitch() + (REGISTERED,)),
    Unit("bf16_mul", "exact bf16 x bf16 -> fp32 multiplier, p = bf16_mul(a, b)", "bf16_mul:Bf16Mul"),
    Unit("fp32_add", "RNE fp32 adder (FTZ), s = fp32_add(x, y)", "fp32_add:Fp32Add"),
    Unit("int_mul", "exact integer multiplier, p = a * b (cost reference)", "int_mul:IntMul",
         (Param("n", int, 16, "operand width N (4..32)"),
          Param("signed", str, "exact", "none = unsigned, exact = two's complement", ("none", "exact")))),
    Unit("mitch_bf16_mul", "bf16 x bf16 -> fp32 with a Mitch-w significand product",
         "mitch_bf16_mul:MitchBf16Mul", _mitch_bf16()),
    Unit("posit_mul", "exact posit<n,es> multiplier, correctly rounded, p = posit_mul(a, b)",
         "posit_mul:PositMul", _posit() + (REGISTERED,)),
    Unit("plam_mul", "PLAM posit<n,es> multiplier (Mitchell on the fractions), p = plam_mul(a, b)",
         "plam_mul:PlamMul", _posit() + (REGISTERED,)),
    Unit("bf16_mac", "bf16 MAC, acc <- fp32_add(clr ? +0 : acc, bf16_mul(a, b))", "mac:Bf16Mac",
         (PIPELINE, GATE_ZERO)),
    Unit("mitch_bf16_mac", "Mitch-w bf16 MAC, acc <- fp32_add(clr ? +0 : acc, mitch_bf16_mul(a, b))",
         "mac:MitchBf16Mac", _mitch_bf16() + (PIPELINE, GATE_ZERO)),
    Unit("int_mac", "integer MAC, acc <- (clr ? 0 : acc) + a * b mod 2^acc_width", "mac:IntMac",
         (Param("n", int, 8, "operand width N (4..32), two's complement"), ACC_WIDTH, PIPELINE,
          GATE_ZERO)),
    Unit("mitch_mac", "Mitch-w integer MAC, acc <- (clr ? 0 : acc) + mitch_mul(a, b) mod 2^acc_width",
         "mac:MitchMac", _mitch(n=8, w=6, signed="exact") + (ACC_WIDTH, PIPELINE, GATE_ZERO)),
    Unit("posit_mac", "posit MAC with a quire: quire <- (clr ? 0 : quire) + a * b exactly, acc = posit(quire)",
         "posit_mac:PositMac", _posit(n=8, es=0) + (QUIRE,)),
    Unit("plam_mac", "PLAM MAC with a quire: quire <- (clr ? 0 : quire) + plam(a, b) exactly, acc = posit(quire)",
         "posit_mac:PlamMac", _posit(n=8, es=0) + (QUIRE,)),
    Unit("systolic", "R x C output-stationary systolic array of MAC PEs, C = A @ B",
         "systolic:SystolicArray",
         (Param("rows", int, 4, "array rows R (1..16)"), Param("cols", int, 4, "array columns C (1..16)"),
          Param("pe", str, "int_mac", "processing element",
                ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac")),
          Param("n", int, None, "PE operand width (integer PEs)"),
          Param("w", int, None, "PE Mitch-w bits (mitch_* PEs)"),
          Param("variant", str, None, "PE Mitch-w variant", VARIANTS),
          Param("signed", str, None, "PE sign handling (mitch_mac)", SIGNED_MODES),
          ACC_WIDTH, Param("pipeline", int, None, "PE pipeline stages (0 or 1)", (0, 1)),
          Param("gate_zero", bool, None, "PE skips zero products"),
          Param("cv", bool, False, "control-variate correction: a variate accumulator per row, "
                "a kappa per column, yhat = y - kappa S once per output at the drain"),
          Param("kappa_width", int, None, "kappa port bits with cv (float PEs: 16, bf16; integer "
                "PEs: significand M + shift E bits, default 8 + E; kq = m 2^e, 16 fractional)"),
          Param("kappa_exp_width", int, None, "kappa shift bits E with cv, integer PEs (0..5, "
                "default 5)"))),
    Unit("systolic_ws", "R x C weight-stationary systolic array, C = P + A @ B (B preloaded)",
         "systolic_ws:WeightStationaryArray",
         (Param("rows", int, 4, "array rows R = K of one pass (1..16)"),
          Param("cols", int, 4, "array columns C (1..16)"),
          Param("pe", str, "int_mac", "the MAC whose multiplier and adder each PE uses",
                ("bf16_mac", "mitch_bf16_mac", "int_mac", "mitch_mac")),
          Param("n", int, None, "PE operand width (integer PEs)"),
          Param("w", int, None, "PE Mitch-w bits (mitch_* PEs)"),
          Param("variant", str, None, "PE Mitch-w variant", VARIANTS),
          Param("signed", str, None, "PE sign handling (mitch_mac)", SIGNED_MODES),
          ACC_WIDTH)),
]}


def get_unit(name):
    try:
        return UNITS[name]
    except KeyError:
        raise ParameterError(f"unknown unit {name!r}; units: {', '.join(sorted(UNITS))}") from None
