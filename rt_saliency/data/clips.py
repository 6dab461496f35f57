"""The training/evaluation dataset: clips of T consecutive frames of one video, with their flows.

Sample ``i`` is one (video, first frame) pair and yields tensors at the network's input size:

* ``frames``  float32 (T, 3, H, W) RGB in [0, 1];
* ``flows``   float32 (T, 2S, H, W): frame t's stack ``stack_flows([F^t .. F^{t+S-1}])``, the same
  function the stream uses, with zeros past the end of the video and F^0 = 0;
* ``maps``    float32 (T, 1, H, W): continuous ground truth resized bilinearly, in [0, 1];
* ``fix``     float32 (T, 1, H, W): binary fixations moved to the H x W grid by their coordinates;
* ``video`` / ``start``: which clip this is.

Flows come from the root's flow cache when there is one (a cache built with other settings is
refused), else they are computed here with :class:`rt_saliency.flow.FlowEstimator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from rt_saliency.data.flowcache import FlowCache
from rt_saliency.data.layout import VideoRecord
from rt_saliency.data.rawflow import compute_raw_flows
from rt_saliency.data.video import (
    read_fixations,
    read_frames,
    read_map,
    resize_fixations,
)
from rt_saliency.errors import ConfigError
from rt_saliency.flow import FlowConfig, FlowEstimator, stack_flows
from rt_saliency.imaging import resize_to_input
from rt_saliency.optional import import_optional


class ClipDataset:
    """Clips of ``clip_len`` consecutive frames from several videos (a torch map-style dataset).

    ``stride`` is the step between clip starts (default ``clip_len``: non-overlapping clips, the
    whole video once an epoch).  A video shorter than ``clip_len`` is skipped, so every sample
    has the same T and batches stack.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        flow_maps: int,
        input_size: tuple[int, int],
        flow_config: Any | None = None,
        clip_len: int = 5,
        stride: int | None = None,
        use_cache: bool = True,
    ) -> None:
        if clip_len < 1 or flow_maps < 1:
            raise ConfigError("clip_len and flow_maps must be >= 1")
        self.records = list(records)
        self.flow_maps = flow_maps
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.flow_config = (
            flow_config if flow_config is not None else FlowConfig(size=self.input_size)
        )
        if tuple(self.flow_config.size) != self.input_size:
            raise ConfigError(
                f"flow size {tuple(self.flow_config.size)} differs from the network input "
                f"{self.input_size}"
            )
        self.clip_len = clip_len
        self.stride = stride if stride is not None else clip_len
        if self.stride < 1:
            raise ConfigError("clip stride must be >= 1")
        self.index: list[tuple[int, int]] = []
        for v, rec in enumerate(self.records):
            for start in range(0, rec.num_frames - clip_len + 1, self.stride):
                self.index.append((v, start))
        if not self.index:
            raise ConfigError(f"no video has {clip_len} frames: no clips")
        self.caches: dict[str, FlowCache | None] = {}
        if use_cache:
            for rec in self.records:
                key = str(rec.root)
                if key not in self.caches:
                    self.caches[key] = FlowCache.open(rec.root, self.flow_config, self.input_size)
        self._estimator: Any | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _raw_flows(self, rec: VideoRecord, ts: list[int]) -> np.ndarray:
        cache = self.caches.get(str(rec.root))
        if cache is not None and cache.has(rec):
            return cache.load(rec, ts)
        if self._estimator is None:  # built lazily: one per DataLoader worker

            self._estimator = FlowEstimator(self.flow_config)
        return compute_raw_flows(rec, ts, self.flow_config, self.input_size, self._estimator)

    def clip(self, rec: VideoRecord, start: int, length: int | None = None) -> dict[str, Any]:
        """The arrays of frames ``start .. start+length-1`` of ``rec`` (numpy, see module doc)."""
        length = self.clip_len if length is None else length
        s = self.flow_maps
        ts = list(range(start, start + length))
        n = rec.num_frames
        flow_ts = [t for t in range(start, start + length + s - 1) if t < n]
        raw = self._raw_flows(rec, flow_ts)
        # raw[k] is F^{start+k}; F^0 is zero in ``raw`` already, flows past the end are absent.
        flows = np.stack(
            [stack_flows(list(raw[k : k + s]), s, self.input_size) for k in range(length)]
        )
        frames = np.stack(
            [resize_to_input(f, self.input_size) for f in read_frames(rec, ts)]
        ).astype(np.float32)
        frames = frames.transpose(0, 3, 1, 2) / 255.0
        maps = np.stack([_resize_map(read_map(rec, t), self.input_size) for t in ts])[:, None]
        fix = np.stack(
            [resize_fixations(read_fixations(rec, t), self.input_size) for t in ts]
        )[:, None]
        return {
            "frames": frames,
            "flows": flows,
            "maps": maps.astype(np.float32),
            "fix": fix.astype(np.float32),
            "video": f"{rec.dataset}/{rec.name}",
            "start": start,
            "static": False,
        }

    def __getitem__(self, i: int) -> dict[str, Any]:
        torch = import_optional("torch")

        v, start = self.index[i]
        sample = self.clip(self.records[v], start)
        for key in ("frames", "flows", "maps", "fix"):
            sample[key] = torch.from_numpy(sample[key])
        return sample


def _resize_map(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if m.shape == (h, w):
        return m
    shrink = h * w < m.shape[0] * m.shape[1]
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
