r"""Control-variate correction of an ONNX network's approximated products (issue #12).

Entries. ``ENTRY+METHOD`` runs ``ENTRY`` (a multiplier, or ``MULT+ADDER``: cnn.mults.parse_entry)
and corrects every approximated product Y = A (*) B of the network (each Conv group, Gemm,
MatMul batch matrix; nodes kept exact are not touched) with golden.control_variate:

    METHOD   correction                        constants fitted on the calibration images
    cv       yhat_j = ytilde_j - kappa_j S      kappa_analytic, weighting 'activation' (the
                                                derivation's rbar: ratio of means)
    cvu      same                               kappa_analytic, weighting 'uniform' (issue #12's
                                                rbar: the plain mean of the relative errors)
    cvls     same                               kappa_lstsq (least squares on ytilde - y vs S)
    cvs      yhat_j = g_j ytilde_j - kappa_j S  scale_kappa_lstsq (least squares, both)
    cscale   yhat_j = g_j ytilde_j              channel_scale (per filter, no variate)
    lscale   yhat = g ytilde                    layer_scale (one constant per node)

A variate method may carry ``_kM`` (``cvs_k8``; integer units only): kappa rounded to M
significant bits (a signed M-bit significand and a shift, golden quantize_kappa(sig_bits=M)),
what the systolic array's kappa port (golden.systolic.kappa_port, default M = 8) holds; such an
entry is also paired with the same method at full fixed-point precision (``vs_full_kappa``).

S = sum_k A[m, k] per output row m: the exact integer sum (integer units), or R(exact sum) of
the bf16 activation values (float units): golden.control_variate's variate_int / variate_float.

Where the correction sits: on the product's raw result, before anything else of the node --
float units on the fp32 output (golden ``correct_float``: fp32_add(ytilde, -bf16_mul(kappa,
bf16(S))), kappa a bf16 constant, as the systolic array's drain computes it; with a scale g
(fp32) R(g ytilde - bf16_mul(kappa, bf16(S)))), integer units on the integer accumulator
before dequantization (golden ``correct_int``: fixed-point constants with ``KAPPA_FRAC_BITS``
fractional bits).

Calibration (``Corrector.fit``): the network runs uncorrected on the calibration images (any
batch size); at each product the corrector accumulates, per product (node name and weights),
what its method needs: golden ``normal_sums`` of (ytilde, y, S) (cvls, cvs, cscale, lscale;
y the same operands' exact dot products: exact integers, or float64 BLAS on the bf16 values), or
``samples`` activation operands drawn at random per batch (cv, cvu). Then the
constants are computed once and the corrector applies them on every later run.
"""

import hashlib
import json
import re
import sys
import time

import numpy as np

from golden import control_variate as cv
from golden.floats import bf16_to_float
from golden.params import ParameterError

from . import gemm
from .mults import parse_entry

METHODS = ("cv", "cvu", "cvls", "cvs", "cscale", "lscale")
VARIATES = ("cv", "cvu", "cvls", "cvs")     # the methods with a variate term kappa S
ANALYTIC_SAMPLES = 512
SEED = 2026


def split_entry(entry):
    """(base entry, method or None): ``mitch_bf16_w3_trunc+cv`` -> (``mitch_bf16_w3_trunc``,
    ``cv``), ``mitch_int16_w3_trunc_c1+cvs_k8`` -> (..., ``cvs_k8``); ParameterError for an
    unknown base."""
    base, plus, last = entry.rpartition("+")
    if plus and (last in METHODS or re.fullmatch(r"[a-z]+_k\d+", last)):
        parse_method(last)
        parse_entry(base)
        return base, last
    parse_entry(entry)
    return entry, None


def parse_method(method):
    """(method, kappa significand bits or None): ``cvs_k8`` -> (``cvs``, 8)."""
    m = re.fullmatch(r"([a-z]+)_k(\d+)", method)
    if m is None:
        if method not in METHODS:
            raise ParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        return method, None
    name, bits = m.group(1), int(m.group(2))
    if name not in VARIATES:
        raise ParameterError(f"_k{bits} rounds a variate's kappa: the method must be one of "
                             f"{', '.join(VARIATES)}; got {name!r}")
    if not 2 <= bits <= 62:
        raise ParameterError(f"kappa significand bits must be in 2..62; got {bits}")
    return name, bits


