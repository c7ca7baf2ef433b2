"""cnn.data: the offline data sets, their fixed splits, and the IDX / .npz readers."""

import gzip

import numpy as np
import pytest

from cnn import data
from golden.params import ParameterError


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist5k")


def test_mnist5k_split_and_contents(mnist):
    assert mnist.x_train.shape == (4000, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_train.dtype == np.float32 and 0 <= mnist.x_train.min() and mnist.x_train.max() == 1
    assert np.bincount(mnist.y_train).tolist() == [400] * 10
    assert np.bincount(mnist.y_test).tolist() == [100] * 10
    # pixels are k/255: the loader keeps the file's integers exactly
    k = mnist.x_test * 255
    assert np.abs(k - np.rint(k)).max() < 1e-4


def test_mnist5k_same_images_as_the_csv_rows(mnist):
    """Independent reading of the same file (csv module on the first and last rows of a digit):
    row 0 is the first training 0, row 499 the last test 0."""
    import csv
    rows = list(csv.reader(gzip.open(data.mnist5k_path(), "rt")))
    assert len(rows) == 5000
    first, last_zero = [int(v) for v in rows[0]], [int(v) for v in rows[499]]
    assert first[-1] == 0 and last_zero[-1] == 0
    assert np.array_equal(np.rint(mnist.x_train[0].ravel() * 255), first[:-1])
    assert np.array_equal(np.rint(mnist.x_test[99].ravel() * 255), last_zero[:-1])


def test_digits_split():
    d = data.load("digits")
    assert d.x_train.shape == (1438, 1, 8, 8) and d.x_test.shape == (359, 1, 8, 8)
    from sklearn.datasets import load_digits
    ref = load_digits()
    assert np.array_equal(d.y_test, ref.target[4::5])
    assert np.array_equal(d.x_test[:, 0] * 16, ref.images[4::5].astype(np.float32))


def _idx_bytes(arr, magic_type=0x08):
    head = bytes([0, 0, magic_type, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def test_idx_directory_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (7, 28, 28)), "y_train": rng.integers(0, 10, 7),
              "x_test": rng.integers(0, 256, (3, 28, 28)), "y_test": rng.integers(0, 10, 3)}
    for key, stem in data.IDX_FILES.items():
        raw = _idx_bytes(arrays[key])
        if key.startswith("x"):
            (tmp_path / (stem + ".gz")).write_bytes(gzip.compress(raw))      # gzipped and plain
        else:
            (tmp_path / stem).write_bytes(raw)
    d = data.load(f"idx:{tmp_path}")
    assert d.x_train.shape == (7, 1, 28, 28) and d.y_test.tolist() == arrays["y_test"].tolist()
    assert np.array_equal(np.rint(d.x_test[:, 0] * 255), arrays["x_test"])
    npz = tmp_path / "mine.npz"
    np.savez(npz, **{k: v.astype(np.uint8) for k, v in arrays.items()})
    e = data.load(f"idx:{npz}")
    assert np.array_equal(e.x_train, d.x_train) and np.array_equal(e.y_train, d.y_train)


def test_bad_inputs_raise_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="dataset must be one of fashion-mnist, mnist5k, digits, idx:PATH, npz:PATH"):
        data.load("cifar")
    with pytest.raises(ParameterError, match="needs train-images-idx3-ubyte"):
        data.load(f"idx:{tmp_path}")
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ParameterError, match="not an unsigned-byte IDX file"):
        data.read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc")
    with pytest.raises(ParameterError, match="header says"):
        data.read_idx(short)


def test_npz_dataset_model_scale(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 8, 8)).astype(np.float32) * 7     # any scale, 3 channels
    y = np.array([0, 4, 2, 9, 1], dtype=np.int32)
    np.savez(tmp_path / "own.npz", x_test=x, y_test=y)
    d = data.load(f"npz:{tmp_path / 'own.npz'}")
    assert d.model_scale and d.image_shape == (3, 8, 8) and len(d.x_train) == 0
    assert np.array_equal(d.x_test, x) and d.y_test.dtype == np.int64 and d.y_test.tolist() == y.tolist()
    np.savez(tmp_path / "with_train.npz", x_test=x, y_test=y, x_train=x[:2])
    assert np.array_equal(data.load(f"npz:{tmp_path / 'with_train.npz'}").x_train, x[:2])


@pytest.mark.parametrize("arrays,msg", [
    ({"x_test": np.zeros((2, 1, 4, 4), np.float32)}, "lacks arrays y_test"),
    ({"x_test": np.zeros((2, 4, 4), np.float32), "y_test": np.zeros(2, int)}, "shape \\(N, C, H, W\\)"),
    ({"x_test": np.zeros((2, 1, 4, 4), np.float64), "y_test": np.zeros(2, int)}, "must be float32"),
    ({"x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(3, int)}, "must be 2 integer labels"),
    ({"x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(2, np.float32)}, "integer labels"),
    ({"x_test": np.full((2, 1, 4, 4), np.nan, np.float32), "y_test": np.zeros(2, int)}, "NaN"),
    ({"x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(2, int),
      "x_train": np.zeros((2, 1, 5, 4), np.float32)}, "x_train must be float32"),
])
def test_npz_dataset_bad_files(tmp_path, arrays, msg):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ParameterError, match=msg):
        data.load(f"npz:{tmp_path / 'bad.npz'}")
    with pytest.raises(ParameterError, match="no such file"):
        data.load(f"npz:{tmp_path / 'none.npz'}")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ParameterError, match="is not a NumPy .npz file"):
        data.load(f"npz:{tmp_path / 'text.npz'}")
