"""Building blocks of TP-CMRNet (paper section 2): CMR block, fusion (eq. 1), attention (eq. 2),
ConvLSTM cells, the auto-encoder and the decoder.

Everything here is export-friendly: no data-dependent control flow, only ops ONNX opset 17 has.
Why each open choice was made is written in ``docs/model.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded 2-D convolution with bias."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


class ConvNorm(nn.Sequential):
    """:func:`conv` followed by batch normalisation (folded into the conv when exported)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__(conv(in_ch, out_ch, kernel, stride), nn.BatchNorm2d(out_ch))
        self.in_channels = in_ch
        self.out_channels = out_ch


def conv_norm(in_ch: int, out_ch: int, kernel: int, stride: int = 1, norm: bool = True) -> nn.Module:
    """A :class:`ConvNorm` when ``norm``, else a plain :func:`conv`."""
    return ConvNorm(in_ch, out_ch, kernel, stride) if norm else conv(in_ch, out_ch, kernel, stride)


def gate(y: torch.Tensor, bounded: bool) -> torch.Tensor:
    """The factor of a multiplicative residual: ``tanh(y)`` when bounded, else ``y``."""
    return torch.tanh(y) if bounded else y


class CMRBlock(nn.Module):
    """Cross-concatenated multi-scale residual block (paper Fig. 2b, [10]).

    Two scales (3x3 and 5x5 branches of ``width`` channels) read the input; their outputs T1, F1
    are concatenated and both read again by a 3x3 and a 5x5 branch (T2, F2); [T2, F2] is reduced
    by a 1x1 convolution to ``channels`` (the paper's 1x1x32) and applied to the input as a
    multiplicative local residual: ``x + x * reduce([T2, F2])``.  With ``bounded`` the factor goes
    through a tanh (``x * (1 + tanh(y))``, at most twice the input); with ``norm`` every
    convolution is batch-normalised.
    """

    def __init__(self, channels: int, width: int, norm: bool = False,
                 bounded: bool = False) -> None:
        super().__init__()
        self.bounded = bounded
        self.t1 = conv_norm(channels, width, 3, norm=norm)
        self.f1 = conv_norm(channels, width, 5, norm=norm)
        self.t2 = conv_norm(2 * width, width, 3, norm=norm)
        self.f2 = conv_norm(2 * width, width, 5, norm=norm)
        self.reduce = conv_norm(2 * width, channels, 1, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t1 = F.relu(self.t1(x))
        f1 = F.relu(self.f1(x))
        cross = torch.cat([t1, f1], dim=1)
        t2 = F.relu(self.t2(cross))
        f2 = F.relu(self.f2(cross))
        y = self.reduce(torch.cat([t2, f2], dim=1))
        return x + x * gate(y, self.bounded)


def fuse(
    frame_features: torch.Tensor, flow_features: torch.Tensor, bounded: bool = False
) -> torch.Tensor:
    """Eq. 1: ``F_f + F_f * F_o`` (keeps the frame features even where the flow features vanish);
    ``bounded`` puts ``F_o`` through a tanh first."""
    return frame_features + frame_features * gate(flow_features, bounded)


class SpatialAttention(nn.Module):
    """Eq. 2: ``STF + A * STF`` with A a spatial-softmax mask (one value per position, in [0, 1]).

    The mask's logits come from a 3x3 conv + ReLU + 1x1 conv; the softmax runs over all H*W
    positions, so A sums to 1 over the map (the paper's "normalized mask").
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.hidden = conv(channels, hidden, 3)
        self.logits = conv(hidden, 1, 1)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The attention mask A, shape (B, 1, H, W), each map summing to 1."""
        logits = self.logits(F.relu(self.hidden(x)))
        b, _, h, w = logits.shape
        return torch.softmax(logits.reshape(b, 1, h * w), dim=-1).reshape(b, 1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mask(x) * x


class Pathway(nn.Module):
    """One pathway (frame or optical flow): a stride-2 stem, then stages, each a stride-2
    transition convolution to ``channels`` followed by CMR blocks."""

    def __init__(
        self,
        in_channels: int,
        stem_channels: int,
        channels: int,
        stage_widths: tuple[int, ...],
        stage_blocks: tuple[int, ...],
        norm: bool = False,
        bounded: bool = False,
    ) -> None:
        super().__init__()
        self.stem = conv_norm(in_channels, stem_channels, 3, stride=2, norm=norm)
        self.downs = nn.ModuleList()
        self.stages = nn.ModuleList()
        prev = stem_channels
        for width, blocks in zip(stage_widths, stage_blocks):
            self.downs.append(conv_norm(prev, channels, 3, stride=2, norm=norm))
            self.stages.append(nn.ModuleList(
                CMRBlock(channels, width, norm, bounded) for _ in range(blocks)
            ))
            prev = channels

    def block_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every CMR block, in order (what eq. 1 fuses into the frame pathway)."""
        outs: list[torch.Tensor] = []
        x = F.relu(self.stem(x))
        for down, blocks in zip(self.downs, self.stages):
            x = F.relu(down(x))
            for block in blocks:
                x = block(x)
                outs.append(x)
        return outs


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell: all four gates from one 3x3 conv over ``[x, h]``.

    ``cell_clip > 0`` clips the cell state to +-cell_clip after every step (as TensorFlow's
    ``LSTMCell(cell_clip=...)`` does): a stream carries the state for ever, and with a forget gate
    near 1 an unclipped state grows by up to 1 a frame.
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3,
                 cell_clip: float = 0.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.cell_clip = float(cell_clip)
        self.gates = conv(in_channels + hidden, 4 * hidden, kernel)
        with torch.no_grad():  # forget-gate bias 1: remember by default at the start of training
            self.gates.bias[hidden : 2 * hidden].fill_(1.0)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        gates = self.gates(torch.cat([x, h], dim=1))
        n = self.hidden
        # slices, not torch.chunk: the dynamo ONNX exporter writes chunk as an opset-18 Split
        i, f, o, g = gates[:, :n], gates[:, n : 2 * n], gates[:, 2 * n : 3 * n], gates[:, 3 * n :]
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.cell_clip > 0:
            c = torch.clamp(c, -self.cell_clip, self.cell_clip)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class BiConvLSTM(nn.Module):
    """(Bi)directional ConvLSTM over a window, with the forward state explicit.

    The forward direction starts from the given state; the backward direction runs over the
    window only, from zeros.  Returns the per-frame outputs (forward and backward hidden states
    concatenated when bidirectional) and the forward state after the window's first frame.
    """

    def __init__(self, in_channels: int, hidden: int, bidirectional: bool,
                 cell_clip: float = 0.0) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.forward_cell = ConvLSTMCell(in_channels, hidden, cell_clip=cell_clip)
        self.backward_cell = (
            ConvLSTMCell(in_channels, hidden, cell_clip=cell_clip) if bidirectional else None
        )

    @property
    def out_channels(self) -> int:
        return self.forward_cell.hidden * (2 if self.bidirectional else 1)

    def forward(
        self, xs: list[torch.Tensor], state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        h, c = state
        forward_h: list[torch.Tensor] = []
        first_state = state
        for t, x in enumerate(xs):  # a Python loop: ONNX export unrolls it for a fixed window
            h, c = self.forward_cell(x, (h, c))
            forward_h.append(h)
            if t == 0:
                first_state = (h, c)
        if self.backward_cell is None:
            return forward_h, first_state
        hb = torch.zeros_like(state[0])
        cb = torch.zeros_like(state[1])
        backward_h: list[torch.Tensor] = [hb] * len(xs)
        for t in range(len(xs) - 1, -1, -1):
            hb, cb = self.backward_cell(xs[t], (hb, cb))
            backward_h[t] = hb
        outs = [torch.cat([f, b], dim=1) for f, b in zip(forward_h, backward_h)]
        return outs, first_state


class AutoEncoder(nn.Module):
    """The small auto-encoder of Fig. 2a: 3x3 conv + ReLU layers that narrow to a bottleneck and
    widen again, so the channels shrink smoothly before the decoder."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            layers += [conv(prev, ch, 3), nn.ReLU()]
            prev = ch
        self.layers = nn.Sequential(*layers)
        self.out_channels = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """Convolutions each followed by a sigmoid, the last one to a single channel, then bicubic
    up-sampling to the input size (clamped to [0, 1]: bicubic overshoots)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_size: tuple[int, int]):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in (*channels, 1):
            layers += [conv(prev, ch, 3), nn.Sigmoid()]
            prev = ch
        self.layers = nn.Sequential(*layers)
        self.out_size = (int(out_size[0]), int(out_size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        y = F.interpolate(y, size=self.out_size, mode="bicubic", align_corners=False)
        return torch.clamp(y, 0.0, 1.0)