def variate(a, mult):
    """S (M,) of encoded activation operands a (M, K): golden ``variate_int`` (integer units)
    or ``variate_float`` of the bf16 values (float units)."""
    if mult.kind == "int":
        return cv.variate_int(a)
    return cv.variate_float(bf16_to_float(a))


def exact_products(a, b, mult):
    """The same operands' exact dot products for fitting: int64 (integer units) or float64
    (float units: BLAS on the bf16 values; a fit needs no exactly rounded sum)."""
    if mult.kind == "int":
        return gemm.int_exact(a, b)
    return bf16_to_float(a) @ bf16_to_float(b)


class Corrector:
    """The ``on_product`` hook of cnn.executor.Session for one method.

    Parameters
    ----------
    mult : cnn.mults.Mult
        The session's multiplier (bf16 or integer kind).
    method : {'cv', 'cvu', 'cvls', 'cvs', 'cscale', 'lscale'}
        optionally with ``_kM`` for a variate (``parse_method``): kappa to M significant bits.
    samples : int
        Activation operands per product kept for the analytic kappa.
    seed : int

    Attributes
    ----------
    params : dict
        (node name, shape, weight digest) -> (kappa, g): datapath constants per column (g None:
        no scale).
    """

    def __init__(self, mult, method, samples=ANALYTIC_SAMPLES, seed=SEED):
        method, self.sig_bits = parse_method(method)
        if mult.kind not in ("float", "int"):
            raise ParameterError(f"{method} corrects an approximate multiplier; got {mult.name}")
        if self.sig_bits is not None and mult.kind != "int":
            raise ParameterError(f"_k{self.sig_bits} is for integer units ({mult.name}'s kappa is "
                                 f"bf16: 8 significant bits)")
        self.mult, self.method, self.samples = mult, method, samples
        self.rng = np.random.default_rng(seed)
        self.params, self._stats = {}, {}
        self.fitting = False

    @staticmethod
    def key(name, b):
        return name, b.shape, hashlib.sha1(np.ascontiguousarray(b).tobytes()).hexdigest()

    def __call__(self, name, a, b, y):
        key = self.key(name, b)
        if self.fitting:
            self._accumulate(key, a, b, y)
            return y
        if key not in self.params:
            raise ParameterError(f"node {name}: no correction fitted (run Corrector.fit first)")
        return self._apply(self.params[key], a, y)

    # ------------------------------------------------------------ fitting
    def fit(self, session, x, batch=250):
        """Run ``session`` (whose on_product is this corrector) uncorrected on x, then compute
        every product's constants."""
        self.fitting, self._stats = True, {}
        try:
            session.predict(x, batch)
        finally:
            self.fitting = False
        if self.method == "lscale":       # one scale per node (over a grouped Conv's groups)
            totals = {}
            for (name, *_), st in self._stats.items():
                t = totals.setdefault(name, [0.0, 0.0])
                t[0] += float(st["sums"]["ty"].sum())
                t[1] += float(st["sums"]["yy"].sum())
            for (name, *_), st in self._stats.items():
                st["layer"] = totals[name]
        self.params = {k: self._finish(st) for k, st in self._stats.items()}
        return self

    def _accumulate(self, key, a, b, y):
        st = self._stats.setdefault(key, {"b": b, "a": [], "sums": None})
        if self.method in ("cv", "cvu"):
            flat = a.reshape(-1)
            st["a"].append(flat[self.rng.integers(0, flat.size, min(self.samples, flat.size))])
            return
        sums = cv.normal_sums(y, exact_products(a, b, self.mult), variate(a, self.mult))
        st["sums"] = sums if st["sums"] is None else {k: st["sums"][k] + v for k, v in sums.items()}

    def _finish(self, st):
        kind, c = self.mult.kind, st["b"].shape[1]
        g = None
        if self.method in ("cv", "cvu"):
            a = np.concatenate(st["a"])
            a = a[self.rng.permutation(a.size)[:self.samples]]
            value = bf16_to_float if kind == "float" else None
            kappa = cv.kappa_analytic(self.mult.product, st["b"], a, value=value,
                                      weighting="activation" if self.method == "cv" else "uniform")
        else:
            sums = st["sums"]
            kappa = np.zeros(c)
            if self.method == "cvls":
                ss = sums["ss"][0]
                # kappa_lstsq from the sums: sum S (ytilde - y) / sum S^2
                kappa = (sums["ts"] - sums["sy"]) / ss if ss else kappa
            elif self.method == "cvs":
                g, kappa = cv.scale_kappa_lstsq(sums)
            elif self.method == "cscale":
                g = cv.channel_scale(sums)
            else:
                g = np.full(c, cv.layer_scale_from_sums(*st["layer"]))
        return (cv.quantize_kappa(kappa, kind, sig_bits=self.sig_bits),
                None if g is None else cv.quantize_scale(g, kind))

    # ------------------------------------------------------------ applying
    def _apply(self, p, a, y):
        kq, gq = p
        s = variate(a, self.mult)
        if self.mult.kind == "float":
            return cv.correct_float(y, s, kq, gq)
        return cv.correct_int(y, s, kq, gq)


