"""Where the whole-network emulation spends its time: CPU seconds per part of one
``Session.predict`` on the trained ResNet-20 with Fashion-MNIST test images, next to
onnxruntime FP32 on the same batch in the same process.

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
        python tools/netprofile.py bf16 mitch_bf16_w6_trunc [--images 64] [--profile]

Prints, per entry, images/s (CPU time, best of 3) and the ratio to onnxruntime; with
--profile the functions that take the most CPU time (cProfile, tottime). Runs with whichever
``cnn`` package is first on sys.path (so PYTHONPATH=OLD_TREE measures an older version).
"""

import argparse
import cProfile
import io
import pstats
import sys
import time

from cnn import data
from cnn.executor import Session, calibrate, load_model, preprocess

MODEL = "cnn/models/resnet20_fashion-mnist.onnx"


def best(fn, repeat=3):
    out = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out = min(out, time.process_time() - t)
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("entries", nargs="+")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--model", default=MODEL)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    import onnxruntime as ort
    model = load_model(args.model)
    x = preprocess(model, data.load("fashion-mnist").x_test[:args.images])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for entry in args.entries:
        calib = calibrate(model, x) if entry.startswith(("int", "mitch_int")) else None
        s = Session(model, entry, calib=calib)
        s.run(x[:2])
        sess.run(None, {name: x[:2]})
        t_ort = best(lambda: sess.run(None, {name: x}))
        t = best(lambda: s.predict(x, args.batch))
        print(f"{entry:<24} {len(x) / t:8.1f} img/s   onnxruntime {len(x) / t_ort:8.1f} img/s   "
              f"ratio {t_ort / t:.3f}", flush=True)
        if args.profile:
            pr = cProfile.Profile()
            pr.enable()
            s.predict(x, args.batch)
            pr.disable()
            out = io.StringIO()
            pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(14)
            print("\n".join(ln for ln in out.getvalue().splitlines()[6:] if ln.strip()))


if __name__ == "__main__":
    sys.exit(main())
