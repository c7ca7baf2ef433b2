r"""Train a network of cnn.nets in FP32 with JAX + optax and write it as an ONNX model.

    pip install -e '.[train]'
    python -m cnn.train --arch resnet20 --dataset fashion-mnist --epochs E --seed S \
        -o cnn/models/resnet20_fashion-mnist.onnx

Only this module needs JAX; the models it writes run anywhere ONNX does. The network is the
:class:`cnn.nets.Net` of ``--arch``, run by a JAX interpreter of the same op list the exporter
writes (layout NHWC inside JAX, the faster one on CPU; the ONNX model is NCHW).

Training: the train split of cnn.data, preprocessed x' = (x - mean) / std with the split's pixel
mean / std (stored in the model; [0] / [1] for ``smallcnn``); augmentation: random shifts of up to
``--shift`` pixels (default 2, 1 for images smaller than 16 x 16), zero filled, plus horizontal flips for
Fashion-MNIST (digits are not mirror symmetric); cross-entropy; SGD with Nesterov momentum 0.9,
batch 128, a one-cycle learning-rate schedule (cosine warm-up over the first 15 % of the steps to
``--lr``, cosine decay to ``--lr`` / 1000), weight decay ``--wd`` on conv / FC weights. Batch norm
uses batch statistics while training (and keeps a running average for the per-epoch test figure).

Afterwards the BN mean / var are recomputed over the whole train split, without augmentation:
pass 1 runs with batch statistics (batches of 500) and pools each BN input's moments; each
further pass runs in inference form with the previous pass's statistics and pools again. After
pass k the first k BN layers along any path are exact population statistics; ``--bn-passes``
(default 2) sets k and the log states the largest relative change of the last pass;
``--bn-images N`` takes a seeded random subset of N train images instead of all. The model is
exported (cnn.onnx_export) and its FP32 test accuracy measured with onnxruntime on the whole test
split; the JAX logits in inference form are checked against onnxruntime's on 500 test images.

Every epoch writes ``OUT`` with ``.onnx`` replaced by ``.ckpt.onnx`` (running-average BN
statistics) and ``.ckpt.pkl`` (parameters, optimizer state, epoch: ``--resume`` continues it).
``--continue-from CKPT.pkl`` trains further from a checkpoint's weights (fresh optimizer, cosine
decay from ``--lr`` to ``--lr`` / 1000); the model's ``training_command`` then lists every run.

``--ctmq`` trains a Mitch-w or integer model with the golden products from an FP32 model
(``--from MODEL.onnx`` or ``--continue-from CKPT.pkl``), stepping w (or the integer width N) down
to the one of ``--mult`` with cycles through the accurate model: see cnn.ctmq.
"""

import argparse
import json
import pickle
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx

from golden.params import ParameterError

from . import data as cnn_data
from . import nets
from . import onnx_export
from .executor import preprocess

MODELS_DIR = Path(__file__).resolve().parent / "models"
BN_MOMENTUM = 0.9


