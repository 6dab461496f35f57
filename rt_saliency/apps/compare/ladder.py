"""One rate ladder of encodes of the same samples: plain FFmpeg at every AQ mode (the outside
baselines) and our encoder with each method's QP offsets, scored on the decoded Y plane.

A *sample* is a clip (the whole video, or one gaze image as a one-frame clip) with the maps that
weight its quality (EWPSNR and the salient region) and, per saliency method, its offsets.  Every
sample of a ladder has one size, so each rung is one encode per kind (a gaze set is one
all-intra sequence).
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.atomic import write_bytes
from rt_saliency.encode import EncoderConfig, encoder_config, open_encoder, under_map
from rt_saliency.encode.bdrate import bd_rate
from rt_saliency.encode.ffmpeg_cli import FFMPEG_ENCODERS, ffmpeg_encoder_args
from rt_saliency.encode.quality import (
    PSNR_CAP_DB,
    decoded_luma,
    ewpsnr,
    psnr,
    ssim,
    weights_for,
)
from rt_saliency.errors import ConfigError, EncoderError, InputError
from rt_saliency.qp.mapping import QPConfig, QPMapper

log = logging.getLogger(__name__)

DEFAULT_CRFS: tuple[float, ...] = (18.0, 23.0, 28.0, 33.0)
#: x264's and x265's AQ modes: 0 off, 1 variance, 2 auto-variance, 3 auto-variance biased to
#: dark scenes
BASELINE_AQ_MODES: tuple[int, ...] = (0, 1, 2, 3)
#: the salient region: the pixels holding the top fifth of a frame's weight map
REGION_TOP_FRACTION = 0.2
METRICS: tuple[str, ...] = ("psnr", "ewpsnr", "psnr_salient", "psnr_rest")


@dataclass(frozen=True)
class CompareConfig:
    """The ladder (``crfs`` or ``bitrates`` in kbit/s), the encoder settings every encode shares
    (its rate fields are set per rung), the baselines' AQ modes and the QP mapping."""

    crfs: tuple[float, ...] = DEFAULT_CRFS
    bitrates: tuple[int, ...] | None = None
    encoder: EncoderConfig = field(default_factory=lambda: encoder_config("h264"))
    baseline_aq_modes: tuple[int, ...] = BASELINE_AQ_MODES
    max_frames: int = 150
    fps: float | None = None
    qp: QPConfig = field(default_factory=QPConfig)
    ffmpeg: str = "ffmpeg"
    #: 2: every encode of a bitrate ladder in two passes, so rungs land at equal rate
    passes: int = 1

    def __post_init__(self) -> None:
        ladder = self.ladder
        if len(ladder) < 2:
            raise ConfigError("the ladder needs at least 2 points for a BD-rate (4 recommended)")
        if len(set(ladder)) != len(ladder):
            raise ConfigError(f"ladder points must be distinct, got {list(ladder)}")
        if self.max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.qp.block != 16:
            raise ConfigError("the encoders take one offset per 16x16 block: qp.block must be 16")
        if not set(self.baseline_aq_modes) <= set(BASELINE_AQ_MODES):
            raise ConfigError(f"baseline AQ modes must be among {BASELINE_AQ_MODES}")
        if self.passes not in (1, 2):
            raise ConfigError(f"passes must be 1 or 2, got {self.passes}")
        if self.passes == 2 and self.bitrates is None:
            raise ConfigError("2-pass needs a bitrate ladder (--bitrates): CRF is one pass "
                              "already")

    def map_qp(self, rung: EncoderConfig) -> QPConfig:
        """The QP mapping of one rung, with its codec and CRF resolved
        (:meth:`QPConfig.for_codec`)."""
        return self.qp.for_codec(FFMPEG_ENCODERS[self.encoder.codec][1], rung.crf,
                                 aq_mode=rung.aq_mode, encoder_aq_strength=rung.aq_strength)

    @property
    def rate_key(self) -> str:
        return "bitrate_kbps" if self.bitrates is not None else "crf"

    @property
    def ladder(self) -> list[float]:
        return list(self.bitrates if self.bitrates is not None else self.crfs)

    def rung(self, value: float) -> EncoderConfig:
        """The shared encoder settings at one ladder point."""
        if self.bitrates is not None:
            return replace(self.encoder, bitrate=int(value), crf=None)
        return replace(self.encoder, crf=float(value), bitrate=None)


