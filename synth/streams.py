"""Seeded operand streams in each unit's own port format, for the activity-based energy flow.

A stream is a pair of arrays (a, b) of port bit patterns (uint64, one entry per operation).
Formats: ``int`` (N-bit two's complement, or unsigned for sign mode ``none``), ``bf16`` (16-bit
patterns), ``fp32`` (32-bit patterns) and ``posit`` (posit<n, es> patterns of the posit units).
Float conversions go through ml_dtypes / NumPy casts (round to nearest even), posit conversions
through golden.posit.float64_to_posit, never through hand-written rounding.

Streams (``--stream``):

* ``uniform`` -- random patterns of valid numbers. Integers: uniform over the N-bit range.
  Floats: random sign and fraction, exponent uniform in 64..190 (biased) -- normal numbers whose
  products are normal, so a MAC does not saturate to Inf after a few cycles. Posits: uniform
  over the 2^n patterns but NaR (which would stick in a MAC's quire), zero included.
* ``cnn`` -- a convolution layer's operands. a = activations ReLU(N(0, 1)) (about half exact
  zeros), b = weights N(0, σ) with σ = sqrt(2/576) (He initialisation of a 3×3×64 kernel).
  Integers are quantised symmetrically to N bits with the scale 4σ / (2^(N-1) - 1) (so ±4σ
  fills the range; clipped), activations likewise from 4·1; for unsigned units (sign mode
  ``none``) weights are magnitudes |w| on the unsigned range (a sign-magnitude datapath handles
  the sign outside). Float units take the bf16 (RNE) values; posit units the same values as
  fp32 (what a network stores), rounded to posit<n, es> by golden float64_to_posit (RNE on the
  bit string, saturating at minpos / maxpos). For ``fp32`` units (the adder of a
  MAC) a = golden bf16_mul of those bf16 operands and b = the running partial sum of the dot
  product it belongs to as golden bf16_mac accumulates it (from +0, restarting every DOT_LENGTH
  operations).
* ``trace:FILE`` -- operand pairs from a later accuracy experiment. File format: NumPy ``.npz``
  with 1-D arrays ``a`` and ``b`` of equal length, in the unit's format: integer dtype = values
  (negative allowed for signed units) or, for float units, raw patterns as uint16 (bf16) /
  uint32 (fp32), or unsigned posit<n, es> patterns for posit units; float dtype (float and posit
  units only) = real values, rounded to the format by ml_dtypes / float64_to_posit. The first
  ``vectors`` pairs are used.

MAC units see ``clr`` at the first operation of every dot product of DOT_LENGTH operations.
"""

from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

from golden.bf16_mul import bf16_mul
from golden.mac import mac_run
from golden.posit import float64_to_posit, nar_pattern

from golden.params import ParameterError

DOT_LENGTH = 64
WEIGHT_SIGMA = float(np.sqrt(2.0 / 576.0))
STREAMS = ("uniform", "cnn", "trace:FILE")

# Units whose operands are floating-point patterns; every other unit takes N-bit integers.
FLOAT_FORMATS = {"bf16_mac": "bf16", "mitch_bf16_mac": "bf16", "bf16_mul": "bf16",
                 "mitch_bf16_mul": "bf16",
                 "fp32_add": "fp32"}
# Units whose operands are posit<n, es> patterns (parameters n and es).
POSIT_UNITS = ("posit_mul", "plam_mul", "posit_mac", "plam_mac")


@dataclass(frozen=True)
class Format:
    kind: str      # "int" | "bf16" | "fp32" | "posit"
    bits: int
    signed: bool = True
    es: int = 0    # posit exponent bits (kind "posit" only)

    @property
    def label(self):
        if self.kind == "posit":
            return f"posit<{self.bits},{self.es}>"
        if self.kind != "int":
            return self.kind
        return f"{'int' if self.signed else 'uint'}{self.bits}"


def operand_format(unit, params):
    """The operand format of catalogue unit ``unit`` built with ``params``."""
    if unit in FLOAT_FORMATS:
        kind = FLOAT_FORMATS[unit]
        return Format(kind, 16 if kind == "bf16" else 32)
    if unit in POSIT_UNITS:
        return Format("posit", int(params["n"]), es=int(params["es"]))
    if not isinstance(params.get("n"), int):
        raise ParameterError(f"unit {unit!r}: synth drives units with two scalar operands of a "
                             f"known format (FLOAT_FORMATS in synth/streams.py, or an integer "
                             f"parameter n); {unit} has neither")
    return Format("int", int(params["n"]), params.get("signed", "exact") != "none")


