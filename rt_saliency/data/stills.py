"""Still images with fixations as training clips: a still is a static scene, so its clip is the
same frame T times with zero optical flow (what the stream computes on a static camera).

Sample ``i`` has the keys of :class:`rt_saliency.data.clips.ClipDataset` plus ``static: True``;
the trainer encodes a static clip's frame once and repeats the features.  Images, maps and
fixations are prepared once at the network's input size and kept in memory (about 0.2 MB an
image at 224x224), so an epoch decodes nothing.

Augmentation: a horizontal flip with probability ``flip`` (it keeps the centre prior and the
left-right symmetry of viewing); no crops or vertical flips, which would move the centre prior
that is part of what people do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from rt_saliency.data.gaze import GazeImage, density_map, fixation_pixels, load_rgb, scale_points
from rt_saliency.errors import ConfigError
from rt_saliency.imaging import resize_to_input


def prepare_still(image: GazeImage, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """(rgb uint8 (H,W,3), map float32 (H,W), fixations float32 (H,W)) at the input ``size``.

    The map is rendered at the stored image's size by the set's rule, then area-resized; the
    fixations are moved to the ``size`` grid by their coordinates (no blur, none lost)."""
    rgb = load_rgb(image)
    shape = rgb.shape[:2]
    small = resize_to_input(rgb, size)
    dense = cv2.resize(density_map(image, shape), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    fix = np.zeros(size, np.float32)
    rows, cols = fixation_pixels(scale_points(image.points, shape, size), size)
    fix[rows, cols] = 1.0
    return small, dense, fix


class StillDataset:
    """Static clips of ``clip_len`` frames from gaze images (a torch map-style dataset)."""

    def __init__(
        self,
        images: Sequence[GazeImage],
        flow_maps: int,
        input_size: tuple[int, int],
        clip_len: int = 5,
        flip: float = 0.0,
    ) -> None:
        if not images:
            raise ConfigError("no gaze images: no still clips")
        if clip_len < 1 or flow_maps < 1 or not 0.0 <= flip <= 1.0:
            raise ConfigError("clip_len and flow_maps must be >= 1, flip in [0, 1]")
        self.images = list(images)
        self.flow_maps = flow_maps
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.clip_len = clip_len
        self.flip = flip
        prepared = [prepare_still(im, self.input_size) for im in self.images]
        self.rgb = np.stack([p[0] for p in prepared])
        self.maps = np.stack([p[1] for p in prepared]).astype(np.float16)
        self.fix = np.stack([p[2] for p in prepared]).astype(bool)

    def __len__(self) -> int:
        return len(self.images)

    def arrays(self, i: int, flip: bool = False) -> dict[str, Any]:
        """Numpy arrays of still ``i`` (one frame each; ``frames`` (3,H,W) in [0, 1])."""
        rgb, m, f = self.rgb[i], self.maps[i].astype(np.float32), self.fix[i].astype(np.float32)
        if flip:
            rgb, m, f = rgb[:, ::-1], m[:, ::-1], f[:, ::-1]
        frame = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)
        return {"frame": frame, "map": np.ascontiguousarray(m), "fix": np.ascontiguousarray(f)}

    def __getitem__(self, i: int) -> dict[str, Any]:
        flip = self.flip > 0 and float(torch.rand(())) < self.flip
        a = self.arrays(i, flip)
        t, h, w = self.clip_len, *self.input_size
        frame = torch.from_numpy(a["frame"])
        return {
            "frames": frame[None].expand(t, -1, -1, -1).contiguous(),
            "flows": torch.zeros(t, 2 * self.flow_maps, h, w),
            "maps": torch.from_numpy(a["map"])[None, None].expand(t, 1, h, w).contiguous(),
            "fix": torch.from_numpy(a["fix"])[None, None].expand(t, 1, h, w).contiguous(),
            "video": self.images[i].key,
            "start": 0,
            "static": True,
        }
