"""Frame and ground-truth reading for one :class:`~rt_saliency.data.layout.VideoRecord`.

Frames come back as RGB uint8 ``(H, W, 3)`` at the data set's size; resizing to the network's
input happens in the clip dataset, once, so readers stay layout-only.  Video files are decoded
with PyAV from the start up to the last frame asked for (AVI seeking is unreliable), keeping only
the frames asked for, so memory stays bounded by the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.data.layout import VideoRecord
from rt_saliency.errors import DatasetError
from rt_saliency.optional import import_optional


def _imread(path: Path, flags: int) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return img


def read_frames(record: VideoRecord, indices: Sequence[int]) -> list[np.ndarray]:
    """RGB uint8 frames ``indices`` (0-based) of a video, each of the record's size."""
    for i in indices:
        if not 0 <= i < record.num_frames:
            raise DatasetError(f"{record.name}: frame {i} out of range 0..{record.num_frames - 1}")
    if record.frames is not None:
        out = []
        for i in indices:
            bgr = _imread(record.frames[i], cv2.IMREAD_COLOR)
            _check_size(record, bgr.shape[:2], record.frames[i])
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        return out
    return _decode_video(record, indices)


def _decode_video(record: VideoRecord, indices: Sequence[int]) -> list[np.ndarray]:
    av = import_optional("av")

    assert record.video is not None
    wanted = set(indices)
    last = max(indices) if indices else -1
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(record.video)) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k in wanted:
                    rgb = frame.to_ndarray(format="rgb24")
                    _check_size(record, rgb.shape[:2], record.video)
                    got[k] = rgb
                if k >= last:
                    break
    except av.FFmpegError as exc:
        raise DatasetError(f"cannot decode {record.video}: {exc}") from exc
    missing = wanted - got.keys()
    if missing:
        raise DatasetError(
            f"{record.video}: frames {sorted(missing)[:5]} missing (video too short)"
        )
    return [got[i] for i in indices]


def _check_size(record: VideoRecord, shape: tuple[int, ...], path: Path) -> None:
    if tuple(shape) != record.size:
        raise DatasetError(f"{path}: size {tuple(shape)} differs from the maps' {record.size}")


def read_map(record: VideoRecord, index: int) -> np.ndarray:
    """Continuous ground-truth map of frame ``index``: float32 (H, W) in [0, 1]."""
    img = _imread(record.maps[index], cv2.IMREAD_GRAYSCALE)
    _check_size(record, img.shape, record.maps[index])
    return img.astype(np.float32) / 255.0


def read_fixations(record: VideoRecord, index: int) -> np.ndarray:
    """Binary fixation map of frame ``index``: bool (H, W)."""
    img = _imread(record.fixations[index], cv2.IMREAD_GRAYSCALE)
    _check_size(record, img.shape, record.fixations[index])
    return img > 0


def resize_fixations(fix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Move each fixation to ``size`` (rows, cols) by scaling its coordinates (no blur, no loss)."""
    h, w = size
    rows, cols = np.nonzero(fix)
    out = np.zeros((h, w), np.float32)
    r = np.minimum((rows * h) // fix.shape[0], h - 1)
    c = np.minimum((cols * w) // fix.shape[1], w - 1)
    out[r, c] = 1.0
    return out
