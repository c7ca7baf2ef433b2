"""The committed small CNN through the executor end to end (ported from the former cnn/model.py
tests): the fast class decomposition == the golden product-by-product loop on the whole network,
bit for bit, and a model that does not fit the data set is refused."""

import numpy as np
import pytest

from approxmac.cli import main
from cnn import data
from cnn.executor import Session, calibrate, load_model, preprocess

SMALLCNN = "cnn/models/smallcnn_mnist5k.onnx"


@pytest.fixture(scope="module")
def mnist_model():
    from pathlib import Path
    model = load_model(Path(__file__).resolve().parent.parent / SMALLCNN)
    ds = data.load("mnist5k")
    return model, ds, calibrate(model, preprocess(model, ds.x_train[:500]))


@pytest.mark.parametrize("name", ["bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w3_unbiased",
                                  "int8", "mitch_int8_w6_trunc_c1", "mitch_int16_w8_unbiased_exact"])
def test_whole_network_fast_equals_naive(mnist_model, name):
    """Every node of the real network on two test images: the class decomposition gives the
    naive golden loop's logits bit for bit."""
    model, ds, calib = mnist_model
    x = preprocess(model, ds.x_test[[3, 777]])
    fast = Session(model, name, calib=calib).run(x)
    naive = Session(model, name, calib=calib, path="naive").run(x)
    assert np.array_equal(fast.view(np.uint32), naive.view(np.uint32))
    assert not np.array_equal(fast, Session(model, "fp32").run(x))     # it is approximated


def test_model_that_does_not_fit_the_dataset_exits_2(tmp_path, capsys):
    assert main(["accuracy", "--model", "smallcnn_mnist5k", "--dataset", "digits", "--mult",
                 "fp32", "--subset-mult", "none", "-o", str(tmp_path / "o"), "--traces",
                 str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "takes shape (N, 1, 28, 28)" in err and "(1, 1, 8, 8)" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "t").exists()
