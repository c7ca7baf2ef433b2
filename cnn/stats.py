r"""Statistics of a classifier against the FP32 baseline on the same N test images.

With logits L (N x classes), the FP32 logits F and the labels y:

    top1       = #{i : argmax L_i = y_i} / N          (argmax: the first largest logit)
    topk       = #{i : y_i among the k first indices of L_i sorted by decreasing logit,
                       ties by lower index} / N       (k = 1 gives top1)
    agreement  = #{i : argmax L_i = argmax F_i} / N
    mean_abs_logit_error = sum |L - F| / (N * classes)   (in float64)

Wilson 95 % score interval of a proportion p = k / n (z = the 0.975 normal quantile):

    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)

Exact McNemar test of "L and F are equally accurate" on the same images: of the discordant
images, b are right under L only and c under F only; under the null each is b ~ Bin(b + c, 1/2),
so the two-sided p-value is min(1, 2 P(Bin(b + c, 1/2) <= min(b, c))) (1 when b + c = 0).
A difference is called significant when p < ALPHA.
"""

import numpy as np
from scipy import stats

ALPHA = 0.05
Z95 = float(stats.norm.ppf(0.975))


def wilson(k, n, confidence=0.95):
    """(low, high) Wilson score interval of k successes in n trials (scipy)."""
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence,
                                                       method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value of b and c discordant pairs (binomial test, scipy)."""
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(b), n, 0.5, alternative="two-sided").pvalue)


def topk(logits, labels, k):
    """Fraction of rows whose label is among the k first classes by decreasing logit
    (ties: lower class index first, as argmax)."""
    logits = np.asarray(logits)
    order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float((order == np.asarray(labels)[:, None]).any(axis=1).mean())


def agreement(logits, ref):
    """Fraction of rows with the same argmax in logits and ref."""
    return float((np.asarray(logits).argmax(1) == np.asarray(ref).argmax(1)).mean())


def mean_abs_logit_error(logits, ref):
    """mean |logits - ref| over every entry, in float64."""
    return float(np.abs(np.asarray(logits, np.float64) - np.asarray(ref, np.float64)).mean())


def compare(logits, ref, labels, alpha=ALPHA):
    """The record of one (model, dataset, multiplier) against the FP32 logits ``ref``.

    Returns
    -------
    dict
        images, top1, top1_ci [low, high], top3, agreement, discordant [b, c] (right only here,
        right only in FP32), mcnemar_p, significant (mcnemar_p < alpha),
        mean_abs_logit_error.
    """
    labels = np.asarray(labels)
    right = np.asarray(logits).argmax(1) == labels
    right_ref = np.asarray(ref).argmax(1) == labels
    b = int((right & ~right_ref).sum())
    c = int((~right & right_ref).sum())
    p = mcnemar_exact(b, c)
    n, k = len(labels), int(right.sum())
    return {"images": n, "top1": k / n if n else 0.0, "top1_ci": list(wilson(k, n)),
            "top3": topk(logits, labels, 3), "agreement": agreement(logits, ref),
            "discordant": [b, c], "mcnemar_p": p, "significant": bool(p < alpha),
            "mean_abs_logit_error": mean_abs_logit_error(logits, ref)}
