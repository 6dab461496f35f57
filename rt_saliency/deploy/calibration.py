"""Encoder inputs from real pictures, for INT8 calibration (and for parity checks on real data).

A calibration sample is one encoder input ``{"frame": (1,3,H,W), "flows": (1,2S,H,W)}`` prepared
as the stream prepares it: the frame resized to the network's input (area averaging when
shrinking), RGB in [0, 1]; the flows of a video frame are the stream's own
(:class:`rt_saliency.flow.FlowEstimator`, :func:`rt_saliency.flow.flow_to_input`,
:func:`rt_saliency.flow.stack_flows`), those of a still image zero (a still does not move).

Still images from a gaze data set must not come from its held-out test split (its
``test.txt``): :func:`gaze_calibration_images` leaves those out, so an accuracy figure measured
on that split is not flattered by the calibration.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.errors import InputError, InputNotFoundError
from rt_saliency.flow import FlowEstimator, flow_to_input, stack_flows
from rt_saliency.spec import INPUT_SIZE

Sample = dict[str, np.ndarray]


def frame_input(rgb: np.ndarray, size: tuple[int, int] = INPUT_SIZE) -> np.ndarray:
    """float32 (3, H, W) in [0, 1] of an RGB uint8 (h, w, 3) picture, resized as the stream does."""
    height, width = size
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if (h > height or w > width) else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (width, height), interpolation=interp)
    out = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def read_video_frames(path: str | Path, count: int, start: int = 0, step: int = 1
                      ) -> Iterator[np.ndarray]:
    """RGB uint8 frames ``start, start+step, ...`` (at most ``count``) of a video file."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"video not found: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"{path}: cannot be decoded")
        index = produced = 0
        while produced < count:
            ok, bgr = capture.read()
            if not ok:
                return
            if index >= start and (index - start) % step == 0:
                produced += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def video_samples(path: str | Path, flow_maps: int, count: int, *, start: int = 0,
                  size: tuple[int, int] = INPUT_SIZE) -> list[Sample]:
    """``count`` consecutive encoder inputs of a video from frame ``start``, with real flows.

    Frame t's flows are ``F^t .. F^{t+S-1}``, so ``count + S - 1`` frames are decoded; frame
    ``start``'s F^t is computed from the frame before it when there is one.
    """
    if count < 1:
        raise InputError(f"count must be >= 1, got {count}")
    first = max(start - 1, 0)
    frames = list(read_video_frames(path, count + flow_maps - 1 + (start - first), start=first))
    if len(frames) < count + flow_maps - 1 + (start - first):
        raise InputError(f"{path}: fewer than {count + flow_maps} frames from frame {start}")
    estimator = FlowEstimator(threads=None)
    prepared = [estimator.prepare(f) for f in frames]
    flows: list[np.ndarray | None] = [None] if first == start else []
    for prev, cur in zip(prepared, prepared[1:]):
        flows.append(flow_to_input(estimator.compute_prepared(prev, cur)))
    rgb = frames[start - first:]
    samples = []
    for t in range(count):
        stacked = stack_flows(flows[t:t + flow_maps], flow_maps, size, normalised=True)
        samples.append({"frame": frame_input(rgb[t], size)[None], "flows": stacked[None]})
    return samples


def video_frame_count(path: str | Path) -> int:
    """Frames a video file says it has (its container's count; 0 when unknown)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        capture.release()


def spread_video_samples(path: str | Path, flow_maps: int, count: int, run: int = 8,
                         size: tuple[int, int] = INPUT_SIZE) -> list[Sample]:
    """``count`` encoder inputs of a video in runs of ``run`` consecutive frames, the runs spread
    evenly over the video (scenes differ along it; consecutive frames give real flows)."""
    total = video_frame_count(path)
    run = max(1, min(run, count))
    runs = -(-count // run)
    last_start = max(total - run - flow_maps, 0)
    starts = np.linspace(0, last_start, runs).round().astype(int) if runs > 1 else [0]
    samples: list[Sample] = []
    for start in starts:
        samples += video_samples(path, flow_maps, min(run, count - len(samples)),
                                 start=int(start), size=size)
    return samples


def still_samples(paths: Sequence[str | Path], flow_maps: int,
                  size: tuple[int, int] = INPUT_SIZE) -> list[Sample]:
    """One encoder input per still image, its flows zero."""
    zeros = np.zeros((1, 2 * flow_maps, *size), np.float32)
    samples = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{path}: not a readable image")
        samples.append({"frame": frame_input(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)[None],
                        "flows": zeros})
    return samples


def gaze_calibration_images(root: str | Path, per_set: int) -> list[Path]:
    """Up to ``per_set`` images of each data set under a gaze-images ``root``
    (``<set>/images/*.jpg``), spread evenly over the set and never from its ``test.txt``."""
    root = Path(root)
    sets = sorted(p.parent for p in root.glob("*/images"))
    if not sets:
        raise InputNotFoundError(f"no <set>/images folders under {root}")
    chosen: list[Path] = []
    for folder in sets:
        test_file = folder / "test.txt"
        held_out = set(test_file.read_text().split()) if test_file.is_file() else set()
        images = [p for p in sorted((folder / "images").glob("*.jpg")) if p.stem not in held_out]
        if not images or per_set < 1:
            continue
        picks = np.linspace(0, len(images) - 1, min(per_set, len(images))).round().astype(int)
        chosen.extend(images[i] for i in sorted(set(picks.tolist())))
    return chosen
