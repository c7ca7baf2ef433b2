r"""The trained architectures as one small graph description, read by both the JAX trainer
(cnn.train) and the ONNX exporter (cnn.onnx_export), so the two cannot disagree.

A network is a list of :class:`Op`, each producing the tensor named ``Op.name`` from the tensors
named in ``Op.inputs`` (the network input is ``"input"``, layout N x C x H x W). Kinds:

=========  ================================================================  ==================
kind       computes                                                          parameters
=========  ================================================================  ==================
conv       k x k convolution, stride s, zero padding (k - 1) // 2, groups g   ``name.weight``
           (g = C for depthwise), no bias                                    (O, C/g, k, k)
bn         batch norm ``(x - mean) / sqrt(var + EPS) * scale + bias``        ``name.scale``,
           (kept apart from the conv: multipliers see the trained weights)   ``.bias``, ``.mean``,
                                                                             ``.var`` (C,)
relu       max(x, 0)
relu6      min(max(x, 0), 6)                                                 (ONNX Clip(0, 6))
maxpool    2 x 2 max pooling, stride 2 (odd sizes floor)
add        element-wise sum of its two inputs (residual)
gap        global average pool to N x C x 1 x 1
flatten    N x (C*H*W), c-h-w order
fc         ``x @ weight + bias``                                             ``name.weight``
                                                                             (F, 10), ``.bias``
=========  ================================================================  ==================

Architectures (``ARCHS``):

* ``smallcnn`` -- conv3x3(16)-BN-ReLU-maxpool, conv3x3(32)-BN-ReLU-maxpool, flatten, FC 10.
* ``resnet20`` -- CIFAR ResNet-20 (He et al. 2016): conv3x3(16)-BN-ReLU; 3 stages x 3 basic
  blocks of 16 / 32 / 64 channels, stride 2 at the start of stages 2 and 3; a block is
  conv-BN-ReLU-conv-BN plus the shortcut (identity, or 1x1 conv stride 2 + BN on a shape change),
  Add, ReLU; global average pool, FC 10.
* ``mobilenetv2`` -- a small MobileNetV2 (Sandler et al. 2018) for 28 x 28: stem conv3x3(16)-BN-
  ReLU6; inverted residual blocks (1x1 expand-BN-ReLU6, depthwise 3x3-BN-ReLU6, 1x1 project-BN,
  Add when input and output shapes match) per ``MOBILENET_BLOCKS``; 1x1 conv(256)-BN-ReLU6, global
  average pool, FC 10.
"""

from dataclasses import dataclass

import numpy as np

from golden.params import ParameterError

EPS = 1e-5
KINDS = ("conv", "bn", "relu", "relu6", "maxpool", "add", "gap", "flatten", "fc")
ARCHS = ("smallcnn", "resnet20", "mobilenetv2")
# (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper's table
MOBILENET_BLOCKS = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 1), (4, 64, 2, 2), (4, 96, 1, 1))
MOBILENET_LAST = 256


@dataclass(frozen=True)
class Op:
    """One node: ``kind`` (see the module docstring) applied to ``inputs`` gives ``name``."""
    kind: str
    name: str
    inputs: tuple
    kernel: int = 1
    stride: int = 1
    group: int = 1


