"""golden.bf16_mul and golden.fp32_add against independent references.

fp32_add: NumPy float32 addition (IEEE RNE on the host FPU). bf16_mul: the float64 product of the
ml_dtypes bfloat16 values, converted to float32. Where the number-format policy departs from
IEEE (subnormals flushed, one canonical NaN) the reference applies the policy around the host
arithmetic: flush the inputs, compute, flush the result, canonicalize NaN.
"""

import ml_dtypes
import numpy as np
import pytest

from golden.bf16_mul import bf16_mul
from golden.floats import (BF16, BF16_QNAN, FP32, FP32_QNAN, bf16_to_float, float_to_fp32,
                           special_bf16_values, special_fp32_values)
from golden.fp32_add import fp32_add
from golden.params import ParameterError


def policy(bits):
    """FTZ of a result and canonical NaN: the policy applied to a host float32 result."""
    bits = FP32.ftz(bits)
    return np.where(FP32.is_nan(bits), np.uint32(FP32_QNAN), bits).astype(np.uint32)


def ref_add(x, y):
    """IEEE float32 x + y on the host, with the policy around it."""
    with np.errstate(all="ignore"):
        return policy((FP32.ftz(x).view(np.float32) + FP32.ftz(y).view(np.float32)).view(np.uint32))


def ref_mul(a, b):
    """float64 product of the bf16 values (exact: 16 significant bits), rounded to float32."""
    with np.errstate(all="ignore"):
        return policy(float_to_fp32(bf16_to_float(BF16.ftz(a)) * bf16_to_float(BF16.ftz(b))))


def fp32_pairs(rng, count):
    """Random patterns; half the y get an exponent within 30 of x's (cancellation, alignment)."""
    x = rng.integers(0, 1 << 32, count, dtype=np.uint64).astype(np.uint32)
    y = rng.integers(0, 1 << 32, count, dtype=np.uint64).astype(np.uint32)
    half = slice(0, count, 2)
    ex = ((x[half] >> 23) & 0xFF).astype(np.int64)
    ey = np.clip(ex + rng.integers(-30, 31, ex.size), 0, 255).astype(np.uint32)
    y[half] = (y[half] & np.uint32(0x807FFFFF)) | (ey << 23)
    return x, y


def test_fp32_add_equals_numpy_float32_on_1e7_pairs():
    rng = np.random.default_rng(2022)
    ieee_checked = policy_checked = 0
    for _ in range(11):
        x, y = fp32_pairs(rng, 1_000_000)
        got = fp32_add(x, y)
        assert got.dtype == np.uint32
        with np.errstate(all="ignore"):
            host = (x.view(np.float32) + y.view(np.float32)).view(np.uint32)
        # no subnormal input or result, no NaN: golden must be plain IEEE float32, bit for bit
        plain = ~(FP32.is_subnormal(x) | FP32.is_subnormal(y)
                  | FP32.is_subnormal(host) | FP32.is_nan(host))
        assert np.array_equal(got[plain], host[plain])
        assert np.array_equal(got[~plain], ref_add(x[~plain], y[~plain]))
        ieee_checked += int(plain.sum())
        policy_checked += int((~plain).sum())
    assert ieee_checked >= 10_000_000
    assert policy_checked > 100_000


