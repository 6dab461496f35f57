"""A synthetic video-saliency data set in the DHF1K layout, for proving training end to end.

Nothing here can download DHF1K, Hollywood-2 or UCF Sports, so the trainer and the evaluator are
proven on videos whose saliency is known by construction:

* a textured background (smoothed colour noise plus static shapes) seen through a camera that
  pans slowly with a little jitter;
* a few *moving* objects (textured ellipses) that bounce around, and a few *static* distractors
  that look the same but are painted onto the background, so they move only with the camera;
* per frame, ``observers`` fixations: most observers follow one of the moving objects (each keeps
  its object for a while, with a spread proportional to the object's size); the rest fall on a
  centre-bias Gaussian;
* continuous maps made from the fixations with the DHF1K Gaussian: FWHM 30 px at DHF1K's
  640x360, scaled by ``width / 640`` (never below 1.5 px sigma), so a small synthetic frame gets
  the blur a DHF1K frame would get at the same relative size.

Saliency is therefore motion-driven: a model must use the flow (or temporal change) to tell the
moving objects from the static distractors.  Everything is drawn from one seeded
``numpy.random.Generator``, so a seed gives the same bytes.

Videos are numbered into DHF1K's split ranges (train 1.., val 601.., test 701..), so the DHF1K
reader's fixed split rule also splits a synthetic set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.errors import ConfigError

log = logging.getLogger(__name__)

#: DHF1K's map blur: Gaussian with FWHM 30 px at 640 px width (DHF1K paper / DESIGN.md)
DHF1K_FWHM_PX = 30.0
DHF1K_WIDTH = 640
#: first video number of each split in DHF1K's numbering (600 train / 100 val / 300 test)
SPLIT_START = {"train": 1, "val": 601, "test": 701}
SPLIT_CAPACITY = {"train": 600, "val": 100, "test": 300}


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.  Sizes are in pixels of the written frames."""

    videos: int = 10
    frames: int = 40
    width: int = 256
    height: int = 192
    seed: int = 0
    observers: int = 15
    #: fraction of observers that look at moving objects (the rest: centre bias)
    object_fraction: float = 0.8
    moving_objects: tuple[int, int] = (1, 3)
    static_objects: tuple[int, int] = (1, 3)
    #: camera pan speed range, as a fraction of the width per frame
    pan_speed: tuple[float, float] = (0.002, 0.008)
    #: object speed range, as a fraction of the width per frame
    object_speed: tuple[float, float] = (0.02, 0.045)
    #: explicit split sizes; None = 60/10/30 % of ``videos`` with at least one val and test video
    split_sizes: dict[str, int] | None = field(default=None)
    write_video: bool = False
    fps: float = 25.0

    def validate(self) -> None:
        if self.videos < 1 or self.frames < 2:
            raise ConfigError("synth needs at least 1 video and 2 frames per video")
        if self.width < 32 or self.height < 32 or self.width > 4096 or self.height > 4096:
            raise ConfigError(f"synth size {self.width}x{self.height} out of range 32..4096")
        if self.observers < 1:
            raise ConfigError("synth needs at least one observer")
        if not 0.0 <= self.object_fraction <= 1.0:
            raise ConfigError("object_fraction must be in [0, 1]")

    def splits(self) -> dict[str, int]:
        """Number of videos in each split."""
        if self.split_sizes is not None:
            sizes = dict(self.split_sizes)
        elif self.videos < 3:
            sizes = {"train": self.videos, "val": 0, "test": 0}
        else:
            test = max(1, round(0.3 * self.videos))
            val = max(1, round(0.1 * self.videos))
            sizes = {"train": self.videos - test - val, "val": val, "test": test}
        for split, count in sizes.items():
            if split not in SPLIT_CAPACITY or not 0 <= count <= SPLIT_CAPACITY[split]:
                raise ConfigError(f"split {split!r} cannot hold {count} videos")
        return sizes


