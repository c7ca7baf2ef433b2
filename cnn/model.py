r"""The network and its NumPy inference with a pluggable golden multiplier.

    x (N, 1, H, W) in [0, 1]
    conv1 3x3 'same', no bias -> BN1 -> ReLU -> maxpool 2x2      (C1 channels)
    conv2 3x3 'same', no bias -> BN2 -> ReLU -> maxpool 2x2      (C2 channels)
    flatten (c, h, w order) -> FC (+ bias) -> 10 logits

Every multiplication of conv1, conv2 and FC goes through the chosen multiplier (cnn.mults), with
exact accumulation (cnn.exactsum for float units, exact integers for integer units). Batch norm
is NOT folded into the weights: it is applied after each conv in fp32, as the paper keeps it,

    BN(y) = y * scale + shift,   scale = fp32(gamma / sqrt(var + eps)),
                                 shift = fp32(beta - mean * scale)

(NumPy float32 operations), so the multiplier sees the trained conv weights. ReLU, max pooling and
the FC bias add are fp32 too. The weights file (.npz) holds conv1, bn1_{gamma,beta,mean,var},
conv2, bn2_*, fc_w (F, 10), fc_b, eps, calib_absmax (the largest |input| of conv1, conv2, FC over
the training split in the fp32 network: the integer units' activation scales) and meta (JSON).
"""

import json
from pathlib import Path

import numpy as np

from golden.params import ParameterError

from . import gemm
from .mults import to_bf16

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
LAYERS = ("conv1", "conv2", "fc")
KERNEL = 3


def weights_path(dataset):
    """The committed weights for a data set: mnist5k and 28x28 IDX data use mnist5k.npz."""
    name = "digits" if dataset == "digits" else "mnist5k"
    return WEIGHTS_DIR / f"{name}.npz"


def load_weights(path):
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"weights file {path} does not exist (train it: python -m cnn.train)")
    with np.load(path) as f:
        w = {k: f[k] for k in f.files}
    w["meta"] = json.loads(str(w["meta"])) if "meta" in w else {}
    return w


def check_input_shape(w, image_shape, path="weights"):
    """ParameterError unless the weights' FC input matches images of image_shape (1, H, W)."""
    _, h, wd = image_shape
    need = w["conv2"].shape[0] * (h // 4) * (wd // 4)
    if w["fc_w"].shape[0] != need:
        raise ParameterError(f"{path} does not fit {h} x {wd} images (FC takes "
                             f"{w['fc_w'].shape[0]} inputs, these give {need}); train weights "
                             f"for them with python -m cnn.train and pass --weights")


def save_weights(path, weights):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items() if k != "meta"}
    np.savez_compressed(path, meta=np.array(json.dumps(weights.get("meta", {}), sort_keys=True)),
                        **arrays)


def bn_affine(w, layer):
    """(scale, shift) float32 of batch norm ``layer`` ('bn1' or 'bn2')."""
    f = np.float32
    g, b, m, v = (w[f"{layer}_{k}"].astype(f) for k in ("gamma", "beta", "mean", "var"))
    scale = g / np.sqrt(v + f(w["eps"]))
    return scale, b - m * scale


def maxpool2(x):
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


class Engine:
    """How one layer's products and sums are computed.

    ``path``: 'fast' (class decomposition), 'naive' (golden product by product), or
    'sequential' (fp32 accumulation in MAC order with ``add``, float units only).
    ``on_operands(layer, a, b)``, when given, sees every layer's encoded operand matrices."""

    def __init__(self, mult, path="fast", add=None, calib=None, on_operands=None):
        if path not in ("fast", "naive", "sequential"):
            raise ParameterError(f"path must be one of fast, naive, sequential; got {path!r}")
        if path == "sequential" and (mult.kind != "float" or add is None):
            raise ParameterError("path 'sequential' needs a bf16 multiplier and an adder")
        self.mult, self.path, self.add, self.calib = mult, path, add, calib
        self.on_operands = on_operands
        self.max_abs_acc = 0          # integer units: the largest |accumulator| seen

    def layer(self, name, x, wmat, k=None):
        """y = x (*) wmat for a layer: conv when k is given (x is (N, C, H, W), the result
        (N*H*W, C_out)), FC otherwise (x is (N, F)). wmat is (K, C_out) float32."""
        mult = self.mult
        if mult.kind == "fp32":
            a = gemm.im2col(x, k) if k else x
            return a @ wmat
        if mult.kind == "float":
            xc, b = to_bf16(x), to_bf16(wmat)
            scale = None
        else:
            s_a = self.calib[LAYERS.index(name)] / mult.qmax
            s_w = mult.weight_scale(wmat)
            xc, b = mult.quantize(x, s_a), mult.quantize(wmat, s_w)
            scale = s_a * s_w

        def matrix(v):
            return gemm.im2col(v, k) if k else v

        if self.on_operands is not None:
            self.on_operands(name, matrix(xc), b)
        refused = mult.check_fast(xc, b)
        if refused is not None and self.path == "sequential":
            raise ValueError(f"layer {name}: class decomposition does not hold: {refused}")
        if self.path == "naive" or refused is not None:
            y = gemm.naive_matmul(matrix(xc), b, mult)
        elif mult.kind == "int" and mult.w == 0:
            y = gemm.int_exact(matrix(xc), b)
        else:
            # split the feature map once, then im2col the (class, scale) maps: k*k times fewer
            # element operations than splitting the patch matrix
            ca, sa = mult.split(xc)
            a_min = gemm.smallest_nonzero(sa)
            ca, sa = matrix(ca.astype(np.int32)), matrix(sa)
            y = (gemm.sequential_from_split(ca, sa, b, mult, self.add).view(np.float32)
                 if self.path == "sequential" else gemm.fast_from_split(ca, sa, b, mult, a_min))
        if scale is not None:
            self.max_abs_acc = max(self.max_abs_acc, int(np.abs(y).max(initial=0)))
            y = (y.astype(np.float64) * scale).astype(np.float32)
        return y


def forward(x, w, engine):
    """Logits (N, 10) float32 of images x (N, 1, H, W) float32."""
    x = np.asarray(x, dtype=np.float32)
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        kern = w[conv]
        n, _, h, wd = x.shape
        y = engine.layer(conv, x, kern.reshape(kern.shape[0], -1).T.astype(np.float32), KERNEL)
        y = y.reshape(n, h, wd, -1).transpose(0, 3, 1, 2)
        scale, shift = bn_affine(w, bn)
        y = y * scale[None, :, None, None] + shift[None, :, None, None]
        x = maxpool2(np.maximum(y, np.float32(0)))
    flat = x.reshape(x.shape[0], -1)
    return engine.layer("fc", flat, w["fc_w"].astype(np.float32)) + w["fc_b"].astype(np.float32)


def predict(x, w, engine, batch=250):
    """Logits of many images, ``batch`` images at a time (bounds the im2col memory)."""
    return np.concatenate([forward(x[i:i + batch], w, engine) for i in range(0, len(x), batch)])


def calib_absmax(x, w, batch=500):
    """Largest |input| of conv1, conv2 and FC over images x in the fp32 network."""
    from .mults import parse_mult
    seen = np.zeros(3)

    class Probe(Engine):
        def layer(self, name, xin, wmat, k=None):
            i = LAYERS.index(name)
            seen[i] = max(seen[i], float(np.abs(xin).max(initial=0)))
            return super().layer(name, xin, wmat, k)

    predict(x, w, Probe(parse_mult("fp32")), batch)
    return seen