def make_forward(net, product=None):
    """forward(params, x, stats) -> (logits, seen): x NHWC; BN with batch statistics when
    ``stats`` is None, else with ``stats[name] = (mean, var)``; ``seen[name]`` is the
    (mean, mean of squares) per channel of each BN input in this batch.

    Inference-form BN, global average pooling and the FC bias are computed in float32 in the
    operation order of onnx.reference (the ONNX executor's fp32 operators), so that a network
    whose products are bit-exact gives bit-exact logits. ``product`` (cnn.ctmq.Product) replaces
    the float32 conv and FC products by a golden multiplier's (group 1 convs only)."""
    import jax
    import jax.numpy as jnp

    def depthwise(x, w, stride, p):
        # XLA's CPU grouped convolution (and its gradient) is slow; a depthwise conv is a sum of
        # k * k shifted, channel-scaled copies of the padded input, which XLA fuses.
        n, h, wd, _ = x.shape
        k = w.shape[0]
        ho, wo = (h + 2 * p - k) // stride + 1, (wd + 2 * p - k) // stride + 1
        xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        return sum(xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
                   * w[i, j] for i in range(k) for j in range(k))

    def forward(params, x, stats=None):
        env, seen = {"input": x}, {}
        for op in net.ops:
            a = [env[i] for i in op.inputs]
            if op.kind == "conv":
                p = (op.kernel - 1) // 2
                w = jnp.transpose(params[f"{op.name}.weight"], (2, 3, 1, 0))    # OIHW -> HWIO
                if product is not None:
                    y = product.conv(a[0], w, op.stride, p, op.name)
                elif op.group > 1 and op.group == a[0].shape[3] == w.shape[3]:
                    y = depthwise(a[0], w[:, :, 0, :], op.stride, p)
                else:
                    y = jax.lax.conv_general_dilated(
                        a[0], w, (op.stride, op.stride), [(p, p), (p, p)],
                        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=op.group)
            elif op.kind == "bn":
                m1 = a[0].mean(axis=(0, 1, 2))
                m2 = jnp.square(a[0]).mean(axis=(0, 1, 2))
                seen[op.name] = (m1, m2)
                if stats is None:
                    var = jnp.maximum(m2 - m1 * m1, 0.0)
                    scale = params[f"{op.name}.scale"] * jax.lax.rsqrt(var + nets.EPS)
                    y = (a[0] - m1) * scale + params[f"{op.name}.bias"]
                else:
                    # onnx.reference: s * (x - mean) / sqrt(var + eps) + bias, in this order.
                    # XLA turns x / broadcast(d) into x * broadcast(1 / d), which rounds twice
                    # (off by an ulp in a third of the outputs); a full-shape divisor behind an
                    # optimization barrier keeps NumPy's correctly rounded quotient
                    mean, var = stats[op.name]
                    num = params[f"{op.name}.scale"] * (a[0] - mean)
                    den = jax.lax.optimization_barrier(jnp.broadcast_to(
                        jnp.sqrt(var + np.float32(nets.EPS)), num.shape))
                    y = num / den + params[f"{op.name}.bias"]
            elif op.kind == "relu":
                y = jax.nn.relu(a[0])
            elif op.kind == "relu6":
                y = jnp.clip(a[0], 0.0, 6.0)
            elif op.kind == "maxpool":
                y = jax.lax.reduce_window(a[0], -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                          (1, 2, 2, 1), "VALID")
            elif op.kind == "add":
                y = a[0] + a[1]
            elif op.kind == "gap":
                y = numpy_mean_hw(a[0])
            elif op.kind == "flatten":
                y = jnp.transpose(a[0], (0, 3, 1, 2)).reshape(a[0].shape[0], -1)   # c-h-w order
            elif op.kind == "fc":
                wt = params[f"{op.name}.weight"]
                y = (a[0] @ wt if product is None else product.matmul(a[0], wt, op.name)) \
                    + params[f"{op.name}.bias"]
            else:
                raise ValueError(f"op {op.name}: unknown kind {op.kind!r}")
            env[op.name] = y
        return env[net.ops[-1].name], seen

    return forward


def numpy_mean_hw(x):
    """Mean over H, W of x (N, H, W, C) float32, summed as NumPy's float32 np.mean sums one
    contiguous run (onnx.reference's GlobalAveragePool): pairwise_sum of n = H*W elements --
    n < 8: in order; n <= 128: eight interleaved running sums r[j] = x[j] + x[j+8] + ...,
    combined ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the remaining n % 8 in order; larger n
    halves recursively (at multiples of 8) -- then divided by n (a true division)."""
    n = x.shape[1] * x.shape[2]
    v = x.reshape(x.shape[0], n, x.shape[3])

    def pairwise(lo, m):
        if m < 8:
            s = v[:, lo]
            for i in range(lo + 1, lo + m):
                s = s + v[:, i]
            return s
        if m <= 128:
            r = [v[:, lo + j] for j in range(8)]
            for i in range(lo + 8, lo + m - m % 8, 8):
                r = [r[j] + v[:, i + j] for j in range(8)]
            s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            for i in range(lo + m - m % 8, lo + m):
                s = s + v[:, i]
            return s
        h = m // 2
        h -= h % 8
        return pairwise(lo, h) + pairwise(lo + h, m - h)

    # XLA CPU turns a float32 x / n into x * (1 / n), which rounds twice; the float64 quotient
    # rounded to float32 is NumPy's (correctly rounded: x / n is never within 2^-52 of an fp32
    # midpoint). Without jax_enable_x64 (FP32 training) this stays float32.
    s = pairwise(0, n)
    return (s.astype(np.float64) / n).astype(s.dtype)[:, None, None, :]


