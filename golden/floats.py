"""bfloat16 / binary32 bit patterns: fields, the number-format policy, special values.

Formats (values travel as unsigned bit patterns: np.uint16 for bf16, np.uint32 for fp32):

    bf16 = {sign[15], exponent[14:7], fraction[6:0]}      bias 127
    fp32 = {sign[31], exponent[30:23], fraction[22:0]}    bias 127 (IEEE 754 binary32)

Number-format policy, the same for every float unit of the project:

* Subnormal inputs (exponent 0, fraction != 0) are flushed to zero, keeping their sign (FTZ/DAZ);
  results below the smallest normal are flushed to a zero of the result's sign.
* Rounding, where a unit rounds, is round-to-nearest-even.
* Inf and NaN follow IEEE 754 (Inf - Inf = NaN, 0 x Inf = NaN, Inf op finite = Inf); every NaN
  result is the one canonical quiet NaN: ``FP32_QNAN`` = 0x7FC00000 (``BF16_QNAN`` = 0x7FC0 for
  bf16), positive sign, quiet bit set, zero payload, whatever the NaN inputs were.
* Overflow gives +-Inf.
"""

import numpy as np

from .params import ParameterError


class Format:
    """Field widths of one binary floating-point format."""

    def __init__(self, name, width, frac_bits, dtype):
        self.name, self.width, self.frac_bits, self.dtype = name, width, frac_bits, dtype
        self.exp_bits = width - 1 - frac_bits
        self.exp_max = (1 << self.exp_bits) - 1        # 255: Inf / NaN
        self.bias = (1 << (self.exp_bits - 1)) - 1     # 127
        self.frac_mask = (1 << frac_bits) - 1
        self.sign_bit = 1 << (width - 1)

    def bits(self, x, name="x"):
        """``x`` as this format's unsigned dtype; ParameterError unless it holds bit patterns."""
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise ParameterError(f"{name} must be an integer array of {self.name} bit patterns, "
                                 f"got dtype {x.dtype}")
        top = (1 << self.width) - 1
        if x.size and (int(x.min()) < 0 or int(x.max()) > top):
            raise ParameterError(f"{name} must hold {self.name} bit patterns in 0..{top:#x}, "
                                 f"got values in {int(x.min())}..{int(x.max())}")
        return x.astype(self.dtype)

    def fields(self, x):
        """(sign, exponent, fraction) of bit patterns, each as int64."""
        x = x.astype(np.int64)
        return (x >> (self.width - 1)) & 1, (x >> self.frac_bits) & self.exp_max, x & self.frac_mask

    def pack(self, sign, exp, frac):
        """Bit patterns from int fields (no range checks: the caller has normalized them)."""
        sign, exp, frac = (np.asarray(v, dtype=np.int64) for v in (sign, exp, frac))
        return ((sign << (self.width - 1)) | (exp << self.frac_bits) | frac).astype(self.dtype)

    def is_nan(self, x):
        _, e, f = self.fields(np.asarray(x))
        return (e == self.exp_max) & (f != 0)

    def is_inf(self, x):
        _, e, f = self.fields(np.asarray(x))
        return (e == self.exp_max) & (f == 0)

    def is_zero(self, x):
        _, e, f = self.fields(np.asarray(x))
        return (e == 0) & (f == 0)

    def is_subnormal(self, x):
        _, e, f = self.fields(np.asarray(x))
        return (e == 0) & (f != 0)

    def ftz(self, x):
        """Flush subnormal patterns to the zero of the same sign; others unchanged."""
        x = np.asarray(x).astype(self.dtype)
        return np.where(self.is_subnormal(x), x & self.dtype(self.sign_bit), x).astype(self.dtype)

    def special_values(self):
        """One array of patterns covering every special class (see ``special_classes``)."""
        return np.concatenate(list(self.special_classes().values()))

    def special_classes(self):
        """Class name -> array of patterns: both signs of zero, subnormals (smallest, largest,
        a middle one), min normal and its successor, 1.0 and its neighbours, max finite and its
        predecessor, Inf, and NaNs with several payloads (quiet, signalling, both signs)."""
        f, t, e = self.frac_bits, self.width - 1, self.exp_max
        top = 1 << (f - 1)                              # the quiet bit
        mag = {
            "zero": [0],
            "subnormal": [1, top, self.frac_mask, 0b101 << (f - 3)],
            "min_normal": [1 << f, (1 << f) + 1],
            "one": [self.bias << f, (self.bias << f) + 1, ((self.bias - 1) << f) | self.frac_mask],
            "max": [((e - 1) << f) | self.frac_mask, ((e - 1) << f) | (self.frac_mask - 1)],
            "inf": [e << f],
            "nan": [(e << f) | p for p in (top, 1, self.frac_mask, top | 0b101)],
        }
        return {k: np.array([m | s << t for s in (0, 1) for m in v], dtype=self.dtype)
                for k, v in mag.items()}


BF16 = Format("bf16", 16, 7, np.uint16)
FP32 = Format("fp32", 32, 23, np.uint32)

BF16_QNAN = 0x7FC0          # canonical quiet NaN of bf16
FP32_QNAN = 0x7FC00000      # canonical quiet NaN of fp32: every NaN result of every float unit


def special_bf16_values():
    """bf16 patterns of every special class, both signs (zeros, subnormals, min normal, 1.0,
    max, Inf, NaNs with several payloads)."""
    return BF16.special_values()


def special_fp32_values():
    """fp32 patterns of every special class, both signs (as ``special_bf16_values``)."""
    return FP32.special_values()


def bf16_to_float(x):
    """bf16 patterns -> float64 values (exact), through ml_dtypes' bfloat16."""
    import ml_dtypes
    with np.errstate(invalid="ignore"):       # NaN patterns convert to NaN, quietly
        return BF16.bits(x).view(ml_dtypes.bfloat16).astype(np.float64)


def fp32_to_float(x):
    """fp32 patterns -> float32 values (a reinterpretation, no conversion)."""
    return FP32.bits(x).view(np.float32)


def float_to_fp32(v):
    """float32 (or float64, rounded RNE by NumPy) values -> fp32 patterns."""
    return np.asarray(v, dtype=np.float32).view(np.uint32)
