r"""Whole-network throughput: a committed ONNX model (the ResNet-20) through the executor, per
multiplier, against onnxruntime FP32 on the same batch.

For each entry the batch of ``images`` Fashion-MNIST test images (preprocessed as the model
asks; random N(0, 1) images when the data set is not installed or does not fit the model) runs through
cnn.executor.Session(model, entry).predict in a fresh process (so that its peak memory is its
own), best of ``repeat`` runs after one warm-up image:

    images/s = images / seconds;   ratio = images/s / onnxruntime FP32 images/s (same batch)
    peak MiB = the process's peak resident set during the timed runs (VmHWM after resetting it;
               ru_maxrss where that is not possible), and the part of it above the resident
               set before them (model, data and libraries loaded)

Both sides use the threads the process has by default (onnxruntime's intra-op pool, NumPy's
BLAS), on the same machine, one after the other: ratios, not absolute speeds, are the figures.
"""

import multiprocessing
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


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _measure(path, entry, images, repeat, batch):
    """In a fresh process: (images/s, peak RSS MiB, peak above the pre-run RSS MiB, source)."""
    from .executor import Session, calibrate, load_model, ort_run
    model = load_model(path)
    x, source = _batch(model, images)
    if entry == "onnxruntime":
        ort_run(model, x[:1])
        fn = lambda: ort_run(model, x)      # noqa: E731
    else:
        calib = calibrate(model, x) if entry.startswith(("int", "mitch_int")) else None
        sess = Session(model, entry, calib=calib)
        sess.run(x[:1])
        fn = lambda: sess.predict(x, batch)     # noqa: E731
    before = _status_mib("VmRSS")
    reset = _reset_peak()
    seconds = _best(fn, repeat)
    peak = _status_mib("VmHWM") if reset else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return images / seconds, peak, None if before is None else max(0.0, peak - before), source


def network_throughput(path=MODEL, entries=ENTRIES, images=64, repeat=2, batch=64):
    """[(name, images/s, ratio to onnxruntime FP32, peak MiB, peak above pre-run MiB)], with
    onnxruntime first; a line of text instead when the model is not there."""
    path = Path(path)
    if not path.is_file():
        return f"no {path}: network benchmark skipped (train it: see cnn/models/)"
    rows = []
    # spawn, not fork: a forked child inherits its parent's peak RSS
    with ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for entry in ("onnxruntime",) + tuple(entries):
            rate, peak, above, source = pool.submit(_measure, str(path), entry, images, repeat,
                                                    batch).result()
            rows.append((entry, rate, peak, above))
    ref = rows[0][1]
    return [(f"{path.stem} {'onnxruntime FP32' if e == 'onnxruntime' else e}", r, r / ref, p, a)
            for e, r, p, a in rows], f"{images} {source}"
