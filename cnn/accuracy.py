r"""The accuracy experiment: ONNX models x multipliers on a test set, as tasks on dask.

For every model, every entry (a multiplier name of cnn.mults, or ``MULT+ADDER``) is run by the
executor (cnn.executor.Session) on a set of test images and compared with the model's FP32 path on
the same images (cnn.stats.compare: top-1 with its 95 % Wilson interval, top-3, agreement, the
exact McNemar test, mean |logit - FP32 logit|). Three image sets, each stated in the output:

* all   -- the first ``limit`` test images (default: the whole test split); FP32 always runs here;
* subset -- every k-th of them, ``subset`` images (the ``subset_entries``: the w sweep, ...);
* MAC order -- every k-th, ``seq_images`` images: ``MULT+ADDER`` entries (accumulation in MAC
  order with a golden adder, cnn.gemm.sequential_*: slow), wherever they are listed.

Integer units need activation scales: cnn.executor.calibrate over the first ``calib_images``
training images (the test images when the data set has none), in the FP32 path.

The grid (model x entry x shard of ``shard_images`` images) runs through sweep.run_tasks:
an in-process LocalCluster by default, ``scheduler="tcp://HOST:PORT"`` for a running cluster,
``"serial"`` for a plain loop; the logits are assembled in task order, so every scheduler gives
the same bytes. Every input is checked (files, data set, shape, entries, exact nodes, one FP32 image
through each model) before any work; nothing is written until the results are in.

Every task's result (calibration, logits of a shard, an operand trace) is cached on disk
(sweep.cache, kind ``accuracy``, under $APPROXMAC_CACHE or build/cache), keyed by what it is
computed from (:func:`task_parts`): the model file's sha256, the data set's name, the images
themselves (hence the image selection and preprocessing) and their indices, the entry (unit and
its parameters), the calibration, exact nodes, batch, the code that computes it (every .py of
golden/ and cnn/) and the versions of the numeric packages. A rerun computes only the tasks
whose key changed; ``cache=False`` (``--no-cache``) recomputes every task and replaces its entry.
accuracy.json holds no wall-clock time, so a cached rerun writes the same bytes.

Outputs (cnn.accuracy_report): ``accuracy.json`` (``records`` + ``run`` metadata),
``accuracy.md``, ``accuracy_vs_w.png``, ``accuracy_energy.png`` (when ``costs.json`` of the cost
flow is in the output folder), and operand traces (cnn.traces) for the cost flow.
"""

import functools
import hashlib
import importlib.metadata
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.params import ParameterError
from sweep import Runner, Task
from sweep import cache as task_cache

from . import data as cnn_data
from .mults import parse_entry

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODELS = ("resnet20_fashion-mnist",)
W_RANGE = range(2, 9)
HEADLINE = ["fp32", "bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w6_unbiased"]
ALL_MULTS = (
    ["fp32", "bf16"]
    + [f"mitch_bf16_w{w}_{v}" for v in ("trunc", "unbiased") for w in W_RANGE]
    + ["int8", "int16"]
    + [f"mitch_int8_w{w}_trunc_{s}" for s in ("exact", "c1") for w in (4, 6, 8)]
    + [f"mitch_int16_w{w}_trunc_{s}" for s in ("exact", "c1") for w in (4, 6, 8)]
    + [f"{u}_n{n}_es{es}" for u in ("posit", "plam") for n, es in ((8, 0), (8, 1), (16, 1))])
ADDER_ENTRIES = (["bf16+fp32_add", "mitch_bf16_w6_trunc+fp32_add"]
                 + [f"bf16+trunc_add_t{t}" for t in (4, 8, 12)] + ["bf16+mitch_add"])