@dataclass
class Sample:
    """Frames (packed I420, one size), the maps that weight their quality, and per saliency
    method the map of every frame (any resolution) that its offsets come from."""

    name: str
    frames: list[np.ndarray]
    weights: list[np.ndarray]
    maps: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[0] * 2 // 3, self.frames[0].shape[1]

    def offsets(self, qp: QPConfig) -> dict[str, list[np.ndarray]]:
        """Per method, the offsets grid of every frame: the daemon's mapper over the sample
        (temporal smoothing and the rate centring's bit shares see its frames in order)."""
        h, w = self.size
        out = {}
        for name, maps in self.maps.items():
            mapper = QPMapper(self.size, qp)
            out[name] = [mapper(m, f[:h].astype(np.float32) / 255.0, i420_planes(f, h, w))
                         for f, m in zip(self.frames, maps)]
        return out


def i420_planes(frame: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Y, U, V views of one packed I420 frame ((3/2 H, W) uint8, even H and W)."""
    q = height // 4
    return (frame[:height], frame[height:height + q].reshape(height // 2, width // 2),
            frame[height + q:height + 2 * q].reshape(height // 2, width // 2))


def encode_ours(frames: Sequence[np.ndarray], size: tuple[int, int], fps: Fraction,
                config: EncoderConfig, offsets: Sequence[np.ndarray] | None,
                passes: int = 1) -> bytes:
    """Our encoder (the one ``run -o`` uses) over packed I420 frames, as one raw stream
    (``passes`` 2: a first pass into a stats file, then the pass that is kept)."""
    if passes == 2:
        with tempfile.TemporaryDirectory(prefix="rts-2pass-") as tmp:
            stats = str(Path(tmp) / "x264.stats")
            encode_ours(frames, size, fps, replace(config, pass_number=1, stats=stats), offsets)
            return encode_ours(frames, size, fps, replace(config, pass_number=2, stats=stats),
                               offsets)
    h, w = size
    out = bytearray()
    with open_encoder(FFMPEG_ENCODERS[config.codec][1], w, h, fps, config) as enc:
        for i, frame in enumerate(frames):
            grid = None if offsets is None else offsets[i]
            for p in enc.encode(frame, grid, pts=i, pixel_format="yuv420p"):
                out += p.data
        for p in enc.flush():
            out += p.data
    return bytes(out)


def encode_ffmpeg(frames: Sequence[np.ndarray], size: tuple[int, int], fps: Fraction,
                  config: EncoderConfig, aq_mode: int, ffmpeg: str = "ffmpeg",
                  passes: int = 1) -> bytes:
    """Plain ``ffmpeg -c:v libx264|libx265`` with the same settings and ``aq_mode``
    (``passes`` 2: ``-pass 1`` then ``-pass 2`` with one log file, as x264's users do; libx265
    takes its passes as ``-x265-params pass=N:stats=FILE``)."""
    h, w = size
    _, muxer = FFMPEG_ENCODERS[config.codec]
    with tempfile.TemporaryDirectory(prefix="rts-compare-") as tmp:
        raw, out = Path(tmp) / "in.yuv", Path(tmp) / f"out.{muxer}"
        with raw.open("wb") as fh:
            for frame in frames:
                fh.write(np.ascontiguousarray(frame).tobytes())
        head = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r",
                f"{fps.numerator}/{fps.denominator}", "-i", str(raw),
                *ffmpeg_encoder_args(config, aq_mode=aq_mode)]
        log = str(Path(tmp) / "ffmpeg2pass")
        commands = ([[*_pass_args(head, config.codec, n, log), "-f", muxer,
                      os.devnull if n == 1 else str(out)] for n in (1, 2)]
                    if passes == 2 else [[*head, "-f", muxer, str(out)]])
        try:
            for cmd in commands:
                subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
        except FileNotFoundError:
            raise EncoderError(f"{ffmpeg} not found: the baselines are plain FFmpeg encodes "
                               "(install it: scripts/setup.sh)") from None
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip().splitlines()
            raise EncoderError(f"ffmpeg baseline (aq-mode {aq_mode}) failed: "
                               f"{detail[-1] if detail else exc}") from None
        return out.read_bytes()


def _pass_args(head: list[str], codec: str, number: int, log: str) -> list[str]:
    """``head`` (an ffmpeg command up to its encoder options) as pass ``number`` of two."""
    if codec == "x264":
        return [*head, "-pass", str(number), "-passlogfile", log]
    args, extra = list(head), f"pass={number}:stats={log}"
    if "-x265-params" in args:
        i = args.index("-x265-params") + 1
        args[i] = f"{args[i]}:{extra}"
        return args
    return [*args, "-x265-params", extra]


def salient_region(weights: np.ndarray, fraction: float = REGION_TOP_FRACTION) -> np.ndarray:
    """Boolean mask of the top ``fraction`` of pixels by ``weights``: those above the quantile
    (a map that is zero over most of the frame gives its non-zero part); empty for a flat map."""
    threshold = np.quantile(weights, 1.0 - fraction)
    mask = weights > threshold
    if not mask.any():  # the top values tie at the maximum
        mask = weights >= threshold
    if mask.all():  # a flat map has no salient region: call all of it the rest
        mask[:] = False
    return mask


def _masked_psnr(ref: np.ndarray, test: np.ndarray, mask: np.ndarray) -> float | None:
    if not mask.any():
        return None
    err = ref[mask].astype(np.float64) - test[mask].astype(np.float64)
    mse = float(np.mean(err * err))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(255.0 ** 2 / mse))


def score(samples: Sequence[Sample], decoded: Sequence[np.ndarray], nbytes: int,
          fps: Fraction) -> dict[str, float]:
    """Rate and luma quality of one encode of every sample's frames (in order): per-frame
    means of PSNR, SSIM, EWPSNR and PSNR inside/outside the salient region, bits per pixel,
    kbit/s at ``fps``, and FFmpeg's psnr-filter summary (from the mean MSE)."""
    refs = [(f, w) for s in samples for f, w in zip(s.frames, s.weights)]
    if len(decoded) != len(refs):
        raise InputError(f"decoded {len(decoded)} frames of {len(refs)}")
    rows: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "ewpsnr", "psnr_salient",
                                                    "psnr_rest", "mse")}
    pixels = 0
    for (frame, wmap), dec in zip(refs, decoded):
        h = frame.shape[0] * 2 // 3
        y = frame[:h]
        pixels += y.size
        rows["psnr"].append(psnr(y, dec))
        rows["ssim"].append(ssim(y, dec))
        rows["ewpsnr"].append(ewpsnr(y, dec, wmap))
        region = salient_region(weights_for(wmap, y.shape))
        for key, mask in (("psnr_salient", region), ("psnr_rest", ~region)):
            value = _masked_psnr(y, dec, mask)
            if value is not None:
                rows[key].append(value)
        rows["mse"].append(float(np.mean((y.astype(np.float64) - dec) ** 2)))
    mean_mse = float(np.mean(rows.pop("mse")))
    out = {k: float(np.mean(v)) if v else float("nan") for k, v in rows.items()}
    out.update(bytes=nbytes, bpp=nbytes * 8 / pixels,
               kbps=nbytes * 8 / (len(refs) / float(fps)) / 1000.0,
               psnr_pooled=10 * math.log10(255.0 ** 2 / mean_mse) if mean_mse > 0
               else PSNR_CAP_DB)
    return out


