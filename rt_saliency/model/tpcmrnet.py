"""TP-CMRNet (Malladi et al., ICIP 2022) split for streaming: a per-frame encoder and a windowed
temporal head with the forward ConvLSTM state explicit.

* ``encode(frame, flows) -> features``: frame pathway + optical-flow pathway of CMR blocks, eq. 1
  fusion and eq. 2 attention after every frame-pathway block.
* ``head(features, state) -> (maps, state_after_first_frame)``: BD-ConvLSTM, auto-encoder,
  decoder, bicubic up-sampling, for every frame of the window (training).
* ``head_first(features, state) -> (map, state_after_first_frame)``: the same map of the
  window's first frame only (streaming): one forward ConvLSTM step, the backward cell over the
  window, merge/auto-encoder/decoder on frame t; optionally without the final up-sampling.
* ``forward(clip, flows)``: encode every frame, then ``head(all features, None)``.
"""

from __future__ import annotations

import torch
from torch import nn

from rt_saliency.errors import InputError
from rt_saliency.model.blocks import (
    AutoEncoder,
    BiConvLSTM,
    Decoder,
    Pathway,
    SpatialAttention,
    conv,
    fuse,
)
from rt_saliency.model.config import TPCMRNetConfig

#: ImageNet statistics: the frame is normalised inside the model so every backend takes [0, 1]
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

State = tuple[torch.Tensor, torch.Tensor]


