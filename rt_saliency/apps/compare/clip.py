"""The inputs of a comparison: a clip's frames as coded (packed I420), per-frame saliency maps
from a folder, and predicted maps through the daemon's pipeline."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from rt_saliency.errors import DatasetError, InputError, InputNotFoundError
from rt_saliency.stream.offline import predict_clip
from rt_saliency.yuv import planes_from_av_frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _natural(path: Path) -> list[object]:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                  key=_natural)


def read_clip(source: str | Path, max_frames: int,
              fps: float | None = None) -> tuple[list[np.ndarray], Fraction, tuple[int, int]]:
    """Frames of a video file or an image folder as packed I420 arrays ((H*3/2, W) uint8).

    A video's planes are kept as coded (8-bit 4:2:0 sources unchanged; other formats through
    swscale to yuv420p in their own range, never through RGB), so PSNR is measured on the code
    values the encoder saw.  Images are converted once (OpenCV BGR -> I420).  Odd sizes are
    cropped to even (the report states the size used).  Returns the frames, the frame rate (the
    file's, or ``fps``, or 25 for a folder) and the (H, W) used.
    """

    path = Path(source)
    if not path.exists():
        raise InputNotFoundError(f"no such video or frame folder: {path}")
    bgr: list[np.ndarray] = []
    yuv: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if path.is_dir():
        files = _images(path)[:max_frames]
        if not files:
            raise InputError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f"cannot read image {f}")
            bgr.append(img)
        rate = Fraction(fps or 25).limit_denominator(1001)
    else:
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(f"{path} has no video stream")
                stream = container.streams.video[0]
                rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(
                    stream.average_rate or stream.guessed_rate or 25)
                for frame in container.decode(stream):
                    yuv.append(_i420_as_coded(frame))
                    if len(yuv) >= max_frames:
                        break
        except av.FFmpegError as exc:
            raise InputError(f"cannot decode {path}: {exc}") from None
        if not yuv:
            raise InputError(f"{path} has no frames")
        return _even_i420(yuv, rate)
    h, w = bgr[0].shape[:2]
    h2, w2 = h - (h & 1), w - (w & 1)
    if h2 < 16 or w2 < 16:
        raise InputError(f"frames are too small to encode meaningfully: {w}x{h}")
    frames = []
    for i, img in enumerate(bgr):
        if img.shape[:2] != (h, w):
            raise InputError(f"frame {i} is {img.shape[1]}x{img.shape[0]}, not {w}x{h}")
        frames.append(cv2.cvtColor(np.ascontiguousarray(img[:h2, :w2]), cv2.COLOR_BGR2YUV_I420))
    return frames, rate, (h2, w2)


def _i420_as_coded(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U, V planes of a decoded frame in 8-bit 4:2:0, without a range conversion."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    return planes_from_av_frame(frame)


def _even_i420(planes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rate: Fraction
               ) -> tuple[list[np.ndarray], Fraction, tuple[int, int]]:
    """Packed I420 frames of even size (odd sizes cropped by one row/column)."""
    h, w = planes[0][0].shape
    h2, w2 = h - (h & 1), w - (w & 1)
    if h2 < 16 or w2 < 16:
        raise InputError(f"frames are too small to encode meaningfully: {w}x{h}")
    frames = []
    for i, (y, u, v) in enumerate(planes):
        if y.shape != (h, w):
            raise InputError(f"frame {i} is {y.shape[1]}x{y.shape[0]}, not {w}x{h}")
        frames.append(np.concatenate([
            np.asarray(y)[:h2, :w2].reshape(-1), np.asarray(u)[: h2 // 2, : w2 // 2].reshape(-1),
            np.asarray(v)[: h2 // 2, : w2 // 2].reshape(-1)]).reshape(h2 * 3 // 2, w2))
    return frames, rate, (h2, w2)


def read_maps(folder: str | Path, count: int) -> list[np.ndarray]:
    """The first ``count`` per-frame saliency maps of a folder, float32 in [0, 1]."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"no such saliency folder: {folder}")
    files = _images(folder)
    if len(files) < count:
        raise DatasetError(f"{folder} has {len(files)} maps for {count} frames")
    maps = []
    for f in files[:count]:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DatasetError(f"cannot read map {f}")
        maps.append(img.astype(np.float32) / 255.0)
    return maps


def predicted_maps(frames: Sequence[np.ndarray], fps: Fraction, predictor: Any) -> list[np.ndarray]:
    """Saliency of I420 ``frames`` from a :class:`StreamPredictor`, through the daemon's pipeline."""
    rgb = [cv2.cvtColor(f, cv2.COLOR_YUV2RGB_I420) for f in frames]
    return predict_clip(predictor, rgb, fps=float(fps))


