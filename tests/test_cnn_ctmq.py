"""cnn.ctmq: the JAX forward with golden products equals the ONNX executor bit for bit (after
training steps, on real images), the straight-through gradient is the exact product's, the
NumPy-order average pool, the CTMQ command end to end on a tiny set, and its bad input."""

import json

import numpy as np
import onnx
import pytest

from cnn import data, executor, nets

pytest.importorskip("jax")

from cnn import ctmq, train  # noqa: E402
from cnn.mults import parse_mult  # noqa: E402
from golden.params import ParameterError  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    """64 train / 40 test images of scikit-learn's 8 x 8 digits."""
    ds = data.load("digits")
    return data.Dataset("digits", ds.x_train[:64], ds.y_train[:64], ds.x_test[:40],
                        ds.y_test[:40], "first 64 / 40")


@pytest.mark.parametrize("name", ["mitch_bf16_w2_trunc"])
def test_forward_is_the_emulator_bit_for_bit(tiny, name):
    """After one epoch of STE training, the exported model's logits from cnn.executor.Session
    (cnn.gemm's exact path) equal the JAX forward's, every bit, on 64 images."""
    tr = train.Trainer("smallcnn", tiny, epochs=1, seed=7, batch=32,
                       product=ctmq.Product(parse_mult(name)))
    before = {k: np.asarray(v).copy() for k, v in tr.params.items()}
    tr.train_epoch()
    assert any(not np.array_equal(before[k], np.asarray(v)) for k, v in tr.params.items())
    stats, _ = tr.population_stats(passes=2, batch=32)
    model = tr.to_onnx(stats, {"fp32_test_accuracy": 0.5, "training_command": "test"})
    x = np.concatenate([tiny.x_test, tiny.x_train[:24]])
    ref = executor.Session(model, name).run(executor.preprocess(model, x))
    got = tr.logits(x, stats)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    # the approximation is real: the FP32 logits differ
    fp32 = executor.Session(model, "fp32").run(executor.preprocess(model, x))
    assert not np.array_equal(fp32, ref)


@pytest.mark.parametrize("name", [
    pytest.param("int8", marks=pytest.mark.slow), pytest.param("int4", marks=pytest.mark.slow),
    "int16", "mitch_int8_w3_trunc_c1",
    pytest.param("mitch_int8_w4_unbiased_exact", marks=pytest.mark.slow)])
def test_integer_forward_is_the_emulator_bit_for_bit(tiny, name):
    """Integer units: after one epoch of STE training with the executor's activation scales
    (cnn.executor.calibrate of the FP32 start model), the JAX logits equal the executor's
    (same scales), every bit, on 64 images. (int16 failed before the batch-norm division was
    made correctly rounded: its quantization step is an fp32 ulp's 2^9.)"""
    fp32 = train.Trainer("smallcnn", tiny, epochs=1, seed=3, batch=32)
    fp32.train_epoch()
    st, _ = fp32.population_stats(passes=1, batch=32)
    calib = ctmq.calibration(fp32.to_onnx(st, {}), tiny)
    tr = train.Trainer("smallcnn", tiny, epochs=1, seed=7, batch=32,
                       product=ctmq.Product(parse_mult(name), calib))
    tr.params, tr.stats = fp32.params, fp32.stats
    tr.train_epoch()
    assert not np.array_equal(np.asarray(tr.params["conv1.weight"]),
                              np.asarray(fp32.params["conv1.weight"]))
    stats, _ = tr.population_stats(passes=2, batch=32)
    model = tr.to_onnx(stats, {"fp32_test_accuracy": 0.5, "training_command": "test"})
    x = np.concatenate([tiny.x_test, tiny.x_train[:24]])
    ref = executor.Session(model, name, calib=calib).run(executor.preprocess(model, x))
    got = tr.logits(x, stats)
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    fp = executor.Session(model, "fp32").run(executor.preprocess(model, x))
    assert not np.array_equal(fp, ref)


