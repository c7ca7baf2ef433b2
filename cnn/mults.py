r"""The multipliers a CNN layer can use, by name, with their operand encodings.

Names (``parse_mult``):

    fp32                              NumPy float32 (BLAS sgemm): the reference, not a golden unit
    bf16                              golden.bf16_mul.bf16_mul
    mitch_bf16_w{W}_{variant}         golden.mitch_bf16_mul.mitch_bf16_mul, W in 2..8
    int{N}                            golden.int_mul.int_mul(n=N, signed="exact"), N in 4..16
                                      (int8, int16 in the grids)
    mitch_int{N}_w{W}_{variant}_{signed}
                                      golden.mitchell.mitch_mul, N in {8, 16}, W in 2..min(N, 10),
                                      signed in {exact, c1}
    posit_n{N}_es{ES}                 golden.posit.exact_product (posit_mul's product, unrounded;
                                      the MAC posit_mac), N in {8, 16}, ES in 0..2
    plam_n{N}_es{ES}                  golden.posit.plam_product (PLAM, unrounded; plam_mac)

Entries (``parse_entry``): ``MULT`` (exact accumulation) or ``MULT+ADDER`` with a bf16 MULT, where
the products are accumulated in MAC order by golden ``fp32_add`` (golden/mac.py's MAC) or an
approximate adder: ``mitch_add``, ``trunc_add_t{T}`` (golden/approx_add.py).

Encodings. Float units take bf16 bit patterns: fp32 activations and weights are rounded to bf16
(round to nearest even, ml_dtypes) before the multiplier. Integer units take symmetric quantized
values q = clip(rint(x / s), -(2^(N-1)-1), 2^(N-1)-1): weights per output channel with
s_w[c] = max_k |W[k, c]| / (2^(N-1)-1), activations per layer with s_a = calib_absmax / (2^(N-1)-1)
(calib_absmax stored with the weights). The integer dot product is exact; the layer output is
fp32(acc * s_a * s_w[c]) computed in float64. Posit units take posit<N, ES> patterns: fp32 values
rounded to posit (golden.posit.float64_to_posit: nearest even on the bit string, saturating to
+-maxpos / +-minpos, as bf16 units round fp32 -> bf16); the layer is golden/mac.py's quire MAC:
the unrounded products summed exactly, the sum rounded once to posit<N, ES>
(cnn.exactsum.PositRounding) and read as its float32 value (exact: N <= 16, ES <= 2).

Class decomposition (the fast path of cnn.gemm). Each unit's product factors as

    mul(a, b) = scale(a) * scale(b) * T[cls(a), cls(b)]  (+ corr(a, b) for signed = c1)

with scale(x) an exact signed power of two (0 for a zero operand) and T a small table of exact
values computed by the golden function itself on one representative per class:

* bf16: cls = the 7-bit fraction (128 classes), scale = +-2^(e-127); the representative has
  exponent 127. Holds while no product under- or overflows (checked: ``check_fast``).
* mitch_bf16 w: cls = the top w-1 fraction bits (Mitch-w ignores the rest), 2^(w-1) classes.
* mitch_int N w: the magnitude m (|x|, or ~x = |x|-1 for a negative x in c1 mode); m < 2^(w-1):
  cls = m, scale = 1; else cls = m >> (k-w+1) (its top w bits; k = floor(log2 m)), scale =
  2^(k-w+1). Mitch-w only sees k and the w-1 bits below the leading one, and its final shift
  floor(m 2^k / 2^(w-1)) is exact unless both magnitudes are below 2^(w-1), where cls = m itself:
  so mitch(m_a, m_b) = scale_a scale_b mitch(cls_a, cls_b). Signs: exact multiplies by
  sign_a sign_b; c1 gives -p-1 when the signs differ, i.e. corr = -[sign_a != sign_b].
* posit / plam: scale = +-2^SF (0 for the zero pattern), cls = the fraction, F = N-3-ES bits
  (2^F classes; shorter fractions are zero-padded, as golden.posit decodes them). Both products
  depend on SF and the fraction only and are exact (unrounded), so they factor exactly. Only
  PLAM with N = 8 uses the table (2^F <= 32 classes); the exact product's fast path is one dgemm
  of the posit values (every product is exact in float64) and PLAM with N = 16 (4096 classes)
  runs cnn.plam_kernel, both without a table (``n_classes`` = 1: table entries per weight).
"""