# ---------------------------------------------------------------- sessions and the experiment
def make_session(model, entry, calib=None, x_calib=None, batch=250, **kw):
    """A cnn.executor.Session for ``entry``; for ``ENTRY+METHOD`` with its corrector fitted on
    x_calib (model-scale images)."""
    from .executor import Session
    base, method = split_entry(entry)
    if method is None:
        return Session(model, base, calib=calib, **kw)
    if x_calib is None or len(x_calib) == 0:
        raise ParameterError(f"{entry} needs calibration images")
    corr = Corrector(parse_entry(base)[0], method)
    sess = Session(model, base, calib=calib, on_product=corr, **kw)
    corr.fit(sess, x_calib, batch)
    return sess


def subset(n_total, n):
    """Every (n_total // n)-th index, n of them (class-balanced on sets stored class by class)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.arange(0, n_total, n_total // n)[:n]


def evaluate(model_path, dataset, entries, n_test=None, n_calib=256, batch=250, log=print):
    """Every entry on the test subset against onnxruntime's FP32 logits (cnn.stats.compare),
    and a corrected entry also against its uncorrected multiplier when that ran before it in
    ``entries`` (``vs_uncorrected``: exact McNemar, b = right only corrected). Each row keeps
    ``correct``, one '0' / '1' per test image of the subset, so that any two entries of the
    same run can be paired afterwards.

    The test subset is every (N_test // n_test)-th test image, the calibration set every
    (N_train // n_calib)-th training image (activation scales of the integer units and the
    correction constants)."""
    from . import data as cnn_data
    from . import stats
    from .executor import calibrate, load_model, ort_run, preprocess
    names = list(entries)
    for e in names:
        split_entry(e)
    model = load_model(model_path)
    ds = cnn_data.load(dataset)
    ti, ci = subset(len(ds.x_test), n_test), subset(len(ds.x_train), n_calib)

    def prep(x):
        return x if ds.model_scale else preprocess(model, x)

    x, y = prep(ds.x_test[ti]), ds.y_test[ti]
    xc = prep(ds.x_train[ci])
    ref = ort_run(model, x)
    act = calibrate(model, xc)
    rows, right = [], {}
    for e in names:
        t0 = time.time()
        sess = make_session(model, e, calib=act, x_calib=xc, batch=batch)
        logits = sess.predict(x, batch)
        row = {"entry": e, **stats.compare(logits, ref, y), "seconds": round(time.time() - t0, 1)}
        right[e] = logits.argmax(1) == y
        # per test image, in subset order: lets any two entries be paired later (cnn.cv_pareto)
        row["correct"] = "".join("1" if v else "0" for v in right[e])
        base, method = split_entry(e)
        # paired tests: against the same multiplier uncorrected, and (for the variates) against
        # its per-layer scale, the simplest alternative; b right only with e, c only with the other
        pairs = {"vs_uncorrected": base} if method else {}
        name, bits = parse_method(method) if method else (None, None)
        if name in VARIATES:
            pairs["vs_lscale"] = f"{base}+lscale"
        if bits is not None:
            pairs["vs_full_kappa"] = f"{base}+{name}"
        for key, other in pairs.items():
            if other in right:
                bb = int((right[e] & ~right[other]).sum())
                cc = int((~right[e] & right[other]).sum())
                row[key] = {"discordant": [bb, cc], "mcnemar_p": stats.mcnemar_exact(bb, cc)}
        rows.append(row)
        log(format_row(row))
    return {"model": str(model_path), "dataset": ds.name, "test_images": len(ti),
            "test_subset": f"every {max(1, len(ds.x_test) // len(ti))}th test image",
            "calib_images": len(ci),
            "calib_subset": f"every {max(1, len(ds.x_train) // len(ci))}th training image",
            "fp32_top1": float((ref.argmax(1) == y).mean()), "results": rows}


def format_row(r):
    lo, hi = r["top1_ci"]
    return (f"{r['entry']:<34} top1 {100 * r['top1']:6.2f} % [{100 * lo:5.1f}, {100 * hi:5.1f}]"
            f"  McNemar p {r['mcnemar_p']:.3g} (b/c {r['discordant'][0]}/{r['discordant'][1]})"
            f"  agree {100 * r['agreement']:6.2f} %  |dlogit| {r['mean_abs_logit_error']:.4f}"
            f"  {r['seconds']} s" + "".join(
                f"  {k[3:]} b/c {r[k]['discordant']} p {r[k]['mcnemar_p']:.3g}"
                for k in ("vs_uncorrected", "vs_lscale", "vs_full_kappa") if k in r))


def markdown_table(result):
    """The result of ``evaluate`` as a markdown table."""
    lines = [f"{result['model']} on {result['dataset']}: {result['test_images']} test images "
             f"({result['test_subset']}), calibration {result['calib_images']} training images "
             f"({result['calib_subset']}); FP32 (onnxruntime) top-1 "
             f"{100 * result['fp32_top1']:.2f} %", "",
             "| entry | top-1 % | 95 % CI (Wilson) | vs FP32: b / c | McNemar p | agreement % "
             "| mean abs logit err | vs uncorrected: b / c | McNemar p | vs lscale: b / c | McNemar p "
             "| vs full-precision kappa: b / c | McNemar p |",
             "|---|---:|---|---|---:|---:|---:|---|---:|---|---:|---|---:|"]
    for r in result["results"]:
        lo, hi = r["top1_ci"]
        lines.append(f"| {r['entry']} | {100 * r['top1']:.2f} | [{100 * lo:.1f}, {100 * hi:.1f}] "
                     f"| {r['discordant'][0]} / {r['discordant'][1]} | {r['mcnemar_p']:.3g} "
                     f"| {100 * r['agreement']:.2f} | {r['mean_abs_logit_error']:.4f} |"
                     + "".join(f" {v['discordant'][0]} / {v['discordant'][1]} | {v['mcnemar_p']:.3g} |"
                               if (v := r.get(k)) else "  | |"
                               for k in ("vs_uncorrected", "vs_lscale", "vs_full_kappa")))
    return "\n".join(lines) + "\n"


def pivot_table(result):
    """One row per base entry, one column per method present: top-1 % (McNemar p vs FP32)."""
    cols, rows = [None], {}
    for r in result["results"]:
        base, method = split_entry(r["entry"])
        if method not in cols:
            cols.append(method)
        rows.setdefault(base, {})[method] = r
    head = ["multiplier"] + ["none" if c is None else c for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for base, rs in rows.items():
        cells = [f"{100 * rs[c]['top1']:.1f} ({rs[c]['mcnemar_p']:.2g})" if c in rs else ""
                 for c in cols]
        lines.append("| " + " | ".join([base] + cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m cnn.control_variate",
                                description="accuracy with and without control-variate correction")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--entries", required=True, help="comma-separated, e.g. "
                   "mitch_bf16_w3_trunc,mitch_bf16_w3_trunc+cv,mitch_bf16_w3_trunc+cvls")
    p.add_argument("--test", type=int, default=None, help="test images (default: all)")
    p.add_argument("--calib", type=int, default=256, help="calibration training images")
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--json", default=None)
    p.add_argument("--md", default=None)
    a = p.parse_args(argv)
    try:
        res = evaluate(a.model, a.dataset, [s.strip() for s in a.entries.split(",")], a.test,
                       a.calib, a.batch)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    table = markdown_table(res) + "\n" + pivot_table(res)
    if a.md:
        with open(a.md, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    main()