def test_product_against_golden_on_edge_operands():
    """Product.matmul against the executor's product (naive golden loop) on operands spanning
    bf16 rounding ties, signs, zeros and wide exponents."""
    import jax.numpy as jnp
    rng = np.random.default_rng(3)
    mult = parse_mult("mitch_bf16_w3_trunc")
    a = rng.standard_normal((17, 40)) * np.exp2(rng.integers(-20, 20, (17, 40)))
    a = a.astype(np.float32)
    a[0, :8] = np.array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 0, -0.0, 3e-30, 1e-3, 7],
                        np.float32)                        # ties to even, zeros
    a[1] = 0
    b = (rng.standard_normal((40, 5)) * np.exp2(rng.integers(-10, 10, (40, 5)))).astype(np.float32)
    from cnn import gemm
    from cnn.mults import to_bf16
    ref = gemm.naive_matmul(to_bf16(a), to_bf16(b), mult)
    for exact in (False, True):
        got = np.asarray(ctmq.Product(mult, exact=exact).matmul(jnp.asarray(a), jnp.asarray(b),
                                                                "fc"))
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


def test_exact_form_sums_undecided_rows_exactly():
    """A row whose float64 sum is not exact and lands on an fp32 tie: 1 + 2^-24 (the midpoint
    of 1 and 1 + 2^-23) + 2^-80. Float64 drops 2^-80 and rounds the tie to even (1.0); the
    exact sum is above the tie (1 + 2^-23), as the golden loop says. The training forward gets
    it wrong, the evaluation forward (exact_form) right, through the exact fallback."""
    import jax.numpy as jnp
    mult = parse_mult("mitch_bf16_w3_trunc")
    a = np.array([[1.0, 2.0 ** -24, 2.0 ** -80], [1.0, 0.5, 0.25]], np.float32)
    b = np.ones((3, 2), np.float32)
    from cnn import gemm
    from cnn.mults import to_bf16
    ref = gemm.naive_matmul(to_bf16(a), to_bf16(b), mult)
    assert ref[0, 0] == np.float32(1 + 2.0 ** -23)
    fast = np.asarray(ctmq.Product(mult).matmul(jnp.asarray(a), jnp.asarray(b), "fc"))
    assert fast[0, 0] == 1.0
    before = ctmq.UNDECIDED[0]
    product = ctmq.Product(mult).exact_form()
    got = np.asarray(product.matmul(jnp.asarray(a), jnp.asarray(b), "fc"))
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert ctmq.UNDECIDED[0] - before == 2          # row 0 only (row 1 fits float64)


@pytest.mark.slow
def test_resnet_batch_is_the_emulator_bit_for_bit():
    """ResNet-20 (Fashion-MNIST) with Mitch-w3 products on 16 test images: the JAX evaluation
    forward's logits equal the executor's bit for bit. (Image 1 differed before the batch-norm
    division was made correctly rounded, cnn.train.make_forward.)"""
    ds = data.load("fashion-mnist")
    path = "cnn/models/resnet20_fashion-mnist.onnx"
    x = ds.x_test[:16]
    got = ctmq.model_logits(path, "mitch_bf16_w3_trunc", ds, x)
    model = executor.load_model(path)
    ref = executor.Session(model, "mitch_bf16_w3_trunc").run(executor.preprocess(model, x))
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


def test_straight_through_gradient():
    """The gradient of the approximate product is the exact product's."""
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    w = jnp.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    p = ctmq.Product(parse_mult("mitch_bf16_w2_trunc"))

    def exact(x, w):
        return jax.lax.conv_general_dilated(x, w, (2, 2), [(1, 1), (1, 1)],
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    assert not np.allclose(p.conv(x, w, 2, 1, "c"), exact(x, w))
    g1 = jax.grad(lambda x, w: jnp.sum(jnp.sin(exact(x, w))), (0, 1))(x, w)
    g2 = jax.grad(lambda x, w: jnp.sum(jnp.sin(p.conv(x, w, 2, 1, "c"))), (0, 1))(x, w)
    # the same cotangent enters when the approximate forward is used for sin's derivative too:
    # compare with the cotangent of the approximate outputs fed to the exact conv's vjp
    ct = jnp.cos(p.conv(x, w, 2, 1, "c"))
    g3 = jax.vjp(exact, x, w)[1](ct)
    for a, b in zip(g2, g3):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(g1[1]), np.asarray(g2[1]))