import re
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from golden.approx_add import check_trunc_add_params, mitch_add, trunc_add
from golden.bf16_mul import bf16_mul
from golden.floats import BF16, FP32, fp32_to_float
from golden.fp32_add import fp32_add
from golden.int_mul import int_mul
from golden.mitch_bf16_mul import check_mitch_bf16_params, mitch_bf16_mul
from golden.mitchell import mitch_mul
from golden.params import ParameterError, check_choice, check_int, check_mitch_params
from golden.posit import (decode, exact_product, float64_to_posit, nar_pattern, plam_product,
                          product_to_float64)

from .exactsum import PositRounding

from .kernels import exponent_range

INT_N = (4, 16)                # intN operand widths (int8 / int16 in the grids; 4..7 for CTMQ)
MAX_INT_CLASSES_LOG2 = 10      # the fast path's table is K x 2^w x C floats: w <= 10 keeps it small
POSIT_N = (8, 16)
POSIT_ES = range(0, 3)         # posit<16, es <= 3> values are fp32 numbers; 0..2 are catalogued
POSIT_TABLE_N = 8              # PLAM with n <= 8 runs the class table (2^(n-3-es) classes)


def to_bf16(x):
    """float32 values -> bf16 patterns (np.uint16), round to nearest even."""
    return np.asarray(x, dtype=np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)


def to_posit(x, n, es):
    """float32 values -> posit<n, es> patterns (golden.posit.float64_to_posit: nearest even,
    saturating; NaN and +-Inf give NaR)."""
    return float64_to_posit(np.asarray(x, dtype=np.float32).astype(np.float64), n=n, es=es)