def baseline_name(aq_mode: int, codec: str = "x264") -> str:
    return f"{codec} aq-mode {aq_mode}"


def run_ladder(samples: Sequence[Sample], fps: Fraction, config: CompareConfig,
               encodes_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every rung: the FFmpeg baselines and one saliency encode per method, scored."""
    if not samples:
        raise InputError("nothing to compare: no samples")
    size = samples[0].size
    if any(s.size != size for s in samples):
        raise InputError("every sample of a ladder must have one size")
    frames = [f for s in samples for f in s.frames]
    methods = list(samples[0].maps)
    fmt = FFMPEG_ENCODERS[config.encoder.codec][1]
    points = []
    for value in config.ladder:
        rung = config.rung(value)
        map_qp = config.map_qp(rung)
        offsets = [s.offsets(map_qp) for s in samples]
        point: dict[str, Any] = {config.rate_key: value, "encodes": {}}
        kinds: list[tuple[str, Any]] = [(baseline_name(m, config.encoder.codec), m)
                                        for m in config.baseline_aq_modes]
        kinds += [(f"saliency/{m}", m) for m in methods]
        for name, what in kinds:
            if isinstance(what, int):
                data = encode_ffmpeg(frames, size, fps, rung, what, config.ffmpeg, config.passes)
            else:
                grids = [g for o in offsets for g in o[what]]
                data = encode_ours(frames, size, fps, under_map(rung, map_qp), grids,
                                   config.passes)
            decoded = [y for y, _ in decoded_luma(data, format=fmt)]
            row = score(samples, decoded, len(data), fps)
            if encodes_dir is not None:
                kept = encodes_dir / f"{name.replace(' ', '_').replace('/', '_')}_" \
                                     f"{config.rate_key.split('_')[0]}{value:g}.{fmt}"
                write_bytes(kept, data)
                row["file"] = str(kept)
            point["encodes"][name] = row
            log.info("%s %g, %s: %.4f bpp, PSNR %.2f, EWPSNR %.2f dB", config.rate_key, value,
                     name, row["bpp"], row["psnr"], row["ewpsnr"])
        points.append(point)
    return points


def bd_rates(points: Sequence[dict[str, Any]], test: str, anchor: str) -> dict[str, float | None]:
    """BD-rate (percent, negative = ``test`` saves bits) of ``test`` against ``anchor`` on
    every metric, over bits per pixel; ``None`` where the curves do not overlap."""
    out: dict[str, float | None] = {}
    for metric in METRICS:
        curves = []
        for name in (anchor, test):
            curves += [[p["encodes"][name]["bpp"] for p in points],
                       [p["encodes"][name][metric] for p in points]]
        try:
            out[metric] = bd_rate(*curves)
        except InputError as exc:
            log.info("BD-rate on %s of %s vs %s not defined: %s", metric, test, anchor, exc)
            out[metric] = None
    return out


def summarise(points: Sequence[dict[str, Any]], config: CompareConfig) -> dict[str, Any]:
    """BD-rates of every saliency encode against every baseline, and against the strongest
    baseline: the AQ mode whose EWPSNR curve is hardest to beat (highest EWPSNR BD-rate)."""
    names = list(points[0]["encodes"])
    baselines = [baseline_name(m, config.encoder.codec) for m in config.baseline_aq_modes]
    tests = [n for n in names if n.startswith("saliency/")]
    table = {t: {b: bd_rates(points, t, b) for b in baselines} for t in tests}
    best: dict[str, Any] = {}
    for t in tests:
        scored = [(v["ewpsnr"], b) for b, v in table[t].items() if v["ewpsnr"] is not None]
        if scored:
            _, strongest = max(scored)
            best[t] = {"baseline": strongest, **table[t][strongest]}
    return {"against_each": table, "against_strongest": best}
