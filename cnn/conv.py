r"""Geometry of ONNX Conv and pooling windows: padding, output sizes, general im2col.

For one spatial axis of size ``n`` with kernel ``k``, stride ``s``, dilation ``d`` and pads
``(p0, p1)``, the effective kernel is ``(k - 1) d + 1`` and the output size
``(n + p0 + p1 - ((k - 1) d + 1)) // s + 1``. ``auto_pad`` SAME_UPPER / SAME_LOWER choose
``p0 + p1 = max((ceil(n / s) - 1) s + (k - 1) d + 1 - n, 0)`` with the odd pixel at the end /
the beginning; VALID means no padding; NOTSET uses ``pads`` (ONNX order: all begins, then all
ends).

``im2col`` turns an (N, C, H, W) map into the (N*OH*OW, C*kh*kw) matrix of its windows, columns
in (c, i, j) order (gathered through ``address_map``, which cnn.gemm.fast_conv reads directly), so that a weight tensor (C_out, C, kh, kw) reshaped to (C_out, -1) and
transposed is the matching right-hand factor. 1-D maps are 2-D maps with H = 1.
"""

import numpy as np


def resolve_pads(spatial, kernel, strides, dilations, pads=None, auto_pad="NOTSET"):
    """Begin and end pads per spatial axis: list of (p0, p1)."""
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else (auto_pad or "NOTSET")
    nd = len(spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for n, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small = total // 2
            out.append((small, total - small) if auto_pad == "SAME_UPPER" else
                       (total - small, small))
        return out
    if auto_pad == "VALID" or pads is None:
        return [(0, 0)] * nd
    return [(int(pads[i]), int(pads[i + nd])) for i in range(nd)]


def out_size(n, k, s, d, p):
    return (n + p[0] + p[1] - ((k - 1) * d + 1)) // s + 1


def address_map(shape, kernel, strides=(1, 1), dilations=(1, 1)):
    """(rowbase, koff, oh, ow) of the windows of an (already padded) contiguous map of shape
    (N, C, H, W): element k of window m is ``flat_map[rowbase[m] + koff[k]]`` (cnn.kernels'
    address map), windows in (n, oh, ow) order, taps in (c, i, j) order."""
    n, c, hp, wp = shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    oh, ow = max(0, (hp - (kh - 1) * dh - 1) // sh + 1), max(0, (wp - (kw - 1) * dw - 1) // sw + 1)
    u = np.uint64
    rowbase = (np.arange(n, dtype=u)[:, None, None] * u(c * hp * wp)
               + (np.arange(oh, dtype=u) * u(sh * wp))[None, :, None]
               + (np.arange(ow, dtype=u) * u(sw))[None, None, :]).ravel()
    ch, i, j = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    koff = (ch * (hp * wp) + i * (dh * wp) + j * dw).astype(u).ravel()
    return rowbase, koff, oh, ow


def im2col(x, kernel, strides=(1, 1), dilations=(1, 1), pads=((0, 0), (0, 0)), pad_value=0):
    """(N, C, H, W) -> (N*OH*OW, C*kh*kw) window matrix (a copy), pads filled with pad_value:
    one compiled gather pass over the padded map (cnn.kernels.gather_matrix)."""
    from .kernels import gather_matrix
    if any(p for pp in pads for p in pp):
        x = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=pad_value)
    x = np.ascontiguousarray(x)
    rowbase, koff, _, _ = address_map(x.shape, kernel, strides, dilations)
    return gather_matrix(x.ravel(), rowbase, koff)