def to_nhwc(x):
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def augment(x, rng, shift, flip):
    """Each image (N, C, H, W) shifted by a random (dy, dx) in -shift..shift (zero filled) and,
    when ``flip``, mirrored left-right with probability 1/2."""
    n, c, h, w = x.shape
    r = shift
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
    dy, dx = rng.integers(0, 2 * r + 1, n), rng.integers(0, 2 * r + 1, n)
    rows = (dy[:, None] + np.arange(h))[:, None, :, None]
    cols = np.arange(w)[None, :]
    if flip:
        cols = np.where(rng.random(n)[:, None] < 0.5, cols[:, ::-1], cols)
    cols = (dx[:, None] + cols)[:, None, None, :]
    return xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def preprocess_stats(arch, x_train):
    """(mean, std) per channel: [0] / [1] for smallcnn, the train split's pixel statistics
    (rounded to 4 decimals) otherwise."""
    c = x_train.shape[1]
    if arch == "smallcnn":
        return [0.0] * c, [1.0] * c
    x = x_train.astype(np.float64)
    return ([round(float(v), 4) for v in x.mean(axis=(0, 2, 3))],
            [round(float(v), 4) for v in x.std(axis=(0, 2, 3))])


def normalize(x, mean, std):
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    return ((x - m) / s).astype(np.float32)


def weight_mask(params):
    return {k: k.endswith(".weight") for k in params}


