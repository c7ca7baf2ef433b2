"""cnn.stats against independent computations: the Wilson formula in exact rationals plus
math.sqrt, the McNemar p-value as a sum of binomial coefficients, top-k by Python loops."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cnn import stats


def wilson_ref(k, n, z=1.959963984540054):
    p, n = Fraction(k, n), Fraction(n)
    z2 = Fraction(z) ** 2
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    den = 1 + z2 / n
    return float(centre) / float(den) - half / float(den), float(centre) / float(den) + half / float(den)


def mcnemar_ref(b, c):
    n = b + c
    if n == 0:
        return Fraction(1)
    tail = Fraction(sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2 ** n)
    return min(Fraction(1), 2 * tail)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (1, 3), (9231, 10000), (50, 100),
                                 (999, 1000), (7, 359)])
def test_wilson_matches_formula(k, n):
    lo, hi = stats.wilson(k, n)
    rlo, rhi = wilson_ref(k, n)
    assert lo == pytest.approx(rlo, abs=1e-12) and hi == pytest.approx(rhi, abs=1e-12)
    assert 0 <= lo <= k / n <= hi <= 1


def test_wilson_half_width_at_10000_images():
    """The headline resolution: at 92 % on 10 000 images the interval is about +-0.53 %."""
    lo, hi = stats.wilson(9200, 10000)
    assert 0.0052 < (hi - lo) / 2 < 0.0054


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (1, 0), (3, 3), (10, 2), (2, 10), (0, 9),
                                 (40, 61), (150, 170), (1, 30)])
def test_mcnemar_matches_binomial_sum(b, c):
    assert stats.mcnemar_exact(b, c) == pytest.approx(float(mcnemar_ref(b, c)), rel=1e-12, abs=0)


def test_mcnemar_known_small_values():
    # 2 * (1/2)^6 = 1/32 for 6 discordant pairs all one way
    assert stats.mcnemar_exact(0, 6) == pytest.approx(1 / 32, rel=1e-14)
    assert stats.mcnemar_exact(5, 5) == 1.0


def test_topk_agreement_and_logit_error_against_loops():
    rng = np.random.default_rng(5)
    logits = rng.integers(-3, 4, (400, 10)).astype(np.float32)   # many ties
    ref = logits + rng.integers(-1, 2, (400, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 400)
    for k in (1, 3, 10):
        hits = 0
        for row, y in zip(logits.tolist(), labels.tolist()):
            ranked = sorted(range(10), key=lambda j: (-row[j], j))
            hits += y in ranked[:k]
        assert stats.topk(logits, labels, k) == hits / 400
    first_max = [row.index(max(row)) for row in logits.tolist()]
    assert stats.topk(logits, labels, 1) == sum(a == y for a, y in zip(first_max, labels)) / 400
    ref_max = [row.index(max(row)) for row in ref.tolist()]
    assert stats.agreement(logits, ref) == sum(a == b for a, b in zip(first_max, ref_max)) / 400
    err = sum(abs(a - b) for a, b in zip(logits.ravel().tolist(), ref.ravel().tolist())) / 4000
    assert stats.mean_abs_logit_error(logits, ref) == pytest.approx(err, rel=1e-12)


def test_compare_record():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    eye = np.eye(3, dtype=np.float32)
    ref = eye[[0, 1, 2, 0, 1, 2, 1, 2]]           # fp32: right on the first 6
    logits = eye[[0, 1, 2, 1, 2, 0, 0, 2]]        # right on 0, 1, 2, 6
    r = stats.compare(logits, ref, labels)
    assert r["images"] == 8 and r["top1"] == 0.5 and r["discordant"] == [1, 3]
    assert r["agreement"] == 4 / 8
    assert r["mcnemar_p"] == pytest.approx(float(mcnemar_ref(1, 3)))
    assert r["significant"] is False and r["top3"] == 1.0
    same = stats.compare(ref, ref, labels)
    assert same["mcnemar_p"] == 1.0 and same["mean_abs_logit_error"] == 0.0
    lopsided = stats.compare(np.tile(eye[[1]], (40, 1)), np.tile(eye[[0]], (40, 1)),
                             np.zeros(40, int))
    assert lopsided["significant"] is True and lopsided["top1"] == 0.0
