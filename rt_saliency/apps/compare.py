"""The compression report: x264 with and without saliency QP offsets over a CRF or bitrate
ladder, scored by bitrate, PSNR, SSIM and EWPSNR (luma), with BD-rate on PSNR and EWPSNR.

Weights for EWPSNR (and the saliency behind the offsets) come from ground-truth maps when given
(a folder of per-frame images, e.g. DHF1K ``annotation/NNNN/maps``); the report says which.
When the same ground truth drives both the offsets and EWPSNR, the result is an *oracle* bound:
what perfect saliency would buy.  Frames are held in memory, so ``max_frames`` bounds memory.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from rt_saliency.atomic import write_bytes
from rt_saliency.encode.bdrate import bd_rate
from rt_saliency.encode.quality import PSNR_CAP_DB, decoded_luma, ewpsnr, psnr, ssim
from rt_saliency.encode.x264 import X264Config, X264Encoder
from rt_saliency.errors import ConfigError, DatasetError, InputError, InputNotFoundError
from rt_saliency.optional import import_optional
from rt_saliency.qp.mapping import QPConfig, QPMapper
from rt_saliency.stream.offline import predict_clip
from rt_saliency.yuv import planes_from_av_frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_CRFS: tuple[float, ...] = (18.0, 23.0, 28.0, 33.0)


@dataclass(frozen=True)
class CompareConfig:
    """The ladder (``crfs`` or ``bitrates`` in kbit/s), encoder preset and the QP mapping."""

    crfs: tuple[float, ...] = DEFAULT_CRFS
    bitrates: tuple[int, ...] | None = None
    preset: str = "veryfast"
    keyint: int = 250
    threads: int = 0
    max_frames: int = 150
    fps: float | None = None
    qp: QPConfig = field(default_factory=QPConfig)

    def __post_init__(self) -> None:
        ladder = self.bitrates if self.bitrates is not None else self.crfs
        if len(ladder) < 2:
            raise ConfigError("the ladder needs at least 2 points for a BD-rate (4 recommended)")
        if len(set(ladder)) != len(ladder):
            raise ConfigError(f"ladder points must be distinct, got {list(ladder)}")
        if self.max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.qp.block != 16:
            raise ConfigError("x264 takes one offset per 16x16 macroblock: qp.block must be 16")


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


def _encode(frames: Sequence[np.ndarray], size: tuple[int, int], fps: Fraction,
            cfg: X264Config, offsets: Sequence[np.ndarray] | None) -> bytes:
    h, w = size
    out = bytearray()
    with X264Encoder(w, h, fps, cfg) as enc:
        for i, frame in enumerate(frames):
            grid = None if offsets is None else offsets[i]
            for p in enc.encode(frame, grid, pts=i, pixel_format="yuv420p"):
                out += p.data
        for p in enc.flush():
            out += p.data
    return bytes(out)


def decode_luma(data: bytes) -> list[np.ndarray]:
    """Y planes of a raw Annex-B H.264 stream, in display order, as coded (no range stretch)."""
    return [y for y, _depth in decoded_luma(data, format="h264")]


def _score(frames: Sequence[np.ndarray], decoded: Sequence[np.ndarray], size: tuple[int, int],
           weights: Sequence[np.ndarray], nbytes: int, fps: Fraction) -> dict[str, float]:
    h = size[0]
    if len(decoded) != len(frames):
        raise InputError(f"decoded {len(decoded)} frames of {len(frames)}")
    p, s, e, mse = [], [], [], []
    for ref, dec, wmap in zip(frames, decoded, weights):
        y = ref[:h]
        p.append(psnr(y, dec))
        s.append(ssim(y, dec))
        e.append(ewpsnr(y, dec, wmap))
        mse.append(float(np.mean((y.astype(np.float64) - dec.astype(np.float64)) ** 2)))
    seconds = len(frames) / float(fps)
    mean_mse = float(np.mean(mse))
    return {"bytes": nbytes, "kbps": nbytes * 8 / seconds / 1000.0, "psnr": float(np.mean(p)),
            # FFmpeg's psnr filter summary: the PSNR of the clip's mean MSE
            "psnr_pooled": 10 * math.log10(255.0 ** 2 / mean_mse) if mean_mse > 0 else PSNR_CAP_DB,
            "ssim": float(np.mean(s)), "ewpsnr": float(np.mean(e))}


def predicted_maps(frames: Sequence[np.ndarray], fps: Fraction, predictor: Any) -> list[np.ndarray]:
    """Saliency of I420 ``frames`` from a :class:`StreamPredictor`, through the daemon's pipeline."""
    rgb = [cv2.cvtColor(f, cv2.COLOR_YUV2RGB_I420) for f in frames]
    return predict_clip(predictor, rgb, fps=float(fps))