NAMED_LISTS = {
    "headline": HEADLINE,
    "all": ALL_MULTS + ADDER_ENTRIES,
    "sweep": [m for m in ALL_MULTS if m not in HEADLINE],
    "adders": ADDER_ENTRIES,
    "none": [],
}
# The default grid (make accuracy) must finish in 30 min on 2 cores. Measured per core (CPU time,
# one BLAS / numba thread, ResNet-20 on 28 x 28, 22:45 UTC): fp32 117 images/s, bf16 11.4,
# mitch_bf16_w6 11.2, w2 12.1, int8 47, mitch_int8_w6_c1 11.3, mitch_int16_w8_c1 9.7; MAC order
# (bf16+fp32_add) 0.1. Headline on 10 000 images ~ 2750 CPU-s; the 26 sweep entries ~ 2.2 CPU-s
# per subset image: 250 images ~ 550 CPU-s; total ~ 27 min on 2 cores. The adders (0.1 image/s)
# are left out of the default grid; they run on SEQ images when asked for. The six posit units
# (01:00 UTC, 20 images, CPU time, one thread, on a loaded machine): posit_n8_es0 11.9 images/s,
# posit_n8_es1 12.0, posit_n16_es1 10.2, plam_n8_es0 17.2, plam_n8_es1 19.6, plam_n16_es1 8.8:
# ~ 120 CPU-s on the subset, ~ 1 min more on 2 cores.
DEFAULT_SUBSET = 250
DEFAULT_SEQ_IMAGES = 20
DEFAULT_CALIB_IMAGES = 1000
DEFAULT_SHARD = 500
SEQ_SHARD = 10


def parse_entries(text):
    """A comma-separated entry list, or one of the names of NAMED_LISTS; checked."""
    if text is None or text == "":
        return []
    names = []
    for part in [s.strip() for s in str(text).split(",") if s.strip()]:
        names += NAMED_LISTS.get(part, [part])
    for n in names:
        parse_entry(n)
    return list(dict.fromkeys(names))


def resolve_model(spec):
    """A model by path (``x.onnx``) or by the stem of a committed model (cnn/models/)."""
    p = Path(spec)
    if p.suffix == ".onnx" or p.exists() or "/" in str(spec):
        return p
    committed = MODELS_DIR / f"{spec}.onnx"
    if committed.is_file():
        return committed
    have = sorted(q.stem for q in MODELS_DIR.glob("*.onnx")) if MODELS_DIR.is_dir() else []
    raise ParameterError(f"model {spec!r}: not an .onnx path and not a committed model "
                         f"(cnn/models/: {', '.join(have) or 'none yet'})")