def test_fp32_add_subnormal_region_follows_ftz():
    """Operands near the bottom of the range: subnormal inputs and results are flushed."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 0x01800000, 400_000, dtype=np.uint64).astype(np.uint32)
    y = rng.integers(0, 0x01800000, 400_000, dtype=np.uint64).astype(np.uint32)
    y |= (rng.integers(0, 2, y.size, dtype=np.uint64) << 31).astype(np.uint32)
    got = fp32_add(x, y)
    assert np.array_equal(got, ref_add(x, y))
    assert not FP32.is_subnormal(got).any()
    with np.errstate(all="ignore"):
        host = (x.view(np.float32) + y.view(np.float32)).view(np.uint32)
    flushed = FP32.is_subnormal(host) & ~FP32.is_subnormal(x) & ~FP32.is_subnormal(y)
    assert flushed.sum() > 1000                                   # the result flush was exercised
    assert np.array_equal(got[flushed], host[flushed] & np.uint32(0x80000000))


def test_fp32_add_special_classes_crossed():
    s = special_fp32_values()
    x, y = (v.ravel() for v in np.meshgrid(s, s))
    assert np.array_equal(fp32_add(x, y), ref_add(x, y))


@pytest.mark.parametrize("x,y,want", [
    (0x3F800000, 0xBF800000, 0x00000000),     # 1 + (-1) = +0
    (0xBF800000, 0x3F800000, 0x00000000),     # -1 + 1 = +0
    (0x80000000, 0x80000000, 0x80000000),     # -0 + -0 = -0
    (0x80000000, 0x00000000, 0x00000000),     # -0 + +0 = +0
    (0x80000001, 0x80000002, 0x80000000),     # subnormals flush to -0, sum -0
    (0x00800001, 0x80800000, 0x00000000),     # 2^-149 result is flushed
    (0x7F7FFFFF, 0x7F7FFFFF, 0x7F800000),     # max + max overflows
    (0x7F7FFFFF, 0x73000000, 0x7F800000),     # max + half an ulp: tie, odd lsb rounds up to Inf
    (0x7F7FFFFE, 0x73000000, 0x7F7FFFFE),     # tie, even lsb stays
    (0x3F800000, 0x33800000, 0x3F800000),     # 1 + 2^-24: tie to even (down)
    (0x3F800001, 0x33800000, 0x3F800002),     # (1 + 2^-23) + 2^-24: tie to even (up)
    (0x3F800000, 0x33800001, 0x3F800001),     # just above the tie: up
    (0x3FFFFFFF, 0x34000000, 0x40000000),     # add carry renormalizes: 2 - 2^-23 + 2^-23
    (0x3FFFFFFF, 0x33800000, 0x40000000),     # rounding carry renormalizes: tie, odd, up to 2
    (0x7F800000, 0xFF800000, FP32_QNAN),      # Inf - Inf
    (0x7F800000, 0x7F800000, 0x7F800000),     # Inf + Inf
    (0xFF800000, 0x7F7FFFFF, 0xFF800000),     # -Inf + max
    (0x7F800001, 0x3F800000, FP32_QNAN),      # signalling NaN in
    (0xFFC12345, 0x7F800000, FP32_QNAN),      # negative NaN with payload in
])
def test_fp32_add_named_cases(x, y, want):
    got = fp32_add(np.uint32(x), np.uint32(y))
    assert int(got) == want
    assert int(ref_add(np.uint32(x), np.uint32(y))) == want


def test_bf16_mul_all_a_against_structured_b():
    """Every bf16 pattern a against every fraction (both signs) at two exponents, plus specials."""
    frac = np.arange(128, dtype=np.uint16)
    b = np.concatenate([frac | np.uint16(127 << 7), frac | np.uint16(130 << 7),
                        special_bf16_values()])
    b = np.unique(np.concatenate([b, b | np.uint16(0x8000)]))
    a = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    checked = 0
    for part in np.array_split(a, 16):
        x, y = (v.ravel() for v in np.meshgrid(part, b))
        got = bf16_mul(x, y)
        assert got.dtype == np.uint32
        assert np.array_equal(got, ref_mul(x, y))
        checked += x.size
    assert checked == (1 << 16) * 542


def test_bf16_mul_every_exponent_pair():
    """All 256 x 256 exponents (0 and 255 included) with fractions giving both normalizations."""
    e = np.arange(256, dtype=np.uint16) << 7
    v = np.concatenate([e | f for f in (0, 1, 0x40, 0x5A, 0x7F)])
    v = np.concatenate([v, v | np.uint16(0x8000)])
    x, y = (w.ravel() for w in np.meshgrid(v, v))
    got = bf16_mul(x, y)
    want = ref_mul(x, y)
    assert np.array_equal(got, want)
    # the ranges that matter were hit: overflow to Inf from finite operands, FTZ of a normal product
    finite = ~(BF16.is_inf(x) | BF16.is_inf(y) | BF16.is_nan(x) | BF16.is_nan(y))
    normal_in = finite & ~((x & 0x7F80) == 0) & ~((y & 0x7F80) == 0)
    assert (FP32.is_inf(got) & finite).sum() > 1000
    assert (FP32.is_zero(got) & normal_in).sum() > 1000


def test_bf16_mul_in_range_is_exact_ieee():
    """Where inputs and product are normal the result is the plain float32 value, no policy."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 1 << 16, 2_000_000, dtype=np.uint64).astype(np.uint16)
    y = rng.integers(0, 1 << 16, 2_000_000, dtype=np.uint64).astype(np.uint16)
    got = bf16_mul(x, y)
    with np.errstate(all="ignore"):
        host = float_to_fp32(x.view(ml_dtypes.bfloat16).astype(np.float64)
                             * y.view(ml_dtypes.bfloat16).astype(np.float64))
    plain = ~(BF16.is_subnormal(x) | BF16.is_subnormal(y)
              | FP32.is_subnormal(host) | FP32.is_nan(host))
    assert plain.sum() > 1_800_000
    assert np.array_equal(got[plain], host[plain])
    assert np.array_equal(got[~plain], ref_mul(x[~plain], y[~plain]))