@pytest.mark.parametrize("hw", [(1, 1), (2, 2), (7, 7), (8, 8), (14, 14), (16, 16)])
def test_average_pool_in_numpy_order(hw):
    """train.numpy_mean_hw equals onnx.reference's GlobalAveragePool (np.average, float32) bit
    for bit (with jax_enable_x64, as --ctmq runs it)."""
    import jax.numpy as jnp
    ctmq.enable_x64()
    from onnx.reference.ops.op_global_average_pool import _global_average_pool
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((6, 5, *hw)) * rng.uniform(0, 1e3, (6, 5, 1, 1))).astype(np.float32)
    ref = _global_average_pool(x).astype(np.float32)[:, :, 0, 0]
    got = np.asarray(train.numpy_mean_hw(jnp.asarray(x.transpose(0, 2, 3, 1))))[:, 0, 0]
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


def fp32_model(tiny, tmp_path, monkeypatch):
    """A smallcnn trained one epoch on ``tiny``, saved as tmp_path/fp32.onnx; data.load -> tiny."""
    tr = train.Trainer("smallcnn", tiny, epochs=1, seed=1, batch=32)
    tr.train_epoch()
    stats, _ = tr.population_stats(passes=1, batch=32)
    src = tmp_path / "fp32.onnx"
    onnx.save(tr.to_onnx(stats, {"fp32_test_accuracy": 0.5, "training_command": "t"}), src)
    monkeypatch.setattr(data, "load", lambda name: tiny)
    return src


def test_ctmq_command_end_to_end(tiny, tmp_path, monkeypatch):
    """--ctmq from an FP32 model, at w = 2 with one cycle through the accurate model: writes a
    model that the executor runs, records the schedule and the emulator check, and changed the
    weights (the steps down in w: test_family)."""
    net = nets.build("smallcnn", tiny.image_shape)
    src = fp32_model(tiny, tmp_path, monkeypatch)
    out = tmp_path / "w2.onnx"
    train.main(["--ctmq", "--from", str(src), "--mult", "mitch_bf16_w2_trunc", "--start-w", "2",
                "--cycles", "1", "--steps", "2", "--fp32-steps", "1", "--batch", "32",
                "--bn-passes", "1", "--eval-images", "8", "-o", str(out)])
    model = executor.load_model(out)
    meta = {p.key: p.value for p in model.metadata_props}
    sched = json.loads(meta["ctmq"])
    assert sched["start_w"] == 2 and sched["cycles"] == 1
    # one cycle: 2 Mitch-w steps, 1 FP32 step, then the closing 2 Mitch-w steps
    assert sched["sgd_steps"] == {"mitch": 4, "fp32": 1}
    assert sched["steps"][0]["test_images"] == 8
    assert meta["jax_vs_emulator"].endswith("bit-identical, predictions identical")
    w0 = onnx.numpy_helper.to_array(
        next(t for t in onnx.load(str(src)).graph.initializer if t.name == "conv1.weight"))
    w1 = onnx.numpy_helper.to_array(
        next(t for t in model.graph.initializer if t.name == "conv1.weight"))
    assert w0.shape == w1.shape == net.param_shapes["conv1.weight"]
    assert not np.array_equal(w0, w1)


