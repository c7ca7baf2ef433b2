"""Parameter checks shared by golden/, hdl/ and the command line.

Every check raises :class:`ParameterError` with a message that names the parameter, the value
received and the allowed range, so a bad request fails before anything is computed or written.
"""

VARIANTS = ("trunc", "unbiased")
SIGNED_MODES = ("none", "exact", "c1")


class ParameterError(ValueError):
    """A unit parameter is outside its allowed range."""


def check_int(name, value, lo, hi):
    """Return ``value`` if it is an int in [lo, hi], else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ParameterError(f"{name} must be in {lo}..{hi}, got {value}")
    return value


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise ParameterError."""
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_mitch_params(n, w, variant, signed, *, n_range=(4, 32)):
    """Check the Mitch-w parameters (N, w, variant, signed mode) together."""
    check_int("n", n, *n_range)
    check_int("w", w, 2, n)
    check_choice("variant", variant, VARIANTS)
    check_choice("signed", signed, SIGNED_MODES)


def check_posit_params(n, es):
    """Check posit<n, es>: n in 3..32, es in 0..4 and es <= n - 3 (a regime needs 2 bits)."""
    check_int("n", n, 3, 32)
    check_int("es", es, 0, 4)
    if es > n - 3:
        raise ParameterError(f"es must be in 0..{n - 3} for n={n} (es <= n - 3), got {es}")