class Trainer:
    """JAX training state of one network on one data set.

    Parameters
    ----------
    arch : str
        One of ``nets.ARCHS``.
    ds : cnn.data.Dataset
    epochs, seed, batch : int
    lr, wd : float
        Peak learning rate, weight decay.
    product : cnn.ctmq.Product, optional
        Golden conv / FC products (straight-through gradient) instead of float32 ones.

    Attributes
    ----------
    net : cnn.nets.Net
    params, stats : dict
        Parameters and running-average BN statistics (name -> (mean, var)), JAX arrays.
    mean, std : list
        Input preprocessing.
    """

    def __init__(self, arch, ds, epochs, seed, batch=128, lr=0.1, wd=5e-4, shift=None,
                 warmup=True, product=None):
        import jax
        import jax.numpy as jnp
        import optax
        self.jax, self.jnp = jax, jnp
        self.arch, self.ds, self.epochs, self.seed, self.batch = arch, ds, epochs, seed, batch
        self.lr, self.wd = lr, wd
        self.net = nets.build(arch, ds.image_shape)
        self.rng = np.random.default_rng(seed)
        self.params = {k: jnp.asarray(v) for k, v in nets.init_params(self.net, self.rng).items()}
        self.stats = {op.name: (jnp.zeros(self.net.shapes[op.name][0], jnp.float32),
                                jnp.ones(self.net.shapes[op.name][0], jnp.float32))
                      for op in self.net.ops if op.kind == "bn"}
        self.mean, self.std = preprocess_stats(arch, ds.x_train)
        self.steps_per_epoch = max(1, len(ds.x_train) // batch)
        self.total_steps = max(1, int(round(epochs * self.steps_per_epoch)))
        sched = (optax.cosine_onecycle_schedule(self.total_steps, lr, pct_start=0.15,
                                                div_factor=25.0, final_div_factor=40.0)
                 if warmup else optax.cosine_decay_schedule(lr, self.total_steps, alpha=1e-3))
        self.opt = optax.chain(optax.add_decayed_weights(wd, weight_mask(self.params)),
                               optax.sgd(sched, momentum=0.9, nesterov=True))
        self.opt_state = self.opt.init(self.params)
        self.epoch = 0
        self.progress = 0             # print the loss every this many steps (0: never)
        self.history = []             # earlier training runs this one continues
        self.times = (0.0, 0.0)       # wall, CPU seconds spent before this process
        self.product = product
        self.forward = make_forward(self.net, product)
        self.shift = (2 if ds.image_shape[1] >= 16 else 1) if shift is None else shift
        self.flip = ds.name == "fashion-mnist"
        fwd, opt = self.forward, self.opt

        def loss_fn(p, x, y):
            logits, seen = fwd(p, x)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, seen

        @jax.jit
        def step(p, s, stats, x, y):
            (loss, seen), g = jax.value_and_grad(loss_fn, has_aux=True)(p, x, y)
            upd, s = opt.update(g, s, p)
            new = {k: tuple(BN_MOMENTUM * o + (1 - BN_MOMENTUM) * n for o, n in
                            zip(stats[k], (m1, jnp.maximum(m2 - m1 * m1, 0.0))))
                   for k, (m1, m2) in seen.items()}
            return optax.apply_updates(p, upd), s, new, loss

        self._step = step
        # the evaluation forward decides every float sum exactly (cnn.ctmq.Product.exact_form)
        fwd_eval = fwd if product is None else make_forward(self.net, product.exact_form())
        self._eval = jax.jit(lambda p, x, st: fwd_eval(p, x, st)[0])
        self._moments = jax.jit(lambda p, x, st: fwd(p, x, st)[1])
        self._moments_batch = jax.jit(lambda p, x: fwd(p, x)[1])

    def batch_x(self, idx, augmented=True):
        x = self.ds.x_train[idx]
        if augmented:
            x = augment(x, self.rng, self.shift, self.flip)
        return self.jnp.asarray(to_nhwc(normalize(x, self.mean, self.std)))

    def train_steps(self, order):
        """One pass of SGD steps over the train images ``order`` (batches of ``batch``);
        returns the mean loss."""
        jnp, losses = self.jnp, []
        for i in range(0, len(order) - self.batch + 1, self.batch):
            idx = order[i:i + self.batch]
            self.params, self.opt_state, self.stats, loss = self._step(
                self.params, self.opt_state, self.stats, self.batch_x(idx),
                jnp.asarray(self.ds.y_train[idx]))
            losses.append(loss)
            if self.progress and len(losses) % self.progress == 0:
                print(f"  step {len(losses)}/{len(order) // self.batch} loss "
                      f"{float(loss):.4f}", flush=True)
        return float(np.mean([float(v) for v in losses])) if losses else float("nan")

    def train_epoch(self):
        """One epoch (the last one of a fractional --epochs stops at the total step count)."""
        order = self.rng.permutation(len(self.ds.x_train))
        left = self.total_steps - self.epoch * self.steps_per_epoch
        loss = self.train_steps(order[: min(left, self.steps_per_epoch) * self.batch])
        self.epoch += 1
        return loss

    @property
    def step(self):
        """SGD steps taken (the optimizer's schedule count)."""
        import optax
        return int(optax.tree_utils.tree_get(self.opt_state, "count"))

    @property
    def done(self):
        return self.step >= self.total_steps

    def logits(self, x, stats=None, batch=500):
        """JAX logits in inference form of images x (N, C, H, W) in [0, 1]."""
        stats = self.stats if stats is None else stats
        return np.concatenate([np.asarray(self._eval(
            self.params, self.jnp.asarray(to_nhwc(normalize(x[i:i + batch], self.mean,
                                                            self.std))), stats))
            for i in range(0, len(x), batch)])

    def population_stats(self, passes=2, batch=500, images=None):
        """BN (mean, var) over the train split, or its first ``images`` images in a fixed random
        order (see the module docstring), and the largest relative change of any mean / std in
        the last pass."""
        jnp, x = self.jnp, self.ds.x_train
        if images is not None and images < len(x):
            x = x[np.random.default_rng(self.seed).permutation(len(x))[:images]]
        stats, change = None, float("nan")
        for _ in range(passes):
            s1, s2, count = {}, {}, 0
            for i in range(0, len(x), batch):
                xb = jnp.asarray(to_nhwc(normalize(x[i:i + batch], self.mean, self.std)))
                seen = (self._moments_batch(self.params, xb) if stats is None
                        else self._moments(self.params, xb, stats))
                n = len(x[i:i + batch])
                for k, (m1, m2) in seen.items():
                    s1[k] = s1.get(k, 0.0) + np.asarray(m1, np.float64) * n
                    s2[k] = s2.get(k, 0.0) + np.asarray(m2, np.float64) * n
                count += n
            new = {}
            for k in s1:
                m = s1[k] / count
                new[k] = (m.astype(np.float32), np.maximum(s2[k] / count - m * m, 0)
                          .astype(np.float32))
            if stats is not None:
                change = max(float(np.max(np.abs(np.sqrt(new[k][1]) - np.sqrt(stats[k][1]))
                                          / np.sqrt(new[k][1] + nets.EPS))) for k in new)
                change = max(change, max(float(np.max(np.abs(new[k][0] - stats[k][0])
                                                      / np.sqrt(new[k][1] + nets.EPS)))
                                         for k in new))
            stats = {k: (jnp.asarray(m), jnp.asarray(v)) for k, (m, v) in new.items()}
        return stats, change

    def export_params(self, stats):
        out = {k: np.asarray(v, np.float32) for k, v in self.params.items()}
        for k, (m, v) in stats.items():
            out[f"{k}.mean"], out[f"{k}.var"] = np.asarray(m, np.float32), np.asarray(v, np.float32)
        return out

    def to_onnx(self, stats, metadata):
        meta = {"preprocess_mean": self.mean, "preprocess_std": self.std,
                "dataset": self.ds.name, "seed": self.seed, **metadata}
        return onnx_export.to_onnx(self.net, self.export_params(stats), meta)

    def checkpoint(self, path):
        jax = self.jax
        state = {"params": jax.device_get(self.params), "opt_state": jax.device_get(self.opt_state),
                 "stats": jax.device_get(self.stats), "epoch": self.epoch,
                 "history": self.history, "times": self.times,
                 "rng": self.rng.bit_generator.state}
        tmp = Path(str(path) + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(state, f)
        tmp.replace(path)

    def resume(self, path):
        jax = self.jax
        with open(path, "rb") as f:
            state = pickle.load(f)
        self.params = jax.tree_util.tree_map(self.jnp.asarray, state["params"])
        self.opt_state = jax.tree_util.tree_map(self.jnp.asarray, state["opt_state"])
        self.stats = jax.tree_util.tree_map(self.jnp.asarray, state["stats"])
        self.epoch = state["epoch"]
        self.rng.bit_generator.state = state["rng"]
        self.history = state.get("history", self.history)
        self.times = state.get("times", self.times)

    def continue_from(self, path):
        """Start from the parameters and running BN statistics of a checkpoint (a fresh
        optimizer); ``history`` gets the checkpoint's commands first."""
        jax = self.jax
        with open(path, "rb") as f:
            state = pickle.load(f)
        self.params = jax.tree_util.tree_map(self.jnp.asarray, state["params"])
        self.stats = jax.tree_util.tree_map(self.jnp.asarray, state["stats"])
        self.opt_state = self.opt.init(self.params)
        history = state.get("history")
        if history is None:           # checkpoints written before histories were kept
            ckpt_model = onnx.load(str(Path(path).with_suffix(".onnx")))
            meta = onnx_export.metadata(ckpt_model)
            history = [{"command": meta["training_command"], "epochs": float(meta["epochs"]),
                        "seed": meta["seed"]}]
        self.history = history


def accuracy(logits, y):
    return float((np.asarray(logits).argmax(axis=1) == y).mean())


def check_export(model, trainer, stats, x, rel=1e-4):
    """onnxruntime's logits of x equal the JAX inference-form logits within rel x max |logit|
    and give the same top-1; returns the relative difference."""
    ort = onnx_export.onnxruntime_logits(model, preprocess(model, x))
    ref = trainer.logits(x, stats)
    err = float(np.abs(ort - ref).max() / np.abs(ref).max())
    if err > rel or not np.array_equal(ort.argmax(1), ref.argmax(1)):
        raise AssertionError(f"exported model differs from JAX: rel {err:.3g}, top-1 "
                             f"{int((ort.argmax(1) != ref.argmax(1)).sum())} images differ")
    return err


def run(args, log=print):
    ds = cnn_data.load(args.dataset)
    out = Path(args.out or MODELS_DIR / f"{args.arch}_{args.dataset}.onnx")
    if out.suffix != ".onnx":
        raise ParameterError(f"-o must name an .onnx file; got {out}")
    ckpt_onnx, ckpt = out.with_suffix(".ckpt.onnx"), out.with_suffix(".ckpt.pkl")
    import jax
    import optax
    tr = Trainer(args.arch, ds, args.epochs, args.seed, args.batch, args.lr, args.wd, args.shift,
                 warmup=not args.continue_from)
    tr.progress = args.progress
    if args.continue_from:
        tr.continue_from(args.continue_from)
        log(f"continuing from {args.continue_from} (after {tr.history})")
    if args.resume or args.finish:
        src = Path(args.finish) if isinstance(args.finish, str) else ckpt
        tr.resume(src)
        log(f"resumed {src} at epoch {tr.epoch}, step {tr.step}")
    command = ("python -m cnn.train " + " ".join(sys.argv[1:]) if args.command is None
               else args.command)
    if args.finish and tr.history:
        history = tr.history          # finishing trains nothing: the checkpoint's runs
    elif tr.history and not any(h["command"] == command for h in tr.history):
        history = tr.history + [{"command": command, "epochs": args.epochs, "seed": args.seed}]
    else:
        history = tr.history or [{"command": command, "epochs": args.epochs, "seed": args.seed}]
    tr.history = history
    total_epochs = sum(float(h["epochs"]) for h in history)
    common = {"training_command": " ; then ".join(h["command"] for h in history),
              "epochs": total_epochs, "batch": args.batch,
              "lr": args.lr, "weight_decay": args.wd, "shift": tr.shift, "flip": tr.flip,
              "split": ds.split,
              "framework": f"jax {jax.__version__}, optax {optax.__version__}"}
    log(f"{args.arch} on {ds.name}: {len(ds.x_train)} train / {len(ds.x_test)} test images, "
        f"{tr.steps_per_epoch} steps per epoch, preprocess mean {tr.mean} std {tr.std}")
    t0, c0 = time.time(), time.process_time()
    # wall / CPU seconds of earlier processes of this run (a resumed checkpoint)
    wall0, cpu0 = tr.times if args.prior_times is None else args.prior_times
    stopped = None
    if args.finish and not tr.done:
        stopped = (f"stopped early (for time) at step {tr.step} of {tr.total_steps} "
                   f"({tr.step / tr.steps_per_epoch:.2f} epochs)")
        log(f"finishing: {stopped}")
    while not tr.done and not args.finish:
        loss = tr.train_epoch()
        acc = accuracy(tr.logits(ds.x_test), ds.y_test)
        model = tr.to_onnx(tr.stats, {**common, "fp32_test_accuracy": acc,
                                      "checkpoint": f"epoch {tr.epoch} of {args.epochs}, "
                                                    f"running-average BN statistics (JAX)"})
        onnx_export.save(model, ckpt_onnx)
        tr.times = (wall0 + time.time() - t0, cpu0 + time.process_time() - c0)
        tr.checkpoint(ckpt)
        log(f"epoch {tr.epoch}/{args.epochs} loss {loss:.4f} test acc (JAX, running BN) "
            f"{acc:.4f}  {tr.times[0]:.0f} s wall, {tr.times[1]:.0f} s CPU", flush=True)
    n_bn = min(args.bn_images or len(ds.x_train), len(ds.x_train))
    stats, change = tr.population_stats(args.bn_passes, images=n_bn)
    where = (f"the whole train split ({n_bn} images)" if n_bn == len(ds.x_train)
             else f"{n_bn} train images (a seeded random subset)")
    bn_note = (f"population over {where}, {args.bn_passes} passes (the last changed a mean / "
               f"std by at most {change:.2g} of the std)")
    log(f"BN statistics: {bn_note}")
    wall, cpu = wall0 + time.time() - t0, cpu0 + time.process_time() - c0
    meta = {**common, "train_wall_seconds": round(wall, 1), "train_cpu_seconds": round(cpu, 1),
            "bn_statistics": bn_note,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if stopped:
        meta["stopped"] = stopped
    model = tr.to_onnx(stats, {**meta, "fp32_test_accuracy": 0.0})
    logits = onnx_export.onnxruntime_logits(model, preprocess(model, ds.x_test))
    acc = accuracy(logits, ds.y_test)
    err = check_export(model, tr, stats, ds.x_test[:500])
    model = tr.to_onnx(stats, {**meta, "fp32_test_accuracy": acc})
    onnx_export.save(model, out)
    params, macs = onnx_export.count(model)
    log(f"wrote {out}: FP32 test accuracy (onnxruntime, {len(ds.x_test)} images) {acc:.4f}; "
        f"JAX vs onnxruntime max rel diff {err:.2g}; {params} parameters, {macs} MACs/image; "
        f"{wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    return model


def bench(args, steps, log=print):
    """Training images/s of ``steps`` steps after one compile step."""
    ds = cnn_data.load(args.dataset)
    tr = Trainer(args.arch, ds, args.epochs, args.seed, args.batch, args.lr, args.wd)
    order = tr.rng.permutation(len(ds.x_train))[: (steps + 1) * args.batch]
    t = time.time()
    tr.train_steps(order[: args.batch])
    log(f"compile + 1 step {time.time() - t:.1f} s")
    t = time.time()
    tr.train_steps(order[args.batch:])
    dt = time.time() - t
    log(f"{args.arch}: {steps * args.batch / dt:.0f} training images/s (batch {args.batch}, "
        f"{steps} steps, {dt:.1f} s) -> {len(ds.x_train) / (steps * args.batch / dt) / 60:.1f} "
        f"min per epoch")
    t = time.time()
    tr.logits(ds.x_test[:2000])
    log(f"inference {2000 / (time.time() - t):.0f} images/s (incl. compile)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cnn.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet20", choices=nets.ARCHS)
    p.add_argument("--dataset", help="default fashion-mnist (--ctmq: the start model's)")
    p.add_argument("--epochs", type=float, default=10,
                   help="passes over the train split (fractions allowed: 1.5 = 1.5 x the steps)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    p.add_argument("--wd", type=float, default=5e-4, help="weight decay")
    p.add_argument("--shift", type=int, help="largest random shift in pixels (default 2, 1 for "
                   "images under 16 x 16)")
    p.add_argument("--bn-passes", type=int, default=2)
    p.add_argument("--bn-images", type=int, help="BN statistics over this many train images "
                   "(a seeded random subset; default all)")
    p.add_argument("-o", "--out", help="ONNX file (default cnn/models/<arch>_<dataset>.onnx)")
    p.add_argument("--resume", action="store_true", help="continue from OUT's .ckpt.pkl")
    p.add_argument("--continue-from", metavar="CKPT.pkl", help="start from a checkpoint's "
                   "weights with a fresh optimizer and a cosine decay from --lr (no warm-up)")
    p.add_argument("--finish", nargs="?", const=True, metavar="PKL",
                   help="stop at a checkpoint (OUT's .ckpt.pkl, or PKL): BN statistics, export and "
                        "accuracy of the checkpoint (the model states where it stopped)")
    p.add_argument("--bench", type=int, metavar="STEPS", help="only time STEPS training steps")
    p.add_argument("--progress", type=int, default=0, metavar="K",
                   help="print the loss every K steps")
    g = p.add_argument_group("CTMQ (cnn.ctmq): Mitch-w training from an FP32 model")
    g.add_argument("--ctmq", action="store_true", help="multiple cyclic training down to the w "
                   "of --mult (--epochs per phase; --continue-from CKPT.pkl or --from MODEL.onnx)")
    g.add_argument("--from", dest="start_from", metavar="MODEL.onnx",
                   help="the FP32 model to start from (its architecture and dataset are used)")
    g.add_argument("--mult", default="mitch_bf16_w2_trunc", help="target multiplier "
                   "mitch_bf16_w{2..8}_{trunc|unbiased}, int{4..16} or "
                   "mitch_int{8|16}_w{2..10}_{trunc|unbiased}_{exact|c1}")
    g.add_argument("--start-w", "--start-bits", dest="start_w", type=int, default=8,
                   help="first step's bit depth: w of Mitch-w, N of intN (default 8)")
    g.add_argument("--cycles", type=int, default=1, help="accurate-model cycles per step")
    g.add_argument("--fp32-epochs", type=float, default=0.5,
                   help="epochs of each accurate-model phase")
    g.add_argument("--steps", type=int, help="SGD steps of each Mitch-w phase (instead of "
                   "--epochs; 0 with --cycles 0: BN statistics re-estimated only)")
    g.add_argument("--fp32-steps", type=int, help="SGD steps of each accurate-model phase "
                   "(instead of --fp32-epochs)")
    g.add_argument("--eval-images", type=int, help="test images of the per-step top-1 in the "
                   "log (default all)")
    p.add_argument("--command", help=argparse.SUPPRESS)
    p.add_argument("--prior-times", type=lambda v: tuple(float(t) for t in v.split(",")),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if args.epochs <= 0 or args.batch < 1 or args.bn_passes < 1:
            raise ParameterError("--epochs must be > 0, --batch and --bn-passes >= 1")
        if args.ctmq:
            from . import ctmq
            ctmq.run(args)
            return
        args.dataset = args.dataset or "fashion-mnist"
        if args.bench:
            bench(args, args.bench)
        else:
            run(args)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