def make_stream(spec, fmt, count, *, seed=2022):
    """(a, b): ``count`` operand pairs of stream ``spec`` as uint64 bit patterns of ``fmt``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ParameterError(f"vectors must be a positive integer, got {count!r}")
    if spec == "uniform":
        rng = np.random.default_rng(seed)
        return _uniform(rng, fmt, count), _uniform(rng, fmt, count)
    if spec == "cnn":
        return _cnn(np.random.default_rng(seed), fmt, count)
    if isinstance(spec, str) and spec.startswith("trace:"):
        return _trace(Path(spec[len("trace:"):]), fmt, count)
    raise ParameterError(f"stream must be one of {', '.join(STREAMS)}; got {spec!r}")


def _mask(fmt):
    return np.uint64((1 << fmt.bits) - 1)


def _int_range(fmt):
    return (-(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1) if fmt.signed \
        else (0, (1 << fmt.bits) - 1)


def _ints_to_patterns(values, fmt):
    return values.astype(np.int64).astype(np.uint64) & _mask(fmt)


def _float_patterns(x, fmt):
    """Round float64 values to the format (RNE) and return the bit patterns."""
    if fmt.kind == "bf16":
        return np.asarray(x, dtype=np.float32).astype(ml_dtypes.bfloat16).view(np.uint16) \
            .astype(np.uint64)
    return np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)


def _uniform(rng, fmt, count):
    if fmt.kind == "posit":
        # 2^n - 1 patterns: those from NaR up move one up, so NaR is never drawn.
        x = rng.integers(0, (1 << fmt.bits) - 1, count, dtype=np.uint64)
        return x + (x >= np.uint64(nar_pattern(fmt.bits))).astype(np.uint64)
    if fmt.kind == "int":
        lo, hi = _int_range(fmt)
        return _ints_to_patterns(rng.integers(lo, hi, count, endpoint=True), fmt)
    frac_bits = 7 if fmt.kind == "bf16" else 23
    sign = rng.integers(0, 2, count, dtype=np.uint64)
    exp = rng.integers(64, 190, count, endpoint=True, dtype=np.uint64)
    frac = rng.integers(0, 1 << frac_bits, count, dtype=np.uint64)
    return (sign << np.uint64(fmt.bits - 1)) | (exp << np.uint64(frac_bits)) | frac


def _quantise(x, scale, lo, hi):
    return np.clip(np.rint(x / scale), lo, hi).astype(np.int64)


def _cnn(rng, fmt, count):
    act = np.maximum(rng.standard_normal(count), 0.0)
    weight = rng.standard_normal(count) * WEIGHT_SIGMA
    if fmt.kind == "int":
        lo, hi = _int_range(fmt)
        a = _quantise(act, 4.0 / hi, 0, hi)
        b = _quantise(weight if fmt.signed else np.abs(weight), 4.0 * WEIGHT_SIGMA / hi,
                      -hi if fmt.signed else 0, hi)
        return _ints_to_patterns(a, fmt), _ints_to_patterns(b, fmt)
    if fmt.kind == "posit":
        return _posit_patterns(act, fmt), _posit_patterns(weight, fmt)
    act_bf = np.asarray(act, np.float32).astype(ml_dtypes.bfloat16)
    weight_bf = np.asarray(weight, np.float32).astype(ml_dtypes.bfloat16)
    if fmt.kind == "bf16":
        return act_bf.view(np.uint16).astype(np.uint64), weight_bf.view(np.uint16).astype(np.uint64)
    # fp32: the adder of a bf16 MAC sees the golden product and the running sum before it
    # (from +0, restarted per dot product), exactly as golden.mac's bf16_mac computes them.
    a16, w16 = act_bf.view(np.uint16), weight_bf.view(np.uint16)
    first = np.arange(count) % DOT_LENGTH == 0
    acc = mac_run(a16, w16, np.ones(count, bool), first, np.zeros(count, bool), unit="bf16_mac")
    partial = np.where(first, np.uint32(0), np.roll(acc, 1))
    return bf16_mul(a16, w16).astype(np.uint64), partial.astype(np.uint64)


def _trace(path, fmt, count):
    if not path.is_file():
        raise ParameterError(f"stream trace:FILE: no such file {str(path)!r}")
    with np.load(path) as data:
        if "a" not in data or "b" not in data:
            raise ParameterError(f"stream trace:{path}: the .npz must hold arrays 'a' and 'b'")
        a, b = np.asarray(data["a"]).ravel(), np.asarray(data["b"]).ravel()
    if len(a) != len(b):
        raise ParameterError(f"stream trace:{path}: a and b differ in length ({len(a)}, {len(b)})")
    if len(a) < count:
        raise ParameterError(f"vectors must be at most the trace length {len(a)}, got {count}")
    return _trace_patterns(a[:count], fmt, path, "a"), _trace_patterns(b[:count], fmt, path, "b")


def _posit_patterns(x, fmt):
    """float values (as fp32) rounded to posit<n, es> patterns."""
    x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
    return float64_to_posit(x32, n=fmt.bits, es=fmt.es).astype(np.uint64)


def _trace_patterns(x, fmt, path, name):
    if fmt.kind == "posit":
        if x.dtype.kind == "f":
            return _posit_patterns(x, fmt)
        if x.dtype.kind not in "u" or (x.size and int(x.max()) >= 1 << fmt.bits):
            raise ParameterError(f"stream trace:{path}: {name} must be floats or unsigned "
                                 f"{fmt.label} patterns below 2^{fmt.bits}")
        return x.astype(np.uint64)
    if fmt.kind == "int":
        if x.dtype.kind not in "iu":
            raise ParameterError(f"stream trace:{path}: {name} must be integers for {fmt.label}")
        lo, hi = _int_range(fmt)
        if x.size and (int(x.min()) < lo or int(x.max()) > hi):
            raise ParameterError(f"stream trace:{path}: {name} must lie in {lo}..{hi} "
                                 f"for {fmt.label}, got {int(x.min())}..{int(x.max())}")
        return _ints_to_patterns(x, fmt)
    if x.dtype.kind == "f":
        return _float_patterns(x, fmt)
    raw = np.uint16 if fmt.kind == "bf16" else np.uint32
    if x.dtype != raw:
        raise ParameterError(f"stream trace:{path}: {name} must be floats or {np.dtype(raw).name} "
                             f"patterns for {fmt.label}, got {x.dtype}")
    return x.astype(np.uint64)
