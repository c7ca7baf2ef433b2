"""The old CNN engine (cnn/model.py) on real MNIST images: committed weights, fast == naive on
whole networks, the MAC-order path. (Goes with cnn/model.py once the executor replaces it.)"""

import numpy as np
import pytest

from cnn import data, model
from cnn.mults import parse_entry, parse_mult


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist5k")


@pytest.fixture(scope="module")
def weights():
    return model.load_weights(model.weights_path("mnist5k"))


def test_committed_weights_reach_98_percent(mnist, weights):
    meta = weights["meta"]
    assert meta["seed"] == 2022 and meta["dataset"] == "mnist5k"
    assert meta["fp32_test_accuracy"] >= 0.98
    logits = model.predict(mnist.x_test, weights, model.Engine(parse_mult("fp32")))
    assert (logits.argmax(1) == mnist.y_test).mean() == meta["fp32_test_accuracy"]


@pytest.mark.parametrize("name", ["bf16", "mitch_bf16_w6_trunc", "mitch_bf16_w3_unbiased",
                                  "int8", "mitch_int8_w6_trunc_c1", "mitch_int16_w8_unbiased_exact"])
def test_whole_network_fast_equals_naive(mnist, weights, name):
    """Every layer of the real network on two test images: the class decomposition gives the
    naive golden loop's logits bit for bit."""
    x = mnist.x_test[[3, 777]]
    mult, calib = parse_mult(name), weights["calib_absmax"]
    fast = model.forward(x, weights, model.Engine(mult, calib=calib))
    naive = model.forward(x, weights, model.Engine(mult, path="naive", calib=calib))
    assert np.array_equal(fast.view(np.uint32), naive.view(np.uint32))


def test_mac_order_path_matches_golden_mac_layer(mnist, weights):
    """The conv1 layer in MAC order with fp32_add equals golden.mac.dot on the same operands."""
    from golden.mac import dot
    seen = []
    mult, add = parse_entry("mitch_bf16_w6_trunc+fp32_add")
    eng = model.Engine(mult, path="sequential", add=add,
                       on_operands=lambda layer, a, b: seen.append((layer, a, b)))
    wmat = weights["conv1"].reshape(16, -1).T.astype(np.float32)
    y = eng.layer("conv1", mnist.x_test[:1], wmat, 3)
    _, a, b = seen[0]
    mac = dot(a[:, None, :], b.T[None, :, :], "mitch_bf16_mac", w=6, variant="trunc")
    assert np.array_equal(y.view(np.uint32), mac)