def subset_indices(n, count):
    """Every k-th of n images from 0, ``count`` of them (k = n // count), and its description."""
    count = max(1, min(count, n))
    step = max(1, n // count)
    idx = np.arange(0, n, step)[:count]
    return idx, f"every {step}th test image from 0 ({len(idx)} images)" if step > 1 else \
        f"the first {len(idx)} test images"


@dataclass
class Plan:
    """One model's entries and their image sets."""
    name: str
    path: Path
    model: object
    x: np.ndarray             # test images in the model's input scale (limit applied)
    y: np.ndarray
    x_calib: np.ndarray
    entries: list             # [(entry, set name)]


# ---------------------------------------------------------------- tasks (run on the workers)
_MODELS = {}


def _model(path):
    """The checked model at ``path``, once per process (keyed by path, size, mtime)."""
    from .executor import load_model
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _MODELS:
        _MODELS[key] = load_model(path)
    return _MODELS[key]


def logits_task(path, entry, x, calib, exact_nodes, batch):
    """Logits of images x under ``entry``; {'logits', 'max_abs_acc', 'seconds'}."""
    from .executor import Session
    t0 = time.perf_counter()
    sess = Session(_model(path), entry, calib=calib, exact_nodes=exact_nodes)
    logits = sess.predict(x, batch)
    return {"logits": np.asarray(logits, dtype=np.float32), "max_abs_acc": int(sess.max_abs_acc),
            "seconds": time.perf_counter() - t0}


def grid_task(kind, *args):
    """One task of the main wave: ``logits`` (logits_task) or ``trace`` (traces.trace_task)."""
    if kind == "trace":
        from .traces import trace_task
        return trace_task(*args)
    return logits_task(*args)


def calib_task(path, x):
    """{node: largest |activation operand|} over images x (FP32 path)."""
    from .executor import calibrate
    return calibrate(_model(path), x)


def _shards(idx, size):
    return [idx[i:i + size] for i in range(0, len(idx), size)]


# ---------------------------------------------------------------- the experiment
def run(models=DEFAULT_MODELS, dataset="fashion-mnist", entries="headline",
        subset_entries="sweep", subset=DEFAULT_SUBSET, seq_images=DEFAULT_SEQ_IMAGES, limit=None,
        batch=100, exact_nodes=(), calib_images=DEFAULT_CALIB_IMAGES, shard=DEFAULT_SHARD,
        scheduler=None, n_workers=None, out_dir="build/report", trace_dir="build/traces",
        trace_pairs=20000, progress=None, cache=True):
    """Run the grid; write the outputs; return ``{"records": [...], "run": {...}, "logits":
    {(model, entry): logits}}`` (the first two are accuracy.json). ``cache``: reuse the cached
    results of unchanged tasks (False: recompute and replace them).

    Raises
    ------
    ParameterError
        for any bad input, before any work and before anything is written.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    t_start = time.time()
    plans, ds, sets, calib_desc = prepare(models, dataset, entries, subset_entries, subset,
                                          seq_images, limit, batch, exact_nodes, calib_images,
                                          shard, scheduler, n_workers)
    exact_nodes = tuple(exact_nodes)
    with Runner(scheduler, n_workers, say) as runner:
        results, where, calibs = _compute(runner, plans, sets, exact_nodes, batch, shard,
                                          trace_dir, trace_pairs, ds.name, cache, say)

    records, fp32_logits, all_logits = [], {}, {}
    for pi, p in enumerate(plans):
        for entry, set_name in p.entries:
            parts = [r for r, w in zip(results, where) if w == (pi, entry)]
            logits = np.concatenate([r["logits"] for r in parts])
            idx = sets[set_name][0]
            all_logits[(p.name, entry)] = logits
            if entry == "fp32":
                fp32_logits[pi] = logits
            ref = fp32_logits[pi][idx]
            from . import stats
            rec = {"model": p.name, "dataset": ds.name, "mult": entry,
                   **stats.compare(logits, ref, p.y[idx]),
                   "image_set": set_name,
                   "fp32_top1_same_images": float((ref.argmax(1) == p.y[idx]).mean()),
                   "seconds": round(sum(r["seconds"] for r in parts), 2)}
            mult = parse_entry(entry)[0]
            if mult.kind == "int":
                # the sums are exact; they equal golden/mac.py's MAC with its default
                # A = 2N + 8 accumulator bits when they fit in it
                acc = max(r["max_abs_acc"] for r in parts)
                rec["max_abs_accumulator"] = acc
                rec["fits_acc_width_2n_plus_8"] = acc < 2 ** (2 * mult.n + 7)
            records.append(rec)
            say(format_record(rec))

    traces = []
    if trace_dir:
        from .traces import save_trace
        for r, (pi, what) in zip(results, where):
            if isinstance(what, tuple):
                traces.append(save_trace(trace_dir, plans[pi].name, what[1], r, say))
    meta = run_metadata(plans, ds, sets, calib_desc, calibs[0] is not None, fp32_logits,
                        exact_nodes, scheduler, n_workers, shard, batch, traces, cache)
    result = {"records": records, "run": meta}
    from .accuracy_report import write_outputs
    write_outputs(result, Path(out_dir), say)
    say(f"accuracy: {time.time() - t_start:.1f} s wall")
    return dict(result, logits=all_logits)


def prepare(models, dataset, entries, subset_entries, subset, seq_images, limit, batch,
            exact_nodes, calib_images, shard, scheduler=None, n_workers=None):
    """Check every input and load what the run needs: (plans, dataset, image sets, calibration
    description). Raises ParameterError; writes nothing."""
    from .executor import Session, load_model, preprocess
    if scheduler is not None and scheduler != "serial" and not str(scheduler).startswith(
            ("tcp://", "tls://")):
        raise ParameterError(f"scheduler must be tcp://HOST:PORT or 'serial'; got {scheduler!r}")
    for name, v, lo in (("subset", subset, 1), ("seq_images", seq_images, 1), ("batch", batch, 1),
                        ("calib_images", calib_images, 1), ("shard", shard, 1),
                        ("limit", limit, 1), ("workers", n_workers, 1)):
        if v is None and name in ("limit", "workers"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    full = parse_entries(entries)
    sub = [e for e in parse_entries(subset_entries) if e not in full]
    if isinstance(models, (str, Path)):
        models = [m for m in str(models).split(",") if m]
    if not models:
        raise ParameterError("give at least one model (--model PATH.onnx)")
    paths = [resolve_model(m) for m in models]
    loaded = [load_model(p) for p in paths]
    names = [p.stem for p in paths]
    if len(set(names)) != len(names):
        raise ParameterError(f"models must have different file names; got {', '.join(names)}")
    ds = cnn_data.load(dataset)
    n = len(ds.x_test) if limit is None else min(limit, len(ds.x_test))
    if n == 0:
        raise ParameterError(f"dataset {ds.name} has no test images")
    sets = {"all": (np.arange(n), f"the first {n} test images" if n < len(ds.x_test)
                    else f"all {n} test images"),
            "subset": subset_indices(n, subset), "mac_order": subset_indices(n, seq_images)}
    if len(ds.x_train):
        calib_src, calib_desc = ds.x_train[:calib_images], (
            f"activation scales: largest |activation operand| of every Conv/Gemm/MatMul node "
            f"over the first {min(calib_images, len(ds.x_train))} training images (FP32 path)")
    else:
        calib_src, calib_desc = ds.x_test[:calib_images], (
            f"activation scales: largest |activation operand| of every Conv/Gemm/MatMul node "
            f"over the first {min(calib_images, len(ds.x_test))} TEST images (FP32 path; the "
            f"data set has no training images)")
    plans = []
    for path, model, name in zip(paths, loaded, names):
        scale = (lambda v: np.asarray(v, np.float32)) if ds.model_scale else (
            lambda v, m=model: preprocess(m, v))
        x = scale(ds.x_test[:n])
        try:
            Session(model, "fp32", exact_nodes=exact_nodes).run(x[:1])
        except ParameterError as e:
            raise ParameterError(f"model {path} with dataset {ds.name}: {e}") from None
        except Exception as e:     # an operator that fails on these data
            raise ParameterError(f"model {path} fails on one {ds.name} test image of shape "
                                 f"{tuple(x.shape[1:])} in the FP32 path: "
                                 f"{type(e).__name__}: {e}") from None
        plan_entries = [("fp32", "all")] + [
            (e, "mac_order" if parse_entry(e)[1] is not None else "all")
            for e in full if e != "fp32"] + [
            (e, "mac_order" if parse_entry(e)[1] is not None else "subset") for e in sub
            if e != "fp32"]
        plans.append(Plan(name, path, model, x, ds.y_test[:n], scale(calib_src), plan_entries))
    return plans, ds, sets, calib_desc


def _compute(runner, plans, sets, exact_nodes, batch, shard, trace_dir, trace_pairs,
             dataset="", cache=True, say=None):
    """The two waves: calibration (when an integer unit or a trace needs it), then the grid
    (traces first: few, and wanted by the cost flow). Returns (results, where, calibs): where[i]
    is (model index, entry) or (model index, ("trace", format)) of results[i]. Cached tasks
    (:func:`run_cached`) are not run."""
    need = bool(trace_dir) or any(parse_entry(e)[0].kind == "int"
                                  for p in plans for e, _ in p.entries)
    calibs = calibrate_all(plans, runner, cache, say) if need else [None] * len(plans)
    tasks, where, keys = [], [], []
    if trace_dir:
        from .traces import trace_tasks
        for pi, p in enumerate(plans):
            for fmt, t in trace_tasks(p.path, p.x, calibs[pi], p.name, trace_pairs):
                tasks.append(Task(t.name, ("trace",) + t.args))
                where.append((pi, ("trace", fmt)))
                _, entry, x, calib, pairs, seed = t.args
                keys.append(task_parts("trace", p.path, entry=entry, images=x,
                                       calib=_used_calib(entry, calib), pairs=pairs, seed=seed))
    for pi, p in enumerate(plans):
        for entry, set_name in p.entries:
            size = SEQ_SHARD if set_name == "mac_order" else shard
            for part in _shards(sets[set_name][0], size):
                tasks.append(Task(f"{p.name} {entry} images {part[0]}..{part[-1]}",
                                  ("logits", str(p.path), entry, p.x[part], calibs[pi],
                                   exact_nodes, batch)))
                where.append((pi, entry))
                keys.append(task_parts("logits", p.path, dataset=dataset, entry=entry,
                                       images=p.x[part], indices=part,
                                       calib=_used_calib(entry, calibs[pi]),
                                       exact_nodes=list(exact_nodes), batch=batch))
    return run_cached(runner, grid_task, tasks, keys, "accuracy", cache, say), where, calibs


def calibrate_all(plans, runner, cache=False, say=None):
    """Per model {node: absmax} (max over shards of the calibration images)."""
    tasks, owner, keys = [], [], []
    for pi, p in enumerate(plans):
        for part in _shards(np.arange(len(p.x_calib)), DEFAULT_SHARD):
            tasks.append(Task(f"{p.name} calibration images {part[0]}..{part[-1]}",
                              (str(p.path), p.x_calib[part])))
            owner.append(pi)
            keys.append(task_parts("calibration", p.path, images=p.x_calib[part]))
    results = run_cached(runner, calib_task, tasks, keys, "calibration", cache, say)
    calibs = [{} for _ in plans]
    for pi, r in zip(owner, results):
        for node, v in r.items():
            calibs[pi][node] = max(calibs[pi].get(node, 0.0), v)
    return calibs


# ---------------------------------------------------------------- the result cache
CACHE_KIND = "accuracy"
# The packages whose arithmetic the results depend on (besides golden/ and cnn/ themselves).
NUMERIC_PACKAGES = ("numpy", "ml_dtypes", "numba", "onnx", "scipy")


@functools.lru_cache(maxsize=1)
def code_digest():
    """sha256 over the code that computes a task: every .py of golden/ and cnn/."""
    root = Path(__file__).resolve().parent.parent
    return task_cache.code_digest([*(root / "golden").rglob("*.py"),
                                   *(root / "cnn").rglob("*.py")])


@functools.lru_cache(maxsize=1)
def package_versions():
    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    return {name: version(name) for name in NUMERIC_PACKAGES}


@functools.lru_cache(maxsize=16)
def _file_sha256(path, size, mtime_ns):
    return task_cache.file_digest(path)


def _used_calib(entry, calib):
    """The calibration an entry's results depend on: only integer units read it."""
    return calib if parse_entry(entry)[0].kind == "int" else None


def _calib_digest(calib):
    """A calibration ({node: absmax}) as text that keeps every bit of every value."""
    if calib is None:
        return None
    return task_cache.digest(json.dumps(
        {k: float(v).hex() for k, v in calib.items()}, sort_keys=True))


def task_parts(task, model_path, *, images, calib=None, indices=None, **parts):
    """The key parts of one task: its kind, the model file's sha256, the images' digest (and
    their indices, when given), the calibration's digest, the given ``parts`` (data set, entry,
    exact nodes, batch, ...), the code digest and the numeric packages' versions."""
    st = Path(model_path).stat()
    out = {"task": task, "model": _file_sha256(str(model_path), st.st_size, st.st_mtime_ns),
           "images": task_cache.digest(np.ascontiguousarray(images)),
           "calib": _calib_digest(calib), "code": code_digest(),
           "packages": package_versions(), **parts}
    if indices is not None:
        idx = np.asarray(indices)
        out["indices"] = {"first": int(idx[0]), "last": int(idx[-1]), "count": len(idx),
                          "digest": task_cache.digest(idx.astype(np.int64))}
    return out


def run_cached(runner, fn, tasks, parts, label, cache=True, say=None):
    """``runner.run(fn, tasks)`` for the tasks whose key (``parts[i]``) is not cached, the
    cached results for the others; every computed result is stored. ``cache=False`` computes
    every task (and replaces its entry)."""
    keys = [task_cache.result_key(**p) for p in parts]
    results = [task_cache.load_object(k, CACHE_KIND) if cache else None for k in keys]
    todo = [i for i, r in enumerate(results) if r is None]
    if say and cache:
        say(f"{label}: {len(tasks) - len(todo)} of {len(tasks)} tasks cached "
            f"({task_cache.cache_root() / CACHE_KIND})")
    for i, r in zip(todo, runner.run(fn, [tasks[i] for i in todo], label=label)):
        results[i] = r
        task_cache.store_object(keys[i], r, parts[i], CACHE_KIND)
    return results


def _ort_logits(plan, cache):
    """onnxruntime's logits of the plan's images (the FP32 cross-check), from the cache when
    its key (model, images, onnxruntime's version) is there."""
    from .executor import ort_run
    parts = dict(task_parts("onnxruntime", plan.path, images=plan.x),
                 onnxruntime=importlib.metadata.version("onnxruntime"))
    key = task_cache.result_key(**parts)
    ort = task_cache.load_object(key, CACHE_KIND) if cache else None
    if ort is None:
        ort = np.concatenate([ort_run(plan.model, plan.x[i:i + 1000])
                              for i in range(0, len(plan.x), 1000)])
        task_cache.store_object(key, ort, parts, CACHE_KIND)
    return ort


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_metadata(plans, ds, sets, calib_desc, calibrated, fp32_logits, exact_nodes, scheduler,
                 n_workers, shard, batch, traces, cache=False):
    """The run's description: data, models (with the onnxruntime cross-check, cached like a
    task), image sets."""
    models = []
    for pi, p in enumerate(plans):
        ort = _ort_logits(p, cache)
        ours = fp32_logits[pi]
        models.append({
            "name": p.name, "path": str(p.path), "sha256": _sha256(p.path),
            "metadata": {m.key: m.value for m in p.model.metadata_props},
            "onnxruntime_top1": float((ort.argmax(1) == p.y).mean()),
            "fp32_path_same_top1_as_onnxruntime": float((ort.argmax(1) == ours.argmax(1)).mean()),
            "fp32_path_max_abs_logit_diff_over_max_abs_logit": float(
                np.abs(ours.astype(np.float64) - ort).max() / max(np.abs(ort).max(), 1e-30))})
    return {
        "dataset": ds.name, "split": ds.split,
        "preprocessing": "none (npz: images in the model's input scale)" if ds.model_scale
        else "the model's metadata preprocess_mean / preprocess_std on pixels in [0, 1]",
        "image_sets": {k: v[1] for k, v in sets.items()},
        "image_set_use": {"all": "FP32 and the entries given with --mult",
                          "subset": "the entries given with --subset-mult",
                          "mac_order": "MULT+ADDER entries (accumulation in MAC order)"},
        "calibration": calib_desc if calibrated else None,
        "models": models, "exact_nodes": list(exact_nodes),
        "operands": "bf16 units: fp32 -> bf16 round to nearest even; integer units: symmetric, "
                    "weights per output channel, activations per tensor (calibration); posit "
                    "units: fp32 -> posit<n, es> round to nearest even, saturating",
        "accumulation": "exact, rounded once to fp32 (float units) / exact integer / the quire, "
                        "rounded once to posit<n, es> (posit units); MULT+ADDER entries "
                        "accumulate in MAC order with that golden adder",
        "other_operators": "fp32 (onnx.reference), BatchNormalization kept as separate nodes",
        "statistics": "top1_ci: 95 % Wilson interval; mcnemar_p: exact two-sided McNemar test "
                      "against FP32 on the same images; significant: mcnemar_p < 0.05",
        "scheduler": scheduler or "LocalCluster", "n_workers": n_workers,
        "shard_images": shard, "batch": batch, "traces": [str(t) for t in traces]}


def format_record(r):
    lo, hi = r["top1_ci"]
    return (f"{r['model']:<20} {r['mult']:<32} top1 {100 * r['top1']:6.2f} % "
            f"[{100 * lo:.2f}, {100 * hi:.2f}]  agree {100 * r['agreement']:6.2f} %  "
            f"p {r['mcnemar_p']:.3g}{' *' if r['significant'] else '  '}  "
            f"|dlogit| {r['mean_abs_logit_error']:.4f}  n={r['images']}")