def map_sigma(width: int) -> float:
    """Sigma (px) of the DHF1K map Gaussian scaled to a frame ``width`` pixels wide."""
    sigma_dhf1k = DHF1K_FWHM_PX / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return max(1.5, sigma_dhf1k * width / DHF1K_WIDTH)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smoothed colour noise at two scales, uint8 (h, w, 3) BGR."""
    out = np.zeros((h, w, 3), np.float32)
    for scale, weight in ((8, 0.6), (2, 0.4)):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3), dtype=np.float32)
        out += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    base = rng.uniform(0.25, 0.75, 3).astype(np.float32)
    out = 0.5 * base + 0.5 * out
    return np.clip(out * 255.0, 0, 255).astype(np.uint8)


@dataclass
class _Object:
    x: float
    y: float
    vx: float
    vy: float
    rx: float
    ry: float
    sprite: np.ndarray  # (2ry+1, 2rx+1, 3) uint8
    mask: np.ndarray  # (2ry+1, 2rx+1) bool


def _make_object(rng: np.random.Generator, w: int, h: int, speed: float, scale: float) -> _Object:
    rx = int(rng.uniform(0.05, 0.09) * scale)
    ry = int(rx * rng.uniform(0.7, 1.3))
    rx, ry = max(rx, 3), max(ry, 3)
    yy, xx = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    mask = (xx / rx) ** 2 + (yy / ry) ** 2 <= 1.0
    colour = rng.choice([40, 220], size=3).astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin(xx * rng.uniform(0.3, 0.9) + yy * rng.uniform(0.3, 0.9))
    sprite = colour[None, None, :] * (0.6 + 0.4 * stripes[..., None])
    sprite = cv2.GaussianBlur(sprite.astype(np.float32), (3, 3), 0)
    angle = rng.uniform(0, 2 * np.pi)
    return _Object(
        x=rng.uniform(rx, w - rx),
        y=rng.uniform(ry, h - ry),
        vx=speed * np.cos(angle),
        vy=speed * np.sin(angle),
        rx=rx,
        ry=ry,
        sprite=np.clip(sprite, 0, 255).astype(np.uint8),
        mask=mask,
    )


def _paste(img: np.ndarray, obj: _Object, x: float, y: float) -> None:
    h, w = img.shape[:2]
    x0, y0 = int(round(x)) - int(obj.rx), int(round(y)) - int(obj.ry)
    sh, sw = obj.mask.shape
    ax0, ay0 = max(0, x0), max(0, y0)
    ax1, ay1 = min(w, x0 + sw), min(h, y0 + sh)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    sub_mask = obj.mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    region = img[ay0:ay1, ax0:ax1]
    region[sub_mask] = obj.sprite[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0][sub_mask]


def _render_video(
    cfg: SynthConfig, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Frames (BGR uint8), fixation maps (uint8 0/255) and continuous maps (uint8) of one video."""
    w, h, n = cfg.width, cfg.height, cfg.frames
    scale = min(w, h) * 1.6
    # The world is larger than the view so the camera can pan without wrapping.
    pan_speed = rng.uniform(*cfg.pan_speed) * w
    pan_angle = rng.uniform(0, 2 * np.pi)
    pvx, pvy = pan_speed * np.cos(pan_angle), pan_speed * np.sin(pan_angle)
    margin_x = int(abs(pvx) * n + 8)
    margin_y = int(abs(pvy) * n + 8)
    world = _texture(rng, h + margin_y, w + margin_x)
    for _ in range(rng.integers(2, 6)):  # static background shapes
        cx, cy = int(rng.integers(0, world.shape[1])), int(rng.integers(0, world.shape[0]))
        r = int(rng.uniform(0.03, 0.1) * scale)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.circle(world, (cx, cy), r, colour, -1)
        else:
            cv2.rectangle(world, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    # Static distractors: same look as the moving objects, painted into the world.
    for _ in range(rng.integers(cfg.static_objects[0], cfg.static_objects[1] + 1)):
        obj = _make_object(rng, world.shape[1], world.shape[0], 0.0, scale)
        _paste(world, obj, obj.x, obj.y)
    # Camera start so that the whole pan stays inside the world.
    cam_x = 0.0 if pvx >= 0 else float(margin_x - 4)
    cam_y = 0.0 if pvy >= 0 else float(margin_y - 4)

    movers = [
        _make_object(rng, w, h, rng.uniform(*cfg.object_speed) * w, scale)
        for _ in range(rng.integers(cfg.moving_objects[0], cfg.moving_objects[1] + 1))
    ]
    n_obj_obs = int(round(cfg.object_fraction * cfg.observers))
    target = rng.integers(0, len(movers), size=n_obj_obs)
    centre_sigma = (0.25 * w, 0.25 * h)
    sigma = map_sigma(w)

    frames, fixations, maps = [], [], []
    for t in range(n):
        ox = min(max(cam_x + pvx * t + rng.normal(0, 0.3), 0.0), margin_x - 1.0)
        oy = min(max(cam_y + pvy * t + rng.normal(0, 0.3), 0.0), margin_y - 1.0)
        affine = np.float32([[1, 0, -ox], [0, 1, -oy]])
        frame = cv2.warpAffine(world, affine, (w, h), flags=cv2.INTER_LINEAR)
        for obj in movers:
            _paste(frame, obj, obj.x, obj.y)
        frames.append(frame)

        # Observers switch target now and then (about every 25 frames).
        switch = rng.random(n_obj_obs) < 0.04
        target[switch] = rng.integers(0, len(movers), size=int(switch.sum()))
        fix = np.zeros((h, w), np.uint8)
        for k in range(cfg.observers):
            if k < n_obj_obs:
                obj = movers[target[k]]
                fx = rng.normal(obj.x, 0.35 * obj.rx)
                fy = rng.normal(obj.y, 0.35 * obj.ry)
            else:
                fx = rng.normal(w / 2, centre_sigma[0])
                fy = rng.normal(h / 2, centre_sigma[1])
            ix, iy = int(round(fx)), int(round(fy))
            if 0 <= ix < w and 0 <= iy < h:
                fix[iy, ix] = 255
        if not fix.any():  # every frame carries at least one fixation, as in DHF1K
            fix[h // 2, w // 2] = 255
        fixations.append(fix)
        dense = cv2.GaussianBlur(fix.astype(np.float32), (0, 0), sigma)
        maps.append(np.clip(dense / dense.max() * 255.0, 0, 255).astype(np.uint8))

        for obj in movers:  # move and bounce off the frame's borders
            obj.x += obj.vx
            obj.y += obj.vy
            if not obj.rx <= obj.x <= w - obj.rx:
                obj.vx = -obj.vx
                obj.x = min(max(obj.x, obj.rx), w - obj.rx)
            if not obj.ry <= obj.y <= h - obj.ry:
                obj.vy = -obj.vy
                obj.y = min(max(obj.y, obj.ry), h - obj.ry)
    return frames, fixations, maps


def generate_synthetic(out: str | Path, config: SynthConfig) -> dict[str, list[int]]:
    """Write a synthetic data set in the DHF1K layout under ``out``; return video numbers by split.

    Layout: ``frames/NNN/NNNN.png`` (and ``video/NNN.AVI`` with ``write_video``),
    ``annotation/NNNN/maps/NNNN.png``, ``annotation/NNNN/fixation/NNNN.png`` and ``synth.json``
    recording the configuration.
    """
    config.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()) and not (out / "synth.json").exists():
        raise ConfigError(f"{out} exists and is not empty (and not a synthetic set)")
    seq = np.random.SeedSequence(config.seed)
    numbers: dict[str, list[int]] = {}
    png = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    video_index = 0
    sizes = config.splits()
    children = seq.spawn(sum(sizes.values()))
    for split in ("train", "val", "test"):
        numbers[split] = []
        for i in range(sizes[split]):
            number = SPLIT_START[split] + i
            rng = np.random.default_rng(children[video_index])
            video_index += 1
            frames, fixations, maps = _render_video(config, rng)
            fdir = out / "frames" / f"{number:03d}"
            adir = out / "annotation" / f"{number:04d}"
            for sub in (fdir, adir / "maps", adir / "fixation"):
                sub.mkdir(parents=True, exist_ok=True)
            for t, (frame, fix, dense) in enumerate(zip(frames, fixations, maps), start=1):
                cv2.imwrite(str(fdir / f"{t:04d}.png"), frame, png)
                cv2.imwrite(str(adir / "fixation" / f"{t:04d}.png"), fix, png)
                cv2.imwrite(str(adir / "maps" / f"{t:04d}.png"), dense, png)
            if config.write_video:
                (out / "video").mkdir(exist_ok=True)
                writer = cv2.VideoWriter(
                    str(out / "video" / f"{number:03d}.AVI"),
                    cv2.VideoWriter_fourcc(*"MJPG"),
                    config.fps,
                    (config.width, config.height),
                )
                for frame in frames:
                    writer.write(frame)
                writer.release()
            numbers[split].append(number)
    meta = asdict(config)
    meta["map_sigma_px"] = map_sigma(config.width)
    meta["videos_by_split"] = numbers
    (out / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %d synthetic videos to %s", video_index, out)
    return numbers
