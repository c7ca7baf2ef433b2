r"""Whole-network throughput: a committed ONNX model (the trained ResNet-20 by default) through the
executor, per multiplier, against onnxruntime FP32 on the same batch in the same process.

For each entry the batch of ``images`` Fashion-MNIST test images (preprocessed as the model
asks; random N(0, 1) images when the data set is not installed or does not fit the model) runs,
in a fresh process (so that its peak memory is its own), first through onnxruntime FP32 and then
through cnn.executor.Session(model, entry).predict, each the best of ``repeat`` runs after one
warm-up:

    images/s = images / seconds;   ratio = images/s / onnxruntime FP32 images/s (same process,
               same batch, same threads, measured just before)
    peak MiB = the process's peak resident set during the entry's timed runs (VmHWM after
               resetting it; ru_maxrss where that is not possible), and the part of it above the
               resident set before them (model, data and libraries loaded)

``clock``: 'wall' (time.perf_counter) or 'cpu' (time.process_time: the process's CPU time, all
its threads; comparable on a loaded machine). ``threads``: the number of threads both sides get
(NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and onnxruntime's
intra-op pool), or None for each library's default. Ratios, not absolute speeds, are the
figures.
"""

import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parent / "models" / "resnet20_fashion-mnist.onnx"
ENTRIES = ("fp32", "bf16", "mitch_bf16_w4_trunc", "mitch_bf16_w6_trunc", "mitch_bf16_w8_trunc",
           "mitch_bf16_w6_unbiased", "int8", "int16", "mitch_int16_w6_trunc_c1")


def _status_mib(field):
    """VmRSS / VmHWM (MiB) of this process from /proc, or None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak():
    """Restart the peak-RSS count (Linux: 5 > /proc/self/clear_refs); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _batch(model, images, seed=1):
    from . import data
    from .executor import check_input, input_shape, preprocess
    try:
        x = preprocess(model, data.load("fashion-mnist").x_test[:images])
        check_input(model, x)
        return x, "Fashion-MNIST test images"
    except Exception:       # no data set here, or other shapes: random values
        dims = [d or 1 for d in input_shape(model)[1][1:]]
        rng = np.random.default_rng(seed)
        return rng.standard_normal((images, *dims)).astype(np.float32), "random N(0, 1) images"


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
THREAD_VARS = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _best(fn, repeat, clock):
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def _measure(path, entry, images, repeat, batch, clock, threads):
    """In a fresh process: (images/s, onnxruntime FP32 images/s, peak RSS MiB, peak above the
    pre-run RSS MiB, source); entry None: onnxruntime alone."""
    import gc

    from .executor import Session, calibrate, load_model, ort_session
    clock = CLOCKS[clock]
    model = load_model(path)
    x, source = _batch(model, images)
    ort = ort_session(model, threads)
    ort(x[:1])
    ort_rate = images / _best(lambda: ort(x), repeat, clock)
    fn = lambda: ort(x)      # noqa: E731
    if entry is not None:
        del ort
        gc.collect()
        calib = calibrate(model, x) if entry.startswith(("int", "mitch_int")) else None
        sess = Session(model, entry, calib=calib)
        sess.run(x[:1])
        fn = lambda: sess.predict(x, batch)     # noqa: E731
    before = _status_mib("VmRSS")
    reset = _reset_peak()
    rate = images / _best(fn, repeat, clock) if entry is not None else ort_rate
    if entry is None:       # onnxruntime alone: its peak memory over runs like the entries'
        fn()
    peak = _status_mib("VmHWM") if reset else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rate, ort_rate, peak, None if before is None else max(0.0, peak - before), source


def network_throughput(path=MODEL, entries=ENTRIES, images=64, repeat=2, batch=64, clock="wall",
                       threads=None):
    """([(name, images/s, onnxruntime FP32 images/s, ratio, peak MiB, peak above pre-run MiB)],
    batch description), onnxruntime alone first; a line of text instead when the model is not
    there.

    Raises
    ------
    ParameterError
        for an unknown clock or a thread count below 1.
    """
    from golden.params import ParameterError, check_choice, check_int
    check_choice("clock", clock, tuple(CLOCKS))
    if threads is not None:
        check_int("threads", threads, 1, 1024)
    if images < 1:
        raise ParameterError(f"images must be at least 1; got {images}")
    path = Path(path)
    if not path.is_file():
        return f"no {path}: network benchmark skipped (train it: see cnn/models/)"
    rows = []
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    if threads is not None:         # spawned children read these when they import the libraries
        os.environ.update({v: str(threads) for v in THREAD_VARS})
    try:
        # spawn, not fork: a forked child inherits its parent's peak RSS
        with ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            for entry in (None,) + tuple(entries):
                rate, ort, peak, above, source = pool.submit(
                    _measure, str(path), entry, images, repeat, batch, clock, threads).result()
                rows.append((entry, rate, ort, peak, above))
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    return [(f"{path.stem} {'onnxruntime FP32' if e is None else e}", r, o, r / o, p, a)
            for e, r, o, p, a in rows], f"{images} {source}"
