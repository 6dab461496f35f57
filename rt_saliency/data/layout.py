"""Readers for the on-disk layouts of DHF1K and of Hollywood-2 / UCF Sports as ACLNet ships them.

A reader turns a root folder into a list of :class:`VideoRecord` (where each frame, continuous map
and fixation map of one video lives) for one split.  Records are cheap: nothing is decoded here
except image headers, and each video's frame / map / fixation counts and sizes are checked so a
broken data set fails at open time with a :class:`DatasetError` naming the video, not in the
middle of an epoch.  Trees of both layouts are in ``docs/data.md``.

DHF1K: ``video/NNN.AVI`` or extracted frames ``frames/NNN/*.png|jpg`` (frames win when both
exist), ``annotation/NNNN/{maps,fixation}/NNNN.png``; videos 1-600 train, 601-700 val, 701-1000
test (by number, as the benchmark splits them).

ACLNet (Hollywood-2, UCF Sports): ``training|testing/<video>/{images,maps,fixation}/*``; training
is the train split, testing the test split; there is no val split.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from rt_saliency.errors import ConfigError, DatasetError, InputNotFoundError
from rt_saliency.optional import import_optional

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")
#: DHF1K's split by video number: inclusive ranges
DHF1K_SPLITS = {"train": (1, 600), "val": (601, 700), "test": (701, 1000)}
ACLNET_SPLITS = {"train": "training", "test": "testing"}


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video: where its frames and ground truth are, and their count and size."""

    dataset: str
    name: str
    #: extracted frames in order, or None when ``video`` holds them
    frames: tuple[Path, ...] | None
    #: a video file, when frames are not extracted
    video: Path | None
    maps: tuple[Path, ...]
    fixations: tuple[Path, ...]
    #: (height, width) of the ground truth (frames are checked against it)
    size: tuple[int, int]
    #: the data set root the video belongs to (where its flow cache lives)
    root: Path = Path(".")

    @property
    def num_frames(self) -> int:
        return len(self.maps)


