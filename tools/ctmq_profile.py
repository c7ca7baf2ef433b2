"""CPU seconds of one --ctmq training step (forward with golden Mitch-w products, straight-through
backward, SGD update) next to the FP32 trainer's step on the same batch, in the same process:

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
        python tools/ctmq_profile.py [--model cnn/models/resnet20_fashion-mnist.onnx] \
        [--batch 32] [--w 4,3] [--repeat 2]

Prints, per product (fp32, then mitch_bf16_w{W}_trunc): the compile + first step, the mean CPU
seconds of a step and of the forward alone (jit), and the ratio of each step to the FP32 step.
"""

import argparse
import time

import numpy as np


def cpu_seconds(f, repeat):
    f()
    c = time.process_time()
    for _ in range(repeat):
        f()
    return (time.process_time() - c) / repeat


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cnn/models/resnet20_fashion-mnist.onnx")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--w", default="4,3")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    from cnn import ctmq, data, executor, nets, onnx_export, train
    from cnn.mults import parse_mult
    ctmq.enable_x64()
    import jax
    import jax.numpy as jnp
    meta = onnx_export.metadata(executor.load_model(args.model))
    ds = data.load(meta["dataset"])
    arch = meta.get("architecture", "resnet20")
    params, _ = ctmq.load_start(args.model, nets.build(arch, ds.image_shape))
    base = None
    for name in ["fp32"] + [f"mitch_bf16_w{w}_trunc" for w in args.w.split(",")]:
        product = None if name == "fp32" else ctmq.Product(parse_mult(name))
        tr = train.Trainer(arch, ds, 1, 1, args.batch, 0.01, 5e-4, 1, warmup=False,
                           product=product)
        tr.params = {k: jnp.asarray(v) for k, v in params.items()}
        tr.opt_state = tr.opt.init(tr.params)
        x = tr.batch_x(np.arange(args.batch))
        y = jnp.asarray(ds.y_train[:args.batch])

        def step():
            jax.block_until_ready(tr._step(tr.params, tr.opt_state, tr.stats, x, y))

        c = time.process_time()
        step()
        compile_s = time.process_time() - c
        s = cpu_seconds(step, args.repeat)
        fwd = jax.jit(lambda p, x: tr.forward(p, x)[0])
        f = cpu_seconds(lambda: fwd(tr.params, x).block_until_ready(), args.repeat)
        base = base or s
        print(f"{name}: batch {args.batch}: compile + 1 step {compile_s:.1f} s, step {s:.3f} s "
              f"CPU ({s / base:.1f}x FP32), forward alone {f:.3f} s", flush=True)


if __name__ == "__main__":
    main()
