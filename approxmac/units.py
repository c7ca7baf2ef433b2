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
        module, cls = self.component.split(":")
        mod = __import__(f"hdl.{module}", fromlist=[cls])
        return getattr(mod, cls)(**values)


def _mitch(n=16, w=6):
    return (Param("n", int, n, "operand width N (4..32)"),
            Param("w", int, w, "significant bits kept per operand, leading one included (2..N)"),
            Param("variant", str, "trunc", "fraction truncation", VARIANTS),
            Param("signed", str, "none", "sign handling", SIGNED_MODES))


REGISTERED = Param("registered", bool, False, "add one output register stage (clk, rst)")

UNITS = {u.name: u for u in [
    Unit("mitch_mul", "Mitch-w logarithmic multiplier, p = mitch_mul(a, b)",
         "mitchell:MitchMul", _mitch() + (REGISTERED,)),
]}


def get_unit(name):
    try:
        return UNITS[name]
    except KeyError:
        raise ParameterError(f"unknown unit {name!r}; units: {', '.join(sorted(UNITS))}") from None