def _sorted_images(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list[object]:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, read from the PNG header when possible (no decode)."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(height), int(width)

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return int(img.shape[0]), int(img.shape[1])


def video_info(path: Path) -> tuple[int, tuple[int, int]]:
    """(frame count, (height, width)) of a video file, counted by decoding headers with PyAV."""
    av = import_optional("av")

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = sum(1 for _ in container.demux(stream) if _.size > 0)
            return count, (int(stream.codec_context.height), int(stream.codec_context.width))
    except (av.FFmpegError, IndexError) as exc:
        raise DatasetError(f"cannot read video {path}: {exc}") from exc


def _check_record(
    root: Path,
    dataset: str,
    name: str,
    frames: Sequence[Path] | None,
    video: Path | None,
    maps: Sequence[Path],
    fixations: Sequence[Path],
    check_video: bool,
) -> VideoRecord:
    where = f"{dataset} video {name}"
    if not maps:
        raise DatasetError(f"{where}: no saliency maps")
    if len(fixations) != len(maps):
        raise DatasetError(f"{where}: {len(maps)} maps but {len(fixations)} fixation maps")
    size = image_size(maps[0])
    if image_size(fixations[0]) != size:
        raise DatasetError(f"{where}: fixation size {image_size(fixations[0])} != map size {size}")
    if frames is not None:
        if len(frames) != len(maps):
            raise DatasetError(f"{where}: {len(frames)} frames but {len(maps)} maps")
        if image_size(frames[0]) != size:
            raise DatasetError(f"{where}: frame size {image_size(frames[0])} != map size {size}")
    elif video is not None and check_video:
        count, vsize = video_info(video)
        if count != len(maps):
            raise DatasetError(f"{where}: {count} frames in {video.name} but {len(maps)} maps")
        if vsize != size:
            raise DatasetError(f"{where}: video size {vsize} != map size {size}")
    return VideoRecord(
        root=root,
        dataset=dataset,
        name=name,
        frames=tuple(frames) if frames is not None else None,
        video=video,
        maps=tuple(maps),
        fixations=tuple(fixations),
        size=size,
    )


def detect_layout(root: Path) -> str:
    """``"dhf1k"`` or ``"aclnet"`` from the folders under ``root``."""
    if (root / "annotation").is_dir():
        return "dhf1k"
    if (root / "training").is_dir() or (root / "testing").is_dir():
        return "aclnet"
    raise DatasetError(
        f"{root}: not a known layout (expected annotation/ for DHF1K or training|testing/ for "
        "the ACLNet layout of Hollywood-2 / UCF Sports; see docs/data.md)"
    )


def read_dhf1k(
    root: Path, split: str, check_video: bool = True, dataset: str = "dhf1k"
) -> list[VideoRecord]:
    """Videos of one DHF1K split (by video number), checked."""
    lo, hi = DHF1K_SPLITS[split]
    ann = root / "annotation"
    frames_dir, video_dir = root / "frames", root / "video"
    videos: dict[int, Path] = {}
    if video_dir.is_dir():
        for p in video_dir.iterdir():
            if p.suffix.lower() in VIDEO_SUFFIXES and p.stem.isdigit():
                videos[int(p.stem)] = p
    extracted: dict[int, Path] = {}
    if frames_dir.is_dir():
        for p in frames_dir.iterdir():
            if p.is_dir() and p.name.isdigit():
                extracted[int(p.name)] = p
    records = []
    for folder in sorted(ann.iterdir(), key=_natural_key):
        if not (folder.is_dir() and folder.name.isdigit()):
            continue
        number = int(folder.name)
        if not lo <= number <= hi:
            continue
        name = f"{number:03d}"
        for sub in ("maps", "fixation"):
            if not (folder / sub).is_dir():
                raise DatasetError(f"DHF1K video {name}: missing {folder / sub}")
        maps = _sorted_images(folder / "maps")
        fixations = _sorted_images(folder / "fixation")
        if number in extracted:
            frames: list[Path] | None = _sorted_images(extracted[number])
            video = None
        elif number in videos:
            frames, video = None, videos[number]
        else:
            raise DatasetError(
                f"DHF1K video {name}: annotation present but neither {frames_dir / name}/ nor "
                f"{video_dir / name}.AVI exists"
            )
        records.append(
            _check_record(root, dataset, name, frames, video, maps, fixations, check_video)
        )
    return records


def read_aclnet(root: Path, split: str, dataset: str = "aclnet") -> list[VideoRecord]:
    """Videos of one split of the ACLNet layout (Hollywood-2, UCF Sports), checked."""
    if split not in ACLNET_SPLITS:
        raise ConfigError(
            f"{root}: the ACLNet layout has no {split!r} split (only train=training/, "
            "test=testing/)"
        )
    base = root / ACLNET_SPLITS[split]
    if not base.is_dir():
        raise DatasetError(f"{root}: missing {base.name}/ for the {split} split")
    records = []
    for folder in sorted((p for p in base.iterdir() if p.is_dir()), key=_natural_key):
        subs = {}
        for sub in ("images", "maps", "fixation"):
            if not (folder / sub).is_dir():
                raise DatasetError(f"{dataset} video {folder.name}: missing {sub}/ in {folder}")
            subs[sub] = _sorted_images(folder / sub)
        records.append(
            _check_record(
                root, dataset, folder.name, subs["images"], None, subs["maps"],
                subs["fixation"], False,
            )
        )
    return records


def dataset_name(root: Path) -> str:
    """A short name for a root: its folder name, lower-cased."""
    return root.resolve().name.lower() or "data"


def open_dataset(root: str | Path, split: str, check_video: bool = True) -> list[VideoRecord]:
    """Records of one split of the data set at ``root`` (layout detected); never empty."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"data set root {root} does not exist")
    layout = detect_layout(root)
    if layout == "dhf1k":
        records = read_dhf1k(root, split, check_video, dataset_name(root))
    else:
        records = read_aclnet(root, split, dataset_name(root))
    if not records:
        raise DatasetError(f"{root}: no annotated videos in the {split} split ({layout} layout)")
    return records


def open_datasets(roots: Iterable[str | Path], split: str) -> list[VideoRecord]:
    """Records of several roots combined (the paper trains on DHF1K + Hollywood-2 + UCF)."""
    records: list[VideoRecord] = []
    for root in roots:
        records.extend(open_dataset(root, split))
    if not records:
        raise ConfigError("no data set roots given")
    return records
