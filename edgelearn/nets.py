"""The networks of the experiments and their forward FLOPs.

* :func:`lenet5`: LeNet-5 for 1x28x28 digits, 61,706 parameters (the paper's "61.71 K").
* :func:`googlenet_cifar`: the CIFAR-10 variant of GoogLeNet (Inception v1 with a 3x3
  stem for 32x32 inputs and BatchNorm after every convolution), 6,166,250 parameters
  (the paper's "6.17 M").
* :func:`lenet5_he`: LeNet-5 with He initialisation (the experiments chapter's LeNet).
* :func:`allconv`: a 2,178-parameter all-convolutional net whose FLOPs per parameter are
  high, the experiments chapter's network for which both stages pay.
* :func:`flops_per_sample`: forward FLOPs of one sample, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` (which counts a multiply-add as
  2 FLOPs; the paper's 416.52 K and 1.53 G are multiply-add counts).

The backward pass costs about twice the forward one, so one sample's gradient costs
about 3x the forward FLOPs: that is the N_FLOP of eqs. (14), (15).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["lenet5", "lenet5_he", "he_init", "googlenet_cifar", "allconv", "build", "NETS", "count_parameters", "flops_per_sample", "has_batchnorm"]


def lenet5(num_classes: int = 10) -> nn.Module:
    """LeNet-5 for 1x28x28 inputs (LeCun et al., 1998, with ReLU and max-pooling).

    conv 5x5 (6, padding 2) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84 -> 10:
    156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 parameters.
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def he_init(model: nn.Module) -> nn.Module:
    """Re-initialise every convolution and linear layer of ``model`` (in place) by He et al.
    (2015): weights normal with variance 2 / fan-in, biases zero, the usual start for ReLU nets.

    PyTorch's default (uniform, variance 1 / (3 fan-in)) shrinks a ReLU net's activations layer
    by layer; with plain SGD at gamma = 0.01 LeNet-5 then sits near ln 10 for hundreds of steps.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def lenet5_he(num_classes: int = 10) -> nn.Module:
    """:func:`lenet5` with He initialisation (:func:`he_init`): the network of the experiments chapter."""
    return he_init(lenet5(num_classes))


def _conv_bn(cin, cout, k):
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Inception(nn.Module):
    """One Inception block: 1x1 | 1x1->3x3 | 1x1->3x3->3x3 (a factored 5x5) | pool->1x1, concatenated."""

    def __init__(self, cin, n1, n3r, n3, n5r, n5, npool):
        super().__init__()
        self.b1 = nn.Sequential(*_conv_bn(cin, n1, 1))
        self.b2 = nn.Sequential(*_conv_bn(cin, n3r, 1), *_conv_bn(n3r, n3, 3))
        self.b3 = nn.Sequential(*_conv_bn(cin, n5r, 1), *_conv_bn(n5r, n5, 3), *_conv_bn(n5, n5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *_conv_bn(cin, npool, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class GoogLeNetCIFAR(nn.Module):
    """GoogLeNet (Szegedy et al., 2015) for 3x32x32 inputs, as commonly trained on CIFAR-10."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 192, 3))
        self.a3 = Inception(192, 64, 96, 128, 16, 32, 32)
        self.b3 = Inception(256, 128, 128, 192, 32, 96, 64)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.a4 = Inception(480, 192, 96, 208, 16, 48, 64)
        self.b4 = Inception(512, 160, 112, 224, 24, 64, 64)
        self.c4 = Inception(512, 128, 128, 256, 24, 64, 64)
        self.d4 = Inception(512, 112, 144, 288, 32, 64, 64)
        self.e4 = Inception(528, 256, 160, 320, 32, 128, 128)
        self.a5 = Inception(832, 256, 160, 320, 32, 128, 128)
        self.b5 = Inception(832, 384, 192, 384, 48, 128, 128)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, num_classes))

    def forward(self, x):
        x = self.b3(self.a3(self.stem(x)))
        x = self.pool(x)
        x = self.e4(self.d4(self.c4(self.b4(self.a4(x)))))
        x = self.pool(x)
        return self.head(self.b5(self.a5(x)))


def googlenet_cifar(num_classes: int = 10) -> nn.Module:
    """GoogLeNet for 3x32x32 CIFAR images: 6,166,250 parameters, BatchNorm after every convolution."""
    return GoogLeNetCIFAR(num_classes)


def allconv(width: int = 8, depth: int = 2, kernel: int = 5, num_classes: int = 10) -> nn.Module:
    """A small all-convolutional net for 1x28x28 digits: ``depth`` convolutions (``kernel`` x
    ``kernel``, ``width`` channels, BatchNorm, ReLU) at full resolution, a 2x2 adaptive max-pool
    and one linear layer.

    Every weight of a convolution is used at all 784 pixels, so the net does far more FLOPs per
    parameter (per transmitted bit) than LeNet-5, whose weights sit mostly in dense layers.  With
    the defaults: 2,178 parameters and 2.8 MFLOP (1.4 M multiply-adds) per forward pass, about
    117 FLOP of one sample's gradient per transmitted bit against about 1.1 for LeNet-5.
    """
    layers, cin = [], 1
    for _ in range(depth):
        layers += [nn.Conv2d(cin, width, kernel, padding=kernel // 2), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        cin = width
    return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(4 * width, num_classes))


#: Networks by name, with the input shape of one sample.
NETS = {"lenet5": (lenet5, (1, 28, 28)), "lenet5_he": (lenet5_he, (1, 28, 28)),
        "googlenet_cifar": (googlenet_cifar, (3, 32, 32)), "allconv8": (allconv, (1, 28, 28))}


def build(name: str) -> nn.Module:
    """A freshly initialised network by name (``"lenet5"`` or ``"googlenet_cifar"``)."""
    if name not in NETS:
        raise ValueError(f"net = {name!r}: must be one of {sorted(NETS)}")
    return NETS[name][0]()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the size q of the model vector w)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def has_batchnorm(model: nn.Module) -> bool:
    """True when the model normalises with batch statistics (FedSGD then needs per-device passes)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def flops_per_sample(model: nn.Module, input_shape=None, *, backward: bool = False) -> float:
    """FLOPs of one sample's forward pass (or forward + backward), by ``torch.utils.flop_counter``.

    The counter counts a multiply-add as 2 FLOPs, so the forward count is twice the
    multiply-add ("MAC") count that many papers, including this one, call FLOPs.
    ``input_shape`` is one sample's shape, e.g. ``(1, 28, 28)``; by default it is
    taken from :data:`NETS` when the model is one of them.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if input_shape is None:
        for name, (make, shape) in NETS.items():
            if type(model) is type(make()) and count_parameters(model) == count_parameters(make()):
                input_shape = shape
                break
        else:
            raise ValueError("flops_per_sample: pass input_shape, e.g. (1, 28, 28)")
    was_training = model.training
    model.eval()
    x = torch.zeros((1, *input_shape), device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            if backward:
                model(x).sum().backward()
            else:
                with torch.no_grad():
                    model(x)
    finally:
        model.train(was_training)
        if backward:
            model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())