@dataclass(frozen=True)
class Mult:
    """One multiplier: ``kind`` is 'fp32', 'float' (bf16 operands, fp32 products), 'int' or
    'posit' (posit<n, es> operands, unit posit_mac or plam_mac)."""
    name: str
    kind: str
    unit: str = ""            # golden MAC unit name (golden.mac) for the sequential check
    n: int = 0                # integer / posit operand width
    w: int = 0
    variant: str = "trunc"
    signed: str = "exact"
    es: int = 0               # posit exponent bits

    @property
    def plam(self):
        return self.unit == "plam_mac"

    @property
    def rounding(self):
        """The R of the layer's exact sum: None for fp32 rounding (cnn.kernels.round_sums), or
        the posit rounding (cnn.exactsum.PositRounding)."""
        return PositRounding(self.n, self.es) if self.kind == "posit" else None

    @property
    def table_path(self):
        """False for the posit units whose fast path needs no class table (cnn.gemm.posit_direct:
        exact posit products, PLAM n = 16); True for the others."""
        return self.kind != "posit" or (self.plam and self.n <= POSIT_TABLE_N)

    # ------------------------------------------------------------ golden products
    def product(self, a, b):
        """Golden products of encoded operands: float64 values for float units (the exact value
        of the fp32 pattern), int64 for integer units."""
        if self.kind == "float":
            p = (bf16_mul(a, b) if self.w == 0 else
                 mitch_bf16_mul(a, b, w=self.w, variant=self.variant))
            return fp32_to_float(p).astype(np.float64)
        if self.kind == "posit":
            product = plam_product if self.plam else exact_product
            return product_to_float64(product(a, b, n=self.n, es=self.es))
        if self.w == 0:
            return int_mul(a, b, n=self.n, signed="exact")
        return mitch_mul(a, b, n=self.n, w=self.w, variant=self.variant, signed=self.signed)

    def mac_params(self):
        """(unit, params) of the golden MAC that runs this multiplier (golden/mac.py)."""
        if self.kind == "float":
            return ("bf16_mac", {}) if self.w == 0 else (
                "mitch_bf16_mac", {"w": self.w, "variant": self.variant})
        if self.kind == "posit":
            return self.unit, {"n": self.n, "es": self.es}
        if self.w == 0:
            return "int_mac", {"n": self.n, "acc_width": 64}
        return "mitch_mac", {"n": self.n, "w": self.w, "variant": self.variant,
                             "signed": self.signed, "acc_width": 64}

    # ------------------------------------------------------------ encodings
    def encode(self, x):
        """Operands of fp32 values x for float (bf16 patterns) and posit units (posit patterns);
        integer units quantize instead (``quantize``)."""
        if self.kind == "float":
            return to_bf16(x)
        if self.kind == "posit":
            return to_posit(x, self.n, self.es)
        raise ValueError(f"{self.name}: integer operands need a scale (quantize)")

    @property
    def qmax(self):
        return (1 << (self.n - 1)) - 1

    def quantize(self, x, scale):
        """Symmetric quantization to N-bit ints (int64 array); ``scale`` broadcasts against x."""
        q = np.rint(np.asarray(x, np.float64) / scale)
        return np.clip(q, -self.qmax, self.qmax).astype(np.int64)

    def weight_scale(self, w):
        """Per-output-channel scales of a (K, C) weight matrix."""
        m = np.abs(w.astype(np.float64)).max(axis=0)
        return np.where(m > 0, m, 1.0) / self.qmax

    # ------------------------------------------------------------ class decomposition
    @property
    def posit_classes(self):
        """2^F, F = n-3-es: the fraction classes of a posit split."""
        return 1 << (self.n - 3 - self.es)

    @property
    def n_classes(self):
        """Entries per weight of the fast path's class table (1: the fast path has none)."""
        if self.kind == "posit":
            return self.posit_classes if self.table_path else 1
        if self.kind == "float":
            return 128 if self.w == 0 else 1 << (self.w - 1)
        return 1 << self.w

    def split(self, x):
        """(cls, scale) of encoded operands: int64 class indices, float64 exact signed scales."""
        if self.kind == "float":
            s, e, f = BF16.fields(np.asarray(x))
            cls = f if self.w == 0 else f >> (8 - self.w)
            mag = np.where(e == 0, 0.0, np.ldexp(1.0, (e - BF16.bias).astype(np.int32)))
            return cls, np.where(s == 1, -mag, mag)
        if self.kind == "posit":
            d = decode(x, n=self.n, es=self.es)     # sig: FB = n-1-es bits, the low 2 are 0
            cls = ((d.sig & np.uint64((1 << d.fb) - 1)) >> np.uint64(2)).astype(np.int64)
            mag = np.where(d.zero | d.nar, 0.0, np.ldexp(1.0, d.scale.astype(np.int32)))
            return cls, np.where(d.sign == 1, -mag, mag)
        x = np.asarray(x, dtype=np.int64)
        neg = x < 0
        mag = np.where(neg, ~x, x) if self.signed == "c1" else np.abs(x)
        k = np.maximum(np.frexp(mag.astype(np.float64))[1] - 1, 0)   # floor(log2 mag), exact
        shift = np.maximum(k - (self.w - 1), 0)
        cls = mag >> shift
        scale = np.ldexp(1.0, shift.astype(np.int32))
        if self.signed == "c1":
            # c1 negates p by inversion (-p-1): the -1 is corr, the -p is this sign.
            return cls, np.where(neg, -scale, scale)
        return cls, np.where(neg, -scale, np.where(mag == 0, 0.0, scale))

    def table(self):
        """T[i, j]: the golden product of class representatives i, j (float64, exact)."""
        if self.kind == "posit":
            # 1.cls x 2^0: regime 10, exponent 0, fraction cls (F bits)
            i = np.arange(self.posit_classes)
            rep = (1 << (self.n - 2)) | i
            return self.product(rep[:, None], rep[None, :])
        i = np.arange(self.n_classes)
        if self.kind == "float":
            frac = i if self.w == 0 else i << (8 - self.w)
            rep = BF16.pack(0, BF16.bias, frac)          # 1.frac x 2^0
            return self.product(rep[:, None], rep[None, :])
        t = mitch_mul(i[:, None], i[None, :], n=max(self.n, self.w), w=self.w,
                      variant=self.variant, signed="none")
        return t.astype(np.float64)

    def check_fast(self, a, b):
        """Why the class decomposition may not hold for these operands (None when it holds).

        Float units: every nonzero product must be a normal fp32 number (no NaN/Inf operands, no
        under/overflow), so that scale * scale * T is the golden value. Integer units: operands
        within +-(2^(N-1)-1) (the quantizer's range), so |a|, |b| never hit -2^(N-1). Posit
        units: no NaR operand (NaR makes the quire NaR)."""
        if self.kind == "posit":
            nar = nar_pattern(self.n)
            for name, x in (("a", a), ("b", b)):
                if (np.asarray(x) == nar).any():
                    return f"{name} holds NaR"
            return None
        if self.kind == "float":
            (amin, amax), (bmin, bmax) = exponent_range(a), exponent_range(b)   # exponent fields
            if amax == BF16.exp_max or bmax == BF16.exp_max:
                return "NaN or Inf operand"
            if amin == 0xFFFF or bmin == 0xFFFF:                        # all zero / subnormal
                return None
            lo = amin + bmin - BF16.bias                                # carry only raises e
            hi = amax + bmax - BF16.bias + 1
            if lo <= 0 or hi >= FP32.exp_max:
                return f"product exponents {lo}..{hi} leave the normal fp32 range 1..254"
            return None
        for name, x in (("a", a), ("b", b)):
            if x.size and np.abs(x).max() > self.qmax:
                return f"{name} reaches -2^(N-1)"
        return None