class Net:
    """A network under construction: ops, parameter shapes, and each tensor's (C, H, W).

    Parameters
    ----------
    arch : str
        Architecture name (recorded only).
    in_shape : tuple
        (C, H, W) of one input image.
    classes : int
        Number of logits.

    Attributes
    ----------
    ops : list of Op
    shapes : dict
        Tensor name -> (C, H, W) (or (F,) after flatten).
    param_shapes : dict
        Parameter name -> shape.
    """

    def __init__(self, arch, in_shape, classes=10):
        self.arch, self.in_shape, self.classes = arch, tuple(in_shape), classes
        self.ops, self.param_shapes = [], {}
        self.shapes = {"input": self.in_shape}
        self.last = "input"

    def _add(self, op, shape):
        if op.name in self.shapes:
            raise ValueError(f"duplicate tensor name {op.name}")
        self.ops.append(op)
        self.shapes[op.name] = shape
        self.last = op.name
        return op.name

    def conv(self, name, cout, k=3, stride=1, group=1, x=None):
        x = x or self.last
        c, h, w = self.shapes[x]
        if c % group or cout % group:
            raise ValueError(f"{name}: channels {c} -> {cout} not divisible by group {group}")
        p = (k - 1) // 2
        self.param_shapes[f"{name}.weight"] = (cout, c // group, k, k)
        return self._add(Op("conv", name, (x,), k, stride, group),
                         (cout, (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1))

    def bn(self, name, x=None):
        x = x or self.last
        for p in ("scale", "bias", "mean", "var"):
            self.param_shapes[f"{name}.{p}"] = (self.shapes[x][0],)
        return self._add(Op("bn", name, (x,)), self.shapes[x])

    def act(self, kind, name, x=None):
        x = x or self.last
        return self._add(Op(kind, name, (x,)), self.shapes[x])

    def maxpool(self, name):
        c, h, w = self.shapes[self.last]
        return self._add(Op("maxpool", name, (self.last,)), (c, h // 2, w // 2))

    def add(self, name, a, b):
        if self.shapes[a] != self.shapes[b]:
            raise ValueError(f"{name}: shapes {self.shapes[a]} and {self.shapes[b]} differ")
        return self._add(Op("add", name, (a, b)), self.shapes[a])

    def gap(self, name):
        return self._add(Op("gap", name, (self.last,)), (self.shapes[self.last][0], 1, 1))

    def flatten(self, name):
        return self._add(Op("flatten", name, (self.last,)),
                         (int(np.prod(self.shapes[self.last])),))

    def fc(self, name, out):
        (f,) = self.shapes[self.last]
        self.param_shapes[f"{name}.weight"] = (f, out)
        self.param_shapes[f"{name}.bias"] = (out,)
        return self._add(Op("fc", name, (self.last,)), (out,))

    def conv_bn(self, name, cout, k=3, stride=1, group=1, act="relu", x=None):
        """conv -> bn (-> act): names name, name_bn, name_relu / name_relu6."""
        self.conv(name, cout, k, stride, group, x)
        y = self.bn(f"{name}_bn")
        return self.act(act, f"{name}_{act}") if act else y


def smallcnn(in_shape, classes=10):
    net = Net("smallcnn", in_shape, classes)
    for i, c in ((1, 16), (2, 32)):
        net.conv_bn(f"conv{i}", c)
        net.maxpool(f"pool{i}")
    net.flatten("flatten")
    net.fc("fc", classes)
    return net


def resnet20(in_shape, classes=10):
    net = Net("resnet20", in_shape, classes)
    x = net.conv_bn("conv1", 16)
    for s, c in enumerate((16, 32, 64), start=1):
        for b in range(3):
            stride = 2 if s > 1 and b == 0 else 1
            pre = f"s{s}b{b}"
            net.conv_bn(f"{pre}_conv1", c, stride=stride, x=x)
            y = net.conv_bn(f"{pre}_conv2", c, act=None)
            if stride != 1 or net.shapes[x][0] != c:
                x = net.conv_bn(f"{pre}_short", c, k=1, stride=stride, act=None, x=x)
            net.add(f"{pre}_add", y, x)
            x = net.act("relu", f"{pre}_relu")
    net.gap("gap")
    net.flatten("flatten")
    net.fc("fc", classes)
    return net


def mobilenetv2(in_shape, classes=10):
    net = Net("mobilenetv2", in_shape, classes)
    x = net.conv_bn("stem", 16, act="relu6")
    i = 0
    for t, c, n, s in MOBILENET_BLOCKS:
        for r in range(n):
            stride = s if r == 0 else 1
            cin = net.shapes[x][0]
            pre = f"b{i}"
            if t != 1:
                net.conv_bn(f"{pre}_expand", cin * t, k=1, act="relu6", x=x)
            net.conv_bn(f"{pre}_dw", cin * t, stride=stride, group=cin * t, act="relu6")
            y = net.conv_bn(f"{pre}_project", c, k=1, act=None)
            x = net.add(f"{pre}_add", y, x) if net.shapes[y] == net.shapes[x] else y
            i += 1
    net.conv_bn("last", MOBILENET_LAST, k=1, act="relu6", x=x)
    net.gap("gap")
    net.flatten("flatten")
    net.fc("fc", classes)
    return net


def build(arch, in_shape, classes=10):
    """The :class:`Net` of architecture ``arch`` (one of ``ARCHS``) for images of ``in_shape``."""
    builders = {"smallcnn": smallcnn, "resnet20": resnet20, "mobilenetv2": mobilenetv2}
    if arch not in builders:
        raise ParameterError(f"arch must be one of {', '.join(ARCHS)}; got {arch!r}")
    return builders[arch](in_shape, classes)


def init_params(net, rng):
    """He-normal conv / FC weights, BN scale 1 / bias 0 / mean 0 / var 1, FC bias 0 (float32).
    The last BN of each residual branch starts at scale 0 (Goyal et al. 2017), so every block
    starts as the identity."""
    zero_bn = {op.inputs[0] for op in net.ops if op.kind == "add"}
    out = {}
    for name, shape in net.param_shapes.items():
        layer, kind = name.rsplit(".", 1)
        if kind == "weight":
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif kind in ("scale", "var"):
            w = np.zeros(shape) if kind == "scale" and layer in zero_bn else np.ones(shape)
        else:
            w = np.zeros(shape)
        out[name] = w.astype(np.float32)
    return out