def compare(video: str | Path, out_dir: str | Path, saliency: str | Path | None = None,
            config: CompareConfig | None = None, predictor: Any = None) -> dict[str, Any]:
    """Run the comparison and write ``report.json``, ``report.md`` and ``rate_quality.png``.

    Saliency comes from ``saliency`` (a folder of per-frame maps, e.g. ground truth) or, when it
    is ``None``, from ``predictor`` (a :class:`~rt_saliency.runtime.predictor.StreamPredictor`).
    """
    config = config or CompareConfig()
    if not Path(video).exists():
        raise InputNotFoundError(f"no such video or frame folder: {video}")
    if saliency is None and predictor is None:
        raise ConfigError("no saliency given: pass a folder of per-frame maps or a predictor")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames, fps, size = read_clip(video, config.max_frames, config.fps)
    if saliency is not None:
        maps = read_maps(saliency, len(frames))
        weights_info = {
            "source": "ground-truth saliency maps",
            "path": str(saliency),
            "note": "the same maps drive the QP offsets and weight EWPSNR (oracle saliency)",
        }
    else:
        maps = predicted_maps(frames, fps, predictor)
        weights_info = {
            "source": f"predicted saliency ({getattr(predictor, 'name', 'predictor')})",
            "path": None,
            "note": "the predicted maps drive the offsets and weight EWPSNR; with no ground "
                    "truth, EWPSNR measures quality where the predictor says people look",
        }
    mapper = QPMapper(size, config.qp)
    offsets = [mapper(m) for m in maps]
    weights = [np.maximum(m, 0.0) + 1e-6 for m in maps]  # 1e-6: a map may be all zero

    encodes = out / "encodes"  # every rung's stream, for checks with other tools
    encodes.mkdir(exist_ok=True)
    rate_key = "bitrate_kbps" if config.bitrates is not None else "crf"
    ladder = list(config.bitrates if config.bitrates is not None else config.crfs)
    points = []
    for value in ladder:
        rc = {"bitrate": int(value), "crf": None} if rate_key == "bitrate_kbps" else {"crf": float(value)}
        cfg = X264Config(preset=config.preset, keyint=config.keyint, threads=config.threads, **rc)
        point: dict[str, Any] = {rate_key: value}
        for name, grids in (("baseline", None), ("saliency", offsets)):
            data = _encode(frames, size, fps, cfg, grids)
            point[name] = _score(frames, decode_luma(data), size, weights, len(data), fps)
            kept = encodes / f"{name}_{rate_key.split('_')[0]}{value:g}.h264"
            write_bytes(kept, data)
            point[name]["file"] = str(kept)
        points.append(point)
        log.info("%s %s: baseline %.1f kbit/s, saliency %.1f kbit/s", rate_key, value,
                 point["baseline"]["kbps"], point["saliency"]["kbps"])

    def curve(name: str, metric: str) -> tuple[list[float], list[float]]:
        return [p[name]["kbps"] for p in points], [p[name][metric] for p in points]

    bd: dict[str, float | None] = {}
    for metric in ("psnr", "ewpsnr"):
        try:
            bd[metric] = bd_rate(*curve("baseline", metric), *curve("saliency", metric))
        except InputError as exc:
            log.warning("BD-rate on %s not defined: %s", metric, exc)
            bd[metric] = None
    stacked = np.stack(offsets)
    report = {
        "video": str(video),
        "frames": len(frames),
        "size": {"height": size[0], "width": size[1]},
        "fps": float(fps),
        "weights": weights_info,
        "qp_config": config.qp.to_dict(),
        "offsets": {"mean": float(stacked.mean()), "min": float(stacked.min()),
                    "max": float(stacked.max()), "mean_abs": float(np.abs(stacked).mean())},
        "encoder": {"preset": config.preset, "keyint": config.keyint, "rate_control": rate_key,
                    "ladder": ladder},
        "points": points,
        "bd_rate_percent": bd,
        "bd_rate_note": "saliency vs baseline; negative = fewer bits for equal quality "
                        "(piecewise-cubic Bjontegaard)",
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    plot(report, out / "rate_quality.png")
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    rk = report["encoder"]["rate_control"]
    lines = [
        "# Saliency-guided x264: compression report", "",
        f"- video: `{report['video']}` ({report['frames']} frames, "
        f"{report['size']['width']}x{report['size']['height']}, {report['fps']:g} fps)",
        f"- weights: {report['weights']['source']} (`{report['weights']['path']}`); "
        f"{report['weights']['note']}",
        f"- x264 preset {report['encoder']['preset']}, keyint {report['encoder']['keyint']}; "
        f"QP mapping {json.dumps(report['qp_config'])}",
        f"- offsets over all frames: mean {report['offsets']['mean']:.2f}, range "
        f"[{report['offsets']['min']:.2f}, {report['offsets']['max']:.2f}], mean |offset| "
        f"{report['offsets']['mean_abs']:.2f}", "",
        f"| {rk} | encode | kbit/s | PSNR dB | SSIM | EWPSNR dB |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in report["points"]:
        for name in ("baseline", "saliency"):
            m = p[name]
            lines.append(f"| {p[rk]:g} | {name} | {m['kbps']:.1f} | {m['psnr']:.2f} | "
                         f"{m['ssim']:.4f} | {m['ewpsnr']:.2f} |")
    bd = report["bd_rate_percent"]

    def fmt(v: float | None) -> str:
        return "n/a (curves do not overlap)" if v is None else f"{v:+.2f} %"

    lines += ["", f"BD-rate, saliency vs baseline (negative = saves bits): PSNR {fmt(bd['psnr'])}, "
              f"EWPSNR {fmt(bd['ewpsnr'])}.", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Rate-quality curves (PSNR and EWPSNR against kbit/s), PNG via matplotlib's Agg."""
    matplotlib = import_optional("matplotlib")

    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in zip(axes, ("psnr", "ewpsnr"), ("PSNR (dB)", "EWPSNR (dB)")):
        for name, style in (("baseline", "o-"), ("saliency", "s-")):
            xs = [p[name]["kbps"] for p in report["points"]]
            ys = [p[name][metric] for p in report["points"]]
            ax.plot(xs, ys, style, label=name)
        ax.set_xlabel("kbit/s")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    bd = report["bd_rate_percent"]
    fig.suptitle(f"BD-rate PSNR {bd['psnr']}, EWPSNR {bd['ewpsnr']} (%)" if None in bd.values()
                 else f"BD-rate PSNR {bd['psnr']:+.1f} %, EWPSNR {bd['ewpsnr']:+.1f} %")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
