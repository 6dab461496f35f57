"""Still images with human eye fixations (the ``gaze-images`` layout: OSIE, EyeCrowd, NUS Scene).

A root holds ``images/<name>.jpg``, ``fixations.csv`` (``image,subject,x,y,duration_ms``, one row
per fixation, coordinates in pixels of the stored image) and ``test.txt`` (held-out names).  The
continuous map of an image is rendered as its source documents it: every fixation's pixel set to
1, an isotropic Gaussian blur with the set's sigma (zero padding), divided by the maximum.  The
layout and the sigmas are described in ``docs/data.md``.

Splits: ``test`` is ``test.txt``; the remaining images are split again by a hash of the name into
``train`` and ``val`` (about 8 % val), so model selection never sees a test image.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.errors import ConfigError, DatasetError, InputNotFoundError

GAZE_SPLITS = ("train", "val", "test", "all")
#: first SHA-1 byte (of ``"val:" + name``) below this puts a non-test image in ``val`` (~8 %)
VAL_THRESHOLD = 20


def _sigma_osie(height: int, width: int) -> float:
    return 24.0 * 0.64  # 24 px at 800x600, stored at 512x384


def _sigma_eyecrowd(height: int, width: int) -> float:
    return 26.0 * 0.5  # 26 px at 1024x768, stored at 512x384


def _sigma_nus_scene(height: int, width: int) -> float:
    return 8.0 * max(height, width) / 256.0  # 8 px at the 256 px scale, tied to the longer side


#: per-set Gaussian sigma (pixels of the stored image) from each source's own configuration
SIGMAS = {
    "osie": _sigma_osie,
    "eyecrowd_nus": _sigma_eyecrowd,
    "nus_scene_sun500": _sigma_nus_scene,
}


@dataclass(frozen=True)
class GazeImage:
    """One stimulus and every fixation on it (x, y in pixels of the stored image)."""

    dataset: str
    name: str
    path: Path
    #: (n, 2) float32 array of (x, y) fixations of all observers
    points: np.ndarray
    #: number of distinct observers with fixations on this image
    observers: int

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"


def is_gaze_root(root: Path) -> bool:
    """True when ``root`` has the gaze-images layout (``images/`` and ``fixations.csv``)."""
    return (root / "images").is_dir() and (root / "fixations.csv").is_file()


def is_gaze_collection(path: Path) -> bool:
    """True for a gaze-images root or a folder of such roots (what :func:`open_gaze_sets` takes)."""
    return is_gaze_root(path) or (
        path.is_dir() and any(is_gaze_root(c) for c in path.iterdir() if c.is_dir())
    )


def _split_of(name: str, test: set[str]) -> str:
    if name in test:
        return "test"
    return "val" if hashlib.sha1(f"val:{name}".encode()).digest()[0] < VAL_THRESHOLD else "train"


def read_gaze_images(root: str | Path, split: str, dataset: str | None = None) -> list[GazeImage]:
    """The images of ``split`` (``train``, ``val``, ``test`` or ``all``) under a gaze-images root."""
    root = Path(root)
    if split not in GAZE_SPLITS:
        raise ConfigError(f"split must be one of {', '.join(GAZE_SPLITS)}, got {split!r}")
    if not root.is_dir():
        raise InputNotFoundError(f"no data set at {root}")
    if not is_gaze_root(root):
        raise DatasetError(f"{root} has no images/ and fixations.csv (gaze-images layout)")
    name = dataset or root.name
    if name not in SIGMAS:
        raise DatasetError(
            f"{root}: unknown gaze set {name!r} (known: {', '.join(sorted(SIGMAS))}); "
            "its Gaussian sigma is not documented here"
        )
    test_file = root / "test.txt"
    test = set(test_file.read_text().split()) if test_file.is_file() else set()
    points: dict[str, list[tuple[float, float]]] = {}
    subjects: dict[str, set[str]] = {}
    with open(root / "fixations.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"image", "subject", "x", "y"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{root}/fixations.csv lacks columns {sorted(missing)}")
        for row in reader:
            try:
                xy = (float(row["x"]), float(row["y"]))
            except ValueError as exc:
                raise DatasetError(f"{root}/fixations.csv: bad row {row}") from exc
            points.setdefault(row["image"], []).append(xy)
            subjects.setdefault(row["image"], set()).add(row["subject"])
    out: list[GazeImage] = []
    for stem in sorted(points):
        if split != "all" and _split_of(stem, test) != split:
            continue
        path = root / "images" / f"{stem}.jpg"
        if not path.is_file():
            raise DatasetError(f"{root}: fixations for {stem!r} but no images/{stem}.jpg")
        out.append(GazeImage(name, stem, path, np.asarray(points[stem], np.float32),
                             len(subjects[stem])))
    return out


def load_rgb(image: GazeImage) -> np.ndarray:
    """The stimulus as RGB uint8 (H, W, 3)."""
    bgr = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"cannot decode {image.path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def fixation_pixels(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels fixations fall on: ``floor(v + 0.5)``, clipped to the image."""
    h, w = shape
    rows = np.clip(np.floor(points[:, 1] + 0.5).astype(np.int64), 0, h - 1)
    cols = np.clip(np.floor(points[:, 0] + 0.5).astype(np.int64), 0, w - 1)
    return rows, cols


def fixation_map(image: GazeImage, shape: tuple[int, int]) -> np.ndarray:
    """Binary fixations (float32, ``shape`` of the stored image)."""
    out = np.zeros(shape, np.float32)
    rows, cols = fixation_pixels(image.points, shape)
    out[rows, cols] = 1.0
    return out


def density_map(image: GazeImage, shape: tuple[int, int]) -> np.ndarray:
    """The continuous map (float32 in [0, 1], ``shape`` of the stored image) by the set's rule."""
    fix = fixation_map(image, shape).astype(np.float64)
    sigma = SIGMAS[image.dataset](*shape)
    blurred = cv2.GaussianBlur(fix, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    peak = blurred.max()
    return (blurred / peak if peak > 0 else blurred).astype(np.float32)


def scale_points(points: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Fixations moved from an image of ``src`` (rows, cols) to ``dst``, pixel centres aligned."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    out = np.empty_like(points)
    out[:, 0] = (points[:, 0] + 0.5) * sx - 0.5
    out[:, 1] = (points[:, 1] + 0.5) * sy - 0.5
    return out


def open_gaze_sets(roots: Sequence[str | Path], split: str) -> list[GazeImage]:
    """The images of ``split`` from several gaze-images roots (or from their parent folders)."""
    out: list[GazeImage] = []
    for root in map(Path, roots):
        if is_gaze_root(root):
            out.extend(read_gaze_images(root, split))
        elif root.is_dir() and any(is_gaze_root(c) for c in root.iterdir() if c.is_dir()):
            for child in sorted(c for c in root.iterdir() if c.is_dir() and is_gaze_root(c)):
                out.extend(read_gaze_images(child, split))
        else:
            raise DatasetError(f"{root} is not a gaze-images root (images/, fixations.csv)")
    return out
