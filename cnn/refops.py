r"""fp32 operators that replace onnx.reference's in the ONNX executor (cnn.executor).

onnx.reference's pooling kernels loop in Python over every output pixel: on a 224 x 224 network
they take longer than the approximate convolutions themselves (measured, see cnn.executor). These
classes compute the same 2-D pools as kh*kw whole-map operations on strided slices of the
padded map (one per kernel offset):

    MaxPool      y = max over the window of x padded with -inf
    AveragePool  y = sum over the window of x padded with 0, divided by the kernel size
                 (count_include_pad = 1) or by the number of unpadded elements in it (= 0)

Anything else (1-D / 3-D pools, ceil_mode windows that end in the padding, MaxPool's Indices
output) is left to the reference implementation they subclass.

onnx.reference's LRN (onnx 1.23) loops over the batch axis where the channel axis is meant, so
only the first N channels are normalized; ``LRN`` computes the definition,

    y[n, c] = x[n, c] / (bias + alpha / size * sum_{i = c - floor((size-1)/2)}^{c + ceil((size-1)/2)}
              x[n, i]^2) ^ beta          (i limited to 0..C-1).
"""

import numpy as np
from onnx.reference.op_run import OpRun
from onnx.reference.ops.op_average_pool import AveragePool_19
from onnx.reference.ops.op_max_pool import MaxPool as RefMaxPool

from .conv import out_size, resolve_pads


def _geometry(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode):
    """(kernel, strides, dilations, pads) of a 2-D pool the vectorized path handles, else None."""
    if x.ndim != 4 or kernel_shape is None or len(kernel_shape) != 2:
        return None
    kernel = tuple(int(k) for k in kernel_shape)
    strides = tuple(int(s) for s in strides) if strides else (1, 1)
    dilations = tuple(int(d) for d in dilations) if dilations else (1, 1)
    pp = resolve_pads(x.shape[2:], kernel, strides, dilations, pads, auto_pad)
    if ceil_mode:
        # ceil_mode adds a last window only where the floor division is not exact
        for n, k, s, d, p in zip(x.shape[2:], kernel, strides, dilations, pp):
            if (n + p[0] + p[1] - ((k - 1) * d + 1)) % s:
                return None
    if any(out_size(n, k, s, d, p) < 1
           for n, k, s, d, p in zip(x.shape[2:], kernel, strides, dilations, pp)):
        return None
    return kernel, strides, dilations, pp


def _reduce(op, x, kernel, strides, dilations, pads, pad_value=0):
    """op-reduction over every window of x (N, C, H, W) padded with pad_value."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    oh, ow = (out_size(n, k, s, d, p) for n, k, s, d, p in
              zip(x.shape[2:], kernel, strides, dilations, pads))
    if any(p for pp in pads for p in pp):
        x = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=pad_value)
    out = None
    for u in range(kh):
        for v in range(kw):
            part = x[:, :, u * dh:u * dh + (oh - 1) * sh + 1:sh,
                     v * dw:v * dw + (ow - 1) * sw + 1:sw]
            out = part.copy() if out is None else op(out, part, out=out)
    return out


class MaxPool(RefMaxPool):
    op_domain = ""

    def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None,
             pads=None, storage_order=None, strides=None):
        g = None if len(self.onnx_node.output) > 1 else _geometry(
            x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        if g is None or not np.issubdtype(x.dtype, np.floating):
            return super()._run(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                kernel_shape=kernel_shape, pads=pads,
                                storage_order=storage_order, strides=strides)
        return (_reduce(np.maximum, x, *g, pad_value=-np.inf).astype(x.dtype),)


class AveragePool(AveragePool_19):
    op_domain = ""

    def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None,
             pads=None, strides=None, count_include_pad=None):
        g = _geometry(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        if g is None or not np.issubdtype(x.dtype, np.floating):
            return super()._run(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                kernel_shape=kernel_shape, pads=pads, strides=strides,
                                count_include_pad=count_include_pad)
        kernel, _, _, pp = g
        total = _reduce(np.add, x.astype(np.float64), *g)
        if count_include_pad or not any(p for q in pp for p in q):
            count = float(kernel[0] * kernel[1])
        else:
            count = _reduce(np.add, np.ones((1, 1) + x.shape[2:]), *g)
        return ((total / count).astype(x.dtype),)


class LRN(OpRun):
    op_domain = ""

    def _run(self, x, alpha=None, beta=None, bias=None, size=None):
        size = int(size)
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        sq = np.pad(np.asarray(x) ** 2, ((0, 0), (before, after)) + ((0, 0),) * (x.ndim - 2))
        total = np.lib.stride_tricks.sliding_window_view(sq, size, axis=1).sum(axis=-1)
        y = x / (bias + (alpha / size) * total) ** beta
        return (y.astype(x.dtype),)