class TPCMRNet(nn.Module):
    """Two-pathway CMRNet for video saliency (entry points: see the module docstring)."""

    def __init__(self, config: TPCMRNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else TPCMRNetConfig()
        cfg = self.config
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        pathway_args = (cfg.stem_channels, cfg.channels, cfg.stage_widths, cfg.stage_blocks)
        # only the frame pathway is normalised: a static scene's flow is zero, with zero
        # variance, so flow statistics learnt on stills would blow up on motion (and back)
        self.frame_pathway = Pathway(3, *pathway_args, cfg.norm, cfg.bounded_residuals)
        self.flow_pathway = Pathway(cfg.flow_channels, *pathway_args, False,
                                    cfg.bounded_residuals)
        n_blocks = sum(cfg.stage_blocks)
        self.attention = (
            nn.ModuleList(
                SpatialAttention(cfg.channels, cfg.attention_hidden) for _ in range(n_blocks)
            )
            if cfg.attention
            else None
        )
        self.lstm = BiConvLSTM(cfg.channels, cfg.lstm_channels, cfg.bidirectional, cfg.cell_clip)
        # both directions are merged back to 28x28x32 (paper Fig. 1) by a 1x1 convolution
        self.merge = (
            conv(self.lstm.out_channels, cfg.lstm_channels, 1) if cfg.bidirectional else None
        )
        self.autoencoder = AutoEncoder(cfg.lstm_channels, cfg.ae_channels)
        self.decoder = Decoder(self.autoencoder.out_channels, cfg.decoder_channels, cfg.input_size)

    # -- shapes -----------------------------------------------------------------------------

    @property
    def flow_maps(self) -> int:
        """S, the number of stacked flow maps ``encode`` takes."""
        return self.config.flow_maps

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame's features."""
        return self.config.feature_shape

    def initial_state(
        self,
        batch: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Zero forward ConvLSTM state (h, c), each (batch, lstm_channels, 28, 28)."""
        ref = self.merge.weight if self.merge is not None else self.lstm.forward_cell.gates.weight
        shape = (batch, self.config.lstm_channels, *self.config.feature_size)
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        return (
            torch.zeros(shape, device=device, dtype=dtype),
            torch.zeros(shape, device=device, dtype=dtype),
        )

    def _check_frame_inputs(self, frame: torch.Tensor, flows: torch.Tensor) -> None:
        if torch.jit.is_tracing():  # shapes are fixed while tracing (ONNX export): skip the checks
            return
        size = tuple(self.config.input_size)
        if frame.dim() != 4 or frame.shape[1] != 3 or tuple(frame.shape[2:]) != size:
            raise InputError(
                f"frame must be (B, 3, {size[0]}, {size[1]}), got {tuple(frame.shape)}"
            )
        want = (frame.shape[0], self.config.flow_channels, *size)
        if tuple(flows.shape) != want:
            raise InputError(
                f"flows must be {want} (2S channels for S={self.flow_maps}), "
                f"got {tuple(flows.shape)}"
            )

    def _check_window(self, features: torch.Tensor, state: State | None) -> None:
        if torch.jit.is_tracing():
            return
        want = tuple(self.feature_shape)
        if features.dim() != 5 or tuple(features.shape[2:]) != want or features.shape[1] < 1:
            raise InputError(f"features must be (B, T>=1, {', '.join(map(str, want))}), "
                             f"got {tuple(features.shape)}")
        if state is not None:
            shape = (features.shape[0], self.config.lstm_channels, *self.config.feature_size)
            if len(state) != 2 or any(tuple(s.shape) != shape for s in state):
                raise InputError(f"state must be two tensors of shape {shape}")

    # -- the entry points -------------------------------------------------------------

    def encode(self, frame: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        """Features (B, C, 28, 28) of frames (B, 3, 224, 224) RGB in [0, 1] and their stacked
        flows (B, 2S, 224, 224)."""
        self._check_frame_inputs(frame, flows)
        x = (frame - self.mean) / self.std
        flow_outs = self.flow_pathway.block_outputs(flows)
        fp = self.frame_pathway
        x = torch.relu(fp.stem(x))
        k = 0
        for down, blocks in zip(fp.downs, fp.stages):
            x = torch.relu(down(x))
            for block in blocks:
                x = block(x)
                if self.config.fusion:
                    x = fuse(x, flow_outs[k], self.config.bounded_residuals)
                if self.attention is not None:
                    x = self.attention[k](x)
                k += 1
        if not self.config.fusion:
            # ablation "w/o feature fusion": no eq. 1 after the blocks; the pathways meet once
            x = x + flow_outs[-1]
        return x

    def head(
        self, features: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Saliency maps (B, T, 1, H, W) in [0, 1] of a window of features (B, T, C, 28, 28),
        and the forward ConvLSTM state after the window's FIRST frame (feed it back when the
        window slides by one frame).  ``state=None`` starts from zeros."""
        self._check_window(features, state)
        b, t = features.shape[0], features.shape[1]
        if state is None:
            state = self.initial_state(b, features.device, features.dtype)
        xs = [features[:, i] for i in range(t)]
        outs, first_state = self.lstm(xs, (state[0], state[1]))
        z = torch.stack(outs, dim=1).flatten(0, 1)
        if self.merge is not None:
            z = self.merge(z)
        maps = self.decoder(self.autoencoder(z))
        return maps.reshape(b, t, 1, *self.config.input_size), first_state

    def carry_state(self, features: torch.Tensor, steps: int, state: State | None = None) -> State:
        """The forward ConvLSTM state after ``steps`` frames of the same features (B, C, 28, 28):
        what the stream carries into a window after a static scene has lasted that long."""
        b = features.shape[0]
        if state is None:
            state = self.initial_state(b, features.device, features.dtype)
        h, c = state
        for _ in range(steps):
            h, c = self.lstm.forward_cell(features, (h, c))
        return h, c

    def head_first(
        self, features: torch.Tensor, state: State | None = None, *, upsample: bool = True
    ) -> tuple[torch.Tensor, State]:
        """The map of the window's FIRST frame and the forward state after it.

        Equals ``maps[:, 0]`` of :meth:`head` (B, 1, H, W) but computes only what frame t needs:
        the forward cell runs once (frames 1..L do not reach frame t's map), the backward cell
        over the window, merge, auto-encoder and decoder on frame t alone.  ``upsample=False``
        returns the decoder's map at feature size (B, 1, 28, 28) before the bicubic
        up-sampling, for a caller that resizes once to the size it needs.
        """
        self._check_window(features, state)
        b = features.shape[0]
        if state is None:
            state = self.initial_state(b, features.device, features.dtype)
        first = features[:, 0]
        h1, c1 = self.lstm.forward_cell(first, (state[0], state[1]))
        z = h1
        if self.lstm.backward_cell is not None:
            hb = torch.zeros_like(h1)
            cb = torch.zeros_like(c1)
            for t in range(features.shape[1] - 1, -1, -1):
                hb, cb = self.lstm.backward_cell(features[:, t], (hb, cb))
            z = torch.cat([h1, hb], dim=1)
        if self.merge is not None:
            z = self.merge(z)
        z = self.autoencoder(z)
        maps = self.decoder(z) if upsample else self.decoder.layers(z)
        return maps, (h1, c1)

    def forward(
        self,
        clip: torch.Tensor,
        flows: torch.Tensor,
        state: State | None = None,
        static: bool = False,
        burn_in: int = 0,
    ) -> torch.Tensor:
        """Maps (B, T, 1, H, W) of a clip (B, T, 3, H, W) and its flows (B, T, 2S, H, W):
        every frame encoded, then ``head`` over the whole clip from ``state`` (zeros if None).

        ``static`` says every frame of each clip is the same (a still): it is encoded once, and
        ``burn_in`` > 0 first carries the forward state over that many frames of it without a
        gradient (truncated back-propagation), as a stream has after a still scene lasted that
        long -- so training sees the carried states the stream serves."""
        if clip.dim() != 5 or flows.dim() != 5 or clip.shape[:2] != flows.shape[:2]:
            raise InputError(
                f"clip (B, T, 3, H, W) and flows (B, T, 2S, H, W) must agree, "
                f"got {tuple(clip.shape)} and {tuple(flows.shape)}"
            )
        b, t = clip.shape[0], clip.shape[1]
        if static:
            first = self.encode(clip[:, 0], flows[:, 0])
            if burn_in > 0:
                with torch.no_grad():
                    state = self.carry_state(first.detach(), burn_in, state)
            features = first[:, None].expand(b, t, -1, -1, -1)
        else:
            features = self.encode(clip.flatten(0, 1), flows.flatten(0, 1))
            features = features.reshape(b, t, *features.shape[1:])
        maps, _ = self.head(features, state)
        return maps
