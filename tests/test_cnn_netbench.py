"""cnn.netbench: the whole-network benchmark's rows (figures, not a timed test)."""

import pytest

pytest.importorskip("cnn.executor")

from cnn.netbench import network_throughput  # noqa: E402
from golden.params import ParameterError  # noqa: E402
from test_cnn_accuracy import tiny_model  # noqa: E402


def test_rows_and_missing_model(tmp_path):
    path = tiny_model(tmp_path / "tiny.onnx")
    rows, batch = network_throughput(path, entries=("mitch_bf16_w6_trunc",), images=4,
                                     repeat=1, batch=4, clock="cpu", threads=1)
    assert batch == "4 random N(0, 1) images" or batch == "4 Fashion-MNIST test images"
    assert [r[0] for r in rows] == ["tiny onnxruntime FP32", "tiny mitch_bf16_w6_trunc"]
    assert all(r[1] > 0 and r[2] > 0 and r[4] > 10 for r in rows)
    for name, rate, ort, ratio, _, _ in rows:
        assert ratio == pytest.approx(rate / ort)
    assert rows[0][3] == 1.0
    assert "skipped" in network_throughput(tmp_path / "none.onnx")


def test_bad_clock_and_threads():
    with pytest.raises(ParameterError, match="clock must be one of wall, cpu"):
        network_throughput(clock="gpu")
    with pytest.raises(ParameterError, match="threads must be in 1..1024"):
        network_throughput(threads=0)
