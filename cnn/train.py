"""Train the CNN in FP32 with JAX + optax and write its weights file (cnn/weights/<dataset>.npz).

    pip install -e '.[train]'
    python -m cnn.train --dataset mnist5k            # seed 2022, 40 epochs: the committed file
    python -m cnn.train --dataset digits

Only this script needs JAX; inference (cnn.model) is NumPy. Training: the train split of
cnn.data, random shifts of up to 2 pixels (1 for 8 x 8 digits) as augmentation, batch 64, AdamW
(lr 2e-3 with cosine decay, weight decay 1e-4), cross-entropy; batch norm uses batch statistics
while training. Afterwards the BN mean / var are recomputed over the whole train split (the
population statistics, in fp32) and the FP32 test accuracy is measured with cnn.model's NumPy
inference; both go into the file's meta.
"""

import argparse
import json
import time

import numpy as np

from . import data as cnn_data
from . import model as cnn_model

EPS = 1e-5


CHANNELS = (16, 32)           # conv1, conv2 output channels


def init_params(rng, hw, c1, c2):
    """He-normal conv / FC weights (float32), BN gamma = 1, beta = 0."""
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    f = c2 * (hw[0] // 4) * (hw[1] // 4)
    return {"conv1": he((c1, 1, 3, 3), 9), "conv2": he((c2, c1, 3, 3), 9 * c1),
            "fc_w": he((f, 10), f) / np.float32(2), "fc_b": np.zeros(10, np.float32),
            "bn1_gamma": np.ones(c1, np.float32), "bn1_beta": np.zeros(c1, np.float32),
            "bn2_gamma": np.ones(c2, np.float32), "bn2_beta": np.zeros(c2, np.float32)}


def make_jax_fns():
    import jax
    import jax.numpy as jnp

    def conv(x, k):
        return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                            dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def apply(p, x, stats=None):
        """Logits; BN with batch statistics (stats None) or the given {bn: (mean, var)}.
        Also returns the conv outputs' batch (mean, var) per BN layer."""
        seen = {}
        for cv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
            y = conv(x, p[cv])
            mean, var = (y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3)))
            seen[bn] = (mean, var)
            m, v = stats[bn] if stats else (mean, var)
            scale = p[f"{bn}_gamma"] / jnp.sqrt(v + EPS)
            y = y * scale[None, :, None, None] + (p[f"{bn}_beta"] - m * scale)[None, :, None, None]
            x = pool(jax.nn.relu(y))
        return x.reshape(x.shape[0], -1) @ p["fc_w"] + p["fc_b"], seen

    return jax, jnp, apply


def shift_batch(x, rng, r):
    """Each image shifted by a random (dy, dx) in -r..r, zero filled."""
    n, _, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
    dy, dx = rng.integers(0, 2 * r + 1, n), rng.integers(0, 2 * r + 1, n)
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    return xp[np.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def train(dataset="mnist5k", epochs=40, seed=2022, batch=64, lr=2e-3, log=print):
    import optax
    jax, jnp, apply = make_jax_fns()
    ds = cnn_data.load(dataset)
    rng = np.random.default_rng(seed)
    c1, c2 = CHANNELS
    params = {k: jnp.asarray(v) for k, v in init_params(rng, ds.image_shape[1:], c1, c2).items()}
    steps = epochs * (len(ds.x_train) // batch)
    opt = optax.adamw(optax.cosine_decay_schedule(lr, steps), weight_decay=1e-4)
    state = opt.init(params)

    def loss_fn(p, x, y):
        logits, _ = apply(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, s, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    r = 2 if ds.image_shape[1] >= 16 else 1
    t0 = time.time()
    for ep in range(epochs):
        order = rng.permutation(len(ds.x_train))
        losses = []
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            xb = shift_batch(ds.x_train[idx], rng, r)
            params, state, loss = step(params, state, jnp.asarray(xb), jnp.asarray(ds.y_train[idx]))
            losses.append(float(loss))
        log(f"epoch {ep + 1}/{epochs} loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s)")

    w = {k: np.asarray(v) for k, v in params.items()}
    w.update(population_stats(apply, jnp, params, ds.x_train))
    w["eps"] = np.float32(EPS)
    w["calib_absmax"] = cnn_model.calib_absmax(ds.x_train, w)
    acc = fp32_accuracy(w, ds)
    w["meta"] = {"dataset": dataset, "seed": seed, "epochs": epochs, "batch": batch, "lr": lr,
                 "fp32_test_accuracy": acc, "n_train": len(ds.x_train), "n_test": len(ds.x_test),
                 "split": ds.split, "bn": "applied in fp32 after each conv (not folded)",
                 "framework": f"jax {jax.__version__}, optax {optax.__version__}",
                 "train_seconds": round(time.time() - t0, 1)}
    return w


def population_stats(apply, jnp, params, x, batch=500):
    """BN mean / var of each conv output over all of x: BN1 first, then BN2 with BN1 fixed."""
    out = {}
    for bn in ("bn1", "bn2"):
        s1 = s2 = 0.0
        count = 0
        # seen[bn] is taken on the raw conv output, before its own BN: only bn1's fixed
        # statistics (already in out when bn == "bn2") influence it.
        stats = {"bn1": (out.get("bn1_mean", 0.0), out.get("bn1_var", 1.0)), "bn2": (0.0, 1.0)}
        for i in range(0, len(x), batch):
            _, seen = apply(params, jnp.asarray(x[i:i + batch]), stats)
            m, v = (np.asarray(t, np.float64) for t in seen[bn])
            n = len(x[i:i + batch])
            s1, s2, count = s1 + m * n, s2 + (v + m * m) * n, count + n
        mean = s1 / count
        out[f"{bn}_mean"] = mean.astype(np.float32)
        out[f"{bn}_var"] = (s2 / count - mean * mean).astype(np.float32)
    return out


def fp32_accuracy(w, ds):
    from .mults import parse_mult
    logits = cnn_model.predict(ds.x_test, w, cnn_model.Engine(parse_mult("fp32")))
    return float((logits.argmax(axis=1) == ds.y_test).mean())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cnn.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--out", help="weights file (default cnn/weights/<dataset>.npz)")
    args = p.parse_args(argv)
    if args.dataset.startswith("idx:") and not args.out:
        p.error("--out is required for idx: data sets (the committed weights stay untouched)")
    w = train(args.dataset, args.epochs, args.seed)
    out = args.out or cnn_model.weights_path(args.dataset)
    cnn_model.save_weights(out, w)
    print(json.dumps(w["meta"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