def parse_mult(name):
    """The Mult called ``name`` (see the module docstring); ParameterError for anything else."""
    if name == "fp32":
        return Mult("fp32", "fp32")
    if name == "bf16":
        return Mult("bf16", "float", "bf16_mac")
    m = re.fullmatch(r"mitch_bf16_w(\d+)_(\w+?)", name)
    if m:
        w, variant = int(m.group(1)), m.group(2)
        check_mitch_bf16_params(w, variant)
        return Mult(name, "float", "mitch_bf16_mac", w=w, variant=variant)
    m = re.fullmatch(r"int(\d+)", name)
    if m:
        n = check_int("n", int(m.group(1)), *INT_N)
        return Mult(name, "int", "int_mac", n=n)
    m = re.fullmatch(r"mitch_int(\d+)_w(\d+)_([a-z]+)_([a-z0-9]+)", name)
    if m:
        n = check_choice_int("n", int(m.group(1)))
        w, variant, signed = int(m.group(2)), m.group(3), m.group(4)
        check_mitch_params(n, w, variant, signed)
        check_int("w", w, 2, min(n, MAX_INT_CLASSES_LOG2))
        check_choice("signed", signed, ("exact", "c1"))
        return Mult(name, "int", "mitch_mac", n=n, w=w, variant=variant, signed=signed)
    m = re.fullmatch(r"(posit|plam)_n(\d+)_es(\d+)", name)
    if m:
        n = check_choice_int("n", int(m.group(2)), POSIT_N)
        es = check_int("es", int(m.group(3)), POSIT_ES.start, POSIT_ES.stop - 1)
        return Mult(name, "posit", f"{m.group(1)}_mac", n=n, es=es)
    raise ParameterError(
        f"mult must be fp32, bf16, mitch_bf16_w{{2..8}}_{{trunc|unbiased}}, int{{4..16}}, "
        f"mitch_int{{8|16}}_w{{2..10}}_{{trunc|unbiased}}_{{exact|c1}}, posit_n{{8|16}}_es{{0..2}} "
        f"or plam_n{{8|16}}_es{{0..2}}; got {name!r}")


def check_choice_int(name, value, choices=(8, 16)):
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(str, choices))}; got {value}")
    return value


def parse_entry(name):
    """(Mult, adder function or None) of an entry name; ParameterError if unknown."""
    mult_name, _, adder = name.partition("+")
    mult = parse_mult(mult_name)
    if not adder:
        return mult, None
    if mult.kind != "float":
        raise ParameterError(f"{name}: an adder (+...) needs a bf16 multiplier (fp32 accumulator)")
    if adder == "fp32_add":
        return mult, fp32_add
    if adder == "mitch_add":
        return mult, mitch_add
    m = re.fullmatch(r"trunc_add_t(\d+)", adder)
    if m:
        t = int(m.group(1))
        check_trunc_add_params(t)
        return mult, lambda x, y: trunc_add(x, y, t=t)
    raise ParameterError(f"adder must be fp32_add, mitch_add or trunc_add_t{{2..24}}; got {adder!r}")
