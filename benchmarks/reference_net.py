"""A peer-sized reference network for the speed comparison (written here, not copied).

The shape of a mobile video-saliency peer such as UNISAL (Droste et al., ECCV 2020: 3.7 M
parameters, 1.16 GMAC per frame): a MobileNetV2-style encoder (inverted residual blocks,
expansion 6, depthwise 3x3) on a 224x384 frame, a convolutional GRU on the stride-32
features carrying the state from frame to frame, and a decoder that up-samples with skip
connections from strides 16, 8 and 4 to a 1/4-resolution map.  Widths are chosen so the
network costs about 1.16 GMAC per frame (``python benchmarks/reference_net.py`` prints its
count).  Its weights are random: it exists to be timed beside TP-CMRNet in the same run, on
the same backend and session options, so the ratio is re-measured in every benchmark run.

One graph per frame: ``frame (1,3,224,384), h0 (1,C,7,12) -> saliency (1,1,56,96), h1``.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

#: input (height, width): UNISAL's DHF1K resolution
INPUT_SIZE = (224, 384)
#: (expansion, out channels, blocks, first stride) per stage: MobileNetV2's table
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
GRU_CHANNELS = 160
DECODER_CHANNELS = (128, 96, 48)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
             act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise 3x3, linear 1x1 projection; identity skip when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn(cin, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   _conv_bn(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class ConvGRU(nn.Module):
    """A convolutional GRU cell (3x3 gates and candidate)."""

    def __init__(self, cin: int, hidden: int) -> None:
        super().__init__()
        self.gates = nn.Conv2d(cin + hidden, 2 * hidden, 3, padding=1)
        self.candidate = nn.Conv2d(cin + hidden, hidden, 3, padding=1)
        self.hidden = hidden

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        zr = torch.sigmoid(self.gates(torch.cat([x, h], 1)))
        z, r = zr[:, :self.hidden], zr[:, self.hidden:]
        n = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * n


class ReferenceNet(nn.Module):
    """MobileNetV2-style encoder + ConvGRU + skip decoder; ``forward(frame, h0) -> (map, h1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv_bn(3, 32, 3, 2)
        blocks: list[nn.Module] = []
        self.taps: list[int] = []  # block indices whose outputs feed the decoder (strides 4, 8, 16)
        cin, stride = 32, 2
        for expansion, cout, n, first in STAGES:
            for i in range(n):
                s = first if i == 0 else 1
                blocks.append(InvertedResidual(cin, cout, s, expansion))
                cin = cout
                stride *= s
            if cout in (24, 32, 96):
                self.taps.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.reduce = _conv_bn(cin, GRU_CHANNELS, 1)
        self.gru = ConvGRU(GRU_CHANNELS, GRU_CHANNELS)
        c16, c8, c4 = DECODER_CHANNELS
        self.up16 = _conv_bn(GRU_CHANNELS + 96, c16, 3)
        self.up8 = _conv_bn(c16 + 32, c8, 3)
        self.up4 = _conv_bn(c8 + 24, c4, 3)
        self.out = nn.Conv2d(c4, 1, 1)

    def state_shape(self) -> tuple[int, int, int, int]:
        return (1, GRU_CHANNELS, INPUT_SIZE[0] // 32, INPUT_SIZE[1] // 32)

    def forward(self, frame: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(frame)
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                skips.append(x)
        s4, s8, s16 = skips
        h1 = self.gru(self.reduce(x), h0)
        y = h1
        for up, skip in ((self.up16, s16), (self.up8, s8), (self.up4, s4)):
            y = F.interpolate(y, size=skip.shape[-2:], mode="nearest")
            y = up(torch.cat([y, skip], 1))
        return torch.sigmoid(self.out(y)), h1


def build() -> tuple[nn.Module, dict[str, tuple[int, ...]], tuple[str, ...]]:
    """The network in eval mode, its input shapes by name and its output names."""
    torch.manual_seed(0)
    net = ReferenceNet().eval()
    inputs = {"frame": (1, 3, *INPUT_SIZE), "h0": net.state_shape()}
    return net, inputs, ("saliency", "h1")


def complexity() -> tuple[int, int]:
    """(parameters, MACs per frame)."""
    from torch.utils.flop_counter import FlopCounterMode

    net, inputs, _ = build()
    args = [torch.zeros(shape) for shape in inputs.values()]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(*args)
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops() // 2


if __name__ == "__main__":
    params, macs = complexity()
    print(f"reference network: {params / 1e6:.2f} M parameters, {macs / 1e9:.3f} GMAC per frame")
    sys.exit(0)
