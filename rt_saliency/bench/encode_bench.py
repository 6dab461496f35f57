"""Encode-stage overhead: our encoder path against plain ``ffmpeg -c:v libx264|libx265``.

Both read the same lossless y4m (vtest.avi scaled to the asked size) and write a raw stream;
ours decodes with PyAV into :class:`~rt_saliency.yuv.YuvFrame` planes and encodes with the C
extension, flat and with a moving offsets map (the map is made beforehand: the QP mapping is its
own stage).  Runs alternate (ffmpeg, ours flat, ours mapped, ...) and medians are reported, so
the ratios come from one run on the same machine state; absolute seconds on a shared machine
are not comparable across runs.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.encode import encoder_config, open_encoder
from rt_saliency.errors import ConfigError, InputNotFoundError
from rt_saliency.optional import import_optional
from rt_saliency.yuv import yuv_frame_from_av

FFMPEG_CODECS = {"h264": "libx264", "hevc": "libx265"}


@dataclass(frozen=True)
class EncodeBenchConfig:
    """What to time: ``frames`` frames of ``size`` (H, W) at ``preset``/``crf``, ``threads``
    encoder threads on both sides, ``repeats`` alternating rounds."""

    size: tuple[int, int] = (720, 1280)
    frames: int = 120
    codec: str = "h264"
    preset: str = "medium"
    crf: float = 23.0
    threads: int = 2
    repeats: int = 3

    def __post_init__(self) -> None:
        if self.codec not in FFMPEG_CODECS:
            raise ConfigError(f"codec must be one of {', '.join(FFMPEG_CODECS)}")
        if self.frames < 1 or self.repeats < 1 or self.threads < 1:
            raise ConfigError("frames, repeats and threads must be >= 1")


def make_source(video: Path, out: Path, size: tuple[int, int], frames: int,
                ffmpeg: str = "ffmpeg") -> Path:
    """A lossless yuv420p y4m of ``video`` scaled to ``size`` (H, W)."""
    if not Path(video).is_file():
        raise InputNotFoundError(f"no such video: {video}")
    h, w = size
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
                    "-frames:v", str(frames), "-vf", f"scale={w}:{h}:flags=bicubic",
                    "-pix_fmt", "yuv420p", str(out)], check=True, timeout=600)
    return out


def moving_maps(shape: tuple[int, int], count: int) -> list[np.ndarray]:
    """Offsets grids of a salient blob crossing the frame (-6 at its centre, +3 far away)."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    maps = []
    for i in range(count):
        cx = cols * (0.2 + 0.6 * i / max(count - 1, 1))
        d2 = ((xx - cx) / (cols / 6)) ** 2 + ((yy - rows / 2) / (rows / 4)) ** 2
        maps.append((3.0 - 9.0 * np.exp(-d2)).astype(np.float32))
    return maps


def _ffmpeg_run(ffmpeg: str, src: Path, out: Path, config: EncodeBenchConfig) -> float:
    fmt = "h264" if config.codec == "h264" else "hevc"
    start = time.perf_counter()
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                    "-c:v", FFMPEG_CODECS[config.codec], "-preset", config.preset, "-crf",
                    str(config.crf), "-threads", str(config.threads), "-f", fmt, str(out)],
                   check=True, timeout=1800, capture_output=True)
    return time.perf_counter() - start


def _ours_run(src: Path, out: Path, config: EncodeBenchConfig,
              maps: Sequence[np.ndarray] | None) -> float:
    av = import_optional("av")

    start = time.perf_counter()
    with av.open(str(src)) as container, out.open("wb") as fh:
        stream = container.streams.video[0]
        frames = (yuv_frame_from_av(f) for f in container.decode(stream))
        first = next(frames)
        cfg = encoder_config(config.codec, preset=config.preset, crf=config.crf,
                             threads=config.threads)
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        with open_encoder(config.codec, first.width, first.height, stream.average_rate, cfg,
                          pixel_format=first.format, time_base=tb) as enc:
            for i, frame in enumerate(_chain(first, frames)):
                grid = None if maps is None else maps[i % len(maps)]
                for packet in enc.encode(frame, grid):
                    fh.write(packet.data)
            for packet in enc.flush():
                fh.write(packet.data)
    return time.perf_counter() - start


def _chain(first: Any, rest: Any) -> Any:
    yield first
    yield from rest


def bench_encode_overhead(video: Path, config: EncodeBenchConfig | None = None,
                          ffmpeg: str | None = None, work_dir: Path | None = None
                          ) -> dict[str, Any]:
    """Median seconds of plain ffmpeg, ours flat and ours with a map; ratios to ffmpeg; bytes."""
    config = config or EncodeBenchConfig()
    ffmpeg = ffmpeg or shutil.which("ffmpeg")
    if ffmpeg is None:
        raise InputNotFoundError("ffmpeg is not installed (scripts/setup.sh)")
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        tmp_path = Path(tmp)
        src = make_source(Path(video), tmp_path / "src.y4m", config.size, config.frames, ffmpeg)
        h, w = config.size
        maps = moving_maps((-(-h // 16), -(-w // 16)), config.frames)
        times: dict[str, list[float]] = {"ffmpeg": [], "ours_flat": [], "ours_map": []}
        sizes: dict[str, int] = {}
        for _ in range(config.repeats):
            out = tmp_path / "ffmpeg.out"
            times["ffmpeg"].append(_ffmpeg_run(ffmpeg, src, out, config))
            sizes["ffmpeg"] = out.stat().st_size
            out = tmp_path / "flat.out"
            times["ours_flat"].append(_ours_run(src, out, config, None))
            sizes["ours_flat"] = out.stat().st_size
            out = tmp_path / "map.out"
            times["ours_map"].append(_ours_run(src, out, config, maps))
            sizes["ours_map"] = out.stat().st_size
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "config": asdict(config),
        "seconds": times,
        "median_seconds": median,
        "ratio_to_ffmpeg": {k: median[k] / median["ffmpeg"] for k in ("ours_flat", "ours_map")},
        "fps": {k: config.frames / v for k, v in median.items()},
        "bytes": sizes,
        "flat_bytes_equal_ffmpeg": sizes["ours_flat"] == sizes["ffmpeg"],
    }


def report_markdown(result: dict[str, Any], command: str = "") -> str:
    """A short markdown table of :func:`bench_encode_overhead`'s result."""
    c = result["config"]
    lines = [f"# Encode-stage overhead, {c['size'][1]}x{c['size'][0]}, {c['codec']} "
             f"{c['preset']} CRF {c['crf']:g}, {c['threads']} threads, {c['frames']} frames",
             "", f"Command: `{command}`" if command else "", "",
             "| path | median s | fps | ratio to ffmpeg | bytes |", "| --- | ---: | ---: | ---: | ---: |"]
    for key, label in (("ffmpeg", "plain ffmpeg"), ("ours_flat", "ours, flat offsets"),
                       ("ours_map", "ours, moving map")):
        ratio = 1.0 if key == "ffmpeg" else result["ratio_to_ffmpeg"][key]
        lines.append(f"| {label} | {result['median_seconds'][key]:.2f} | "
                     f"{result['fps'][key]:.1f} | {ratio:.3f} | {result['bytes'][key]} |")
    lines += ["", f"Flat output byte-identical in size to ffmpeg's: "
                  f"{result['flat_bytes_equal_ffmpeg']}. Rounds: {c['repeats']} (alternating); "
                  "all times: " + ", ".join(f"{k} {[round(t, 2) for t in v]}"
                                            for k, v in result["seconds"].items()), ""]
    return "\n".join(lines)