def test_zero_steps_re_estimates_bn_only(tiny, tmp_path, monkeypatch):
    """--steps 0 --cycles 0: no SGD step (the weights are the start model's), the BN statistics
    are the target-w network's."""
    src = fp32_model(tiny, tmp_path, monkeypatch)
    out = tmp_path / "bn.onnx"
    train.main(["--ctmq", "--from", str(src), "--mult", "mitch_bf16_w2_trunc", "--start-w", "2",
                "--cycles", "0", "--steps", "0", "--batch", "32", "--bn-passes", "1",
                "--eval-images", "0", "-o", str(out)])
    init = {m: {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(f)).graph.initializer}
            for m, f in (("src", src), ("out", out))}
    meta = {p.key: p.value for p in executor.load_model(out).metadata_props}
    assert json.loads(meta["ctmq"])["sgd_steps"] == {"mitch": 0, "fp32": 0}
    for k, v in init["src"].items():
        if k.endswith(".mean") or k.endswith(".var"):
            assert not np.array_equal(v, init["out"][k]), k
        else:
            np.testing.assert_array_equal(v, init["out"][k])


def test_integer_ctmq_end_to_end(tiny, tmp_path, monkeypatch):
    """--ctmq down the integer width, int5 -> int4 (the cycles: test_ctmq_command_end_to_end):
    the exported model equals the emulator bit for bit (with approxmac accuracy's scales) and
    records the schedule."""
    src = fp32_model(tiny, tmp_path, monkeypatch)
    out = tmp_path / "int4.onnx"
    train.main(["--ctmq", "--from", str(src), "--mult", "int4", "--start-bits", "5",
                "--cycles", "0", "--steps", "1", "--batch", "32",
                "--bn-passes", "1", "--eval-images", "0", "-o", str(out)])
    meta = {p.key: p.value for p in executor.load_model(out).metadata_props}
    sched = json.loads(meta["ctmq"])
    assert (sched["depth"], sched["start_w"], sched["target_w"]) == ("N", 5, 4)
    assert [s["w"] for s in sched["steps"]] == [5, 4]
    assert sched["sgd_steps"] == {"mitch": 2, "fp32": 0}
    assert meta["jax_vs_emulator"].endswith("bit-identical, predictions identical")
    assert "activation_scales" in meta


def test_family():
    assert [m.name for m in ctmq.family("mitch_bf16_w3_unbiased", 6)] == [
        f"mitch_bf16_w{w}_unbiased" for w in (6, 5, 4, 3)]
    assert [m.w for m in ctmq.family("mitch_bf16_w8_trunc", 8)] == [8]
    assert [m.name for m in ctmq.family("int4", 8)] == [f"int{n}" for n in (8, 7, 6, 5, 4)]
    assert [m.name for m in ctmq.family("mitch_int8_w3_trunc_c1", 5)] == [
        f"mitch_int8_w{w}_trunc_c1" for w in (5, 4, 3)]


@pytest.mark.parametrize("argv, match", [
    (["--mult", "mitch_bf16_w9_trunc"], "w"),
    (["--mult", "bogus"], "mult must be"),
    (["--mult", "posit_n8_es1"], "--mult must be mitch_bf16_w{2..8}_{trunc|unbiased}, int{4..16}"),
    (["--mult", "int3"], "n must be in 4..16"),
    (["--mult", "mitch_bf16_w4_trunc", "--start-w", "3"], "(the first step's w) must be in 4..8"),
    (["--mult", "mitch_bf16_w4_trunc", "--start-w", "9"], "must be in 4..8"),
    (["--mult", "int6", "--start-bits", "5"], "(the first step's N) must be in 6..16"),
    (["--mult", "mitch_int8_w4_trunc_c1", "--start-bits", "9"], "must be in 4..8"),
    (["--mult", "mitch_bf16_w4_trunc", "--start-w", "5", "--cycles", "0", "--steps", "0"],
     "--steps 0 (BN statistics only) needs"),
    (["--mult", "mitch_bf16_w4_trunc", "--start-w", "4", "--steps", "-1"], "--steps must be >= 0"),
])
def test_bad_input_exits_2(argv, match, capsys, tmp_path):
    out = tmp_path / "x.onnx"
    with pytest.raises(SystemExit) as e:
        train.main(["--ctmq", "--from", "cnn/models/smallcnn_mnist5k.onnx", "-o", str(out)]
                   + argv)
    assert e.value.code == 2
    assert match in capsys.readouterr().err
    assert not out.exists()
