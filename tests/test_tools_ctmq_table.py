"""tools/ctmq_table.py: the paired McNemar between two rows counts the discordant images and
gives scipy's exact binomial p-value; the table runs the executor, caches its logits and prints
the pair on real images."""

import numpy as np
import pytest
from scipy import stats as sps

from cnn import data, executor
from tools.ctmq_table import main, paired

MODEL = "cnn/models/smallcnn_digits.onnx"


def test_paired_counts_discordant_images():
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    onehot = np.eye(3)
    a = onehot[[0, 1, 2, 1, 1, 0, 2]]        # right: 0, 1, 2, 4
    b = onehot[[0, 0, 0, 0, 1, 2, 2]]        # right: 0, 3, 4, 5
    bb, c, p = paired(a, b, y)
    assert (bb, c) == (2, 2)                 # only A: 1, 2; only B: 3, 5
    assert p == pytest.approx(sps.binomtest(2, 4, 0.5).pvalue)
    assert paired(a, a, y) == (0, 0, 1.0)


def test_table_pairs_rows_and_caches(tmp_path, capsys):
    argv = [MODEL, f"mitch_bf16_w2_trunc:w2={MODEL}", f"bf16:bf16={MODEL}", "--limit", "40",
            "--pair", "w2,bf16", "--cache", str(tmp_path)]
    out = main(argv)
    text = capsys.readouterr().out
    ds = data.load("digits")
    model = executor.load_model(MODEL)
    ref = executor.Session(model, "mitch_bf16_w2_trunc").predict(
        executor.preprocess(model, ds.x_test[:40]))
    np.testing.assert_array_equal(out["w2"], ref)
    b, c, p = paired(out["w2"], out["bf16"], ds.y_test[:40])
    assert f"right only with w2: {b}, only with bf16: {c}, exact p = {p:.3g}" in text
    assert len(list(tmp_path.glob("*.npy"))) == 2
    again = main(argv)                       # from the cache: the same logits
    np.testing.assert_array_equal(again["w2"], out["w2"])


def test_pair_must_name_rows(capsys):
    with pytest.raises(SystemExit) as e:
        main([MODEL, f"bf16:x={MODEL}", "--pair", "x,y"])
    assert e.value.code == 2
    assert "--pair needs two row labels" in capsys.readouterr().err


def test_jax_engine_is_the_emulator(tmp_path, capsys):
    """--engine jax: cnn.ctmq's forward gives the emulator's logits bit for bit (checked inside
    on every image here) and the same table."""
    pytest.importorskip("jax")
    argv = [MODEL, f"mitch_bf16_w2_trunc:w2={MODEL}", "--limit", "30"]
    emu = main(argv)["w2"]
    jax_ = main(argv + ["--engine", "jax", "--check", "30", "--cache", str(tmp_path)])["w2"]
    np.testing.assert_array_equal(jax_.view(np.uint32), emu.view(np.uint32))
    assert "equal to the emulator's bit for bit on the first 30 images" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*_jax.npy"))) == 1


def test_integer_rows_use_the_calibrated_scales(tmp_path, capsys):
    """An integer row runs the executor with approxmac accuracy's activation scales
    (cnn.ctmq.calibration), and the JAX engine gives the same logits bit for bit."""
    pytest.importorskip("jax")
    from cnn import ctmq
    ds = data.load("digits")
    model = executor.load_model(MODEL)
    ref = executor.Session(model, "int4", calib=ctmq.calibration(model, ds)).predict(
        executor.preprocess(model, ds.x_test[:30]))
    argv = [MODEL, f"int4:i4={MODEL}", "--limit", "30"]
    np.testing.assert_array_equal(main(argv)["i4"], ref)
    jax_ = main(argv + ["--engine", "jax", "--check", "30"])["i4"]
    np.testing.assert_array_equal(jax_.view(np.uint32), ref.view(np.uint32))