@pytest.mark.parametrize("a,b,want", [
    (0x3F80, 0x3F80, 0x3F800000),     # 1 x 1
    (0x3FFF, 0x3FFF, 0x407E0100),     # 1.9921875^2 = 3.9688: P = 0xFE01, normalized by 1 bit
    (0x0080, 0x3F00, 0x00000000),     # min normal x 0.5: below 2^-126, flushed
    (0x8080, 0x3F80, 0x80800000),     # -min normal x 1 stays normal
    (0x7F7F, 0x4000, 0x7F800000),     # max x 2 overflows
    (0x7F7F, 0xBF80, 0xFF7F0000),     # max x -1
    (0x7F80, 0x0000, FP32_QNAN),      # Inf x 0
    (0x0001, 0xFF80, FP32_QNAN),      # subnormal (flushed to 0) x -Inf
    (0x0001, 0x3F80, 0x00000000),     # subnormal x 1 -> +0
    (0x8001, 0x3F80, 0x80000000),     # -subnormal x 1 -> -0
    (0xFF80, 0xBF80, 0x7F800000),     # -Inf x -1
    (0x7F81, 0x3F80, FP32_QNAN),      # signalling NaN in
    (0xFFC0, 0x0000, FP32_QNAN),      # negative NaN x 0
])
def test_bf16_mul_named_cases(a, b, want):
    assert int(bf16_mul(np.uint16(a), np.uint16(b))) == want
    assert int(ref_mul(np.uint16(a), np.uint16(b))) == want


def test_canonical_nans_and_special_values():
    assert np.isnan(np.uint32(FP32_QNAN).view(np.float32))
    assert np.isnan(float(np.uint16(BF16_QNAN).view(ml_dtypes.bfloat16)))
    assert BF16_QNAN == FP32_QNAN >> 16          # the bf16 NaN is the fp32 NaN truncated
    for fmt, values in ((BF16, special_bf16_values()), (FP32, special_fp32_values())):
        for test in (fmt.is_nan, fmt.is_inf, fmt.is_zero, fmt.is_subnormal):
            hits = test(values)
            assert hits.sum() >= 2 and len(set((values[hits] >> (fmt.width - 1)).tolist())) == 2
        assert len(set(values.tolist())) == len(values)
        flushed = fmt.ftz(values)
        assert np.array_equal(flushed >> (fmt.width - 1), values >> (fmt.width - 1))   # sign kept
        assert not fmt.is_subnormal(flushed).any()


def test_bad_inputs_raise_parameter_error():
    with pytest.raises(ParameterError, match="a must be an integer array of bf16"):
        bf16_mul(np.array([1.5]), np.uint16(0))
    with pytest.raises(ParameterError, match=r"b must hold bf16 bit patterns in 0..0xffff"):
        bf16_mul(np.uint16(0), np.array([0x10000]))
    with pytest.raises(ParameterError, match=r"y must hold fp32 bit patterns in 0..0xffffffff"):
        fp32_add(np.uint32(0), np.array([-1]))
    with pytest.raises(ParameterError, match="x must be an integer array of fp32"):
        fp32_add(np.float32(1.0), np.uint32(0))
