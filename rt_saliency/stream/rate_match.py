"""Rate matching: a saliency-guided encode of a file that costs what plain ``ffmpeg`` costs at the
same CRF, measured rather than modelled.

The rate centring of the QP map (``QPConfig.centre="rate"``) is a feed-forward model of where a
frame's bits go: neutral in the median over real clips, but one clip can land 10-20 % away
(``docs/qp.md``).  For a file there is time to close the loop on the encoder's own bytes, and
``run -o`` of a file does (``--rate-match auto``, the default):

1. encode the file once with plain ``ffmpeg -c:v libx264|libx265`` and the same settings (the
   counterfactual the user would otherwise ship);
2. run the daemon with the map, measure the video bytes, move the map's constant QP bias
   (``QPConfig.rate_bias``) by a secant step on log-bytes, and run again, until the bytes are
   within ``tolerance`` of the reference (or the passes run out: the closest pass is kept).

Each pass is a whole daemon run of a :class:`~rt_saliency.stream.file_job.FileJob`: into a
temporary folder beside the outputs, which are replaced only by the finished, chosen pass (a
failure or a stop leaves them as they were), with the predictor opened once.  Cost: one plain
encode plus one to ``max_passes`` daemon runs (two or three on the bench clips).
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av

from rt_saliency.encode import EncoderConfig
from rt_saliency.encode.ffmpeg_cli import FFMPEG_ENCODERS, ffmpeg_encoder_args
from rt_saliency.errors import ConfigError, EncoderError, InputError
from rt_saliency.stream.daemon import DaemonOptions
from rt_saliency.stream.file_job import FileJob, check_file_job
from rt_saliency.stream.pipeline import Pipeline
from rt_saliency.stream.stats import StreamStats
from rt_saliency.yuv import pixel_format

log = logging.getLogger(__name__)

#: QP of whole-map bias per halving of the bytes for the first step (later steps are secants).
#: Measured on the five bench clips at CRF 23/28/33, preset medium, with the defaults of
#: 2026-12-06 (strength 1.5, x264's AQ 0.25 under the map), where a first step of 4 fell short
#: and secants found the bias: an octave every 4.6-7.3 QP from the first pass (median 5.7 over
#: nine x264 pairs; 4.7-5.7 over three x265 ones; docs/qp.md)
FIRST_STEP_QP_PER_OCTAVE = 5.0


class PlainEncodeError(EncoderError):
    """Plain ffmpeg could not encode the source with these settings (an odd-sized 4:2:0
    picture, which our encoder pads, is one), so there is no reference to match."""


@dataclass(frozen=True)
class RatePass:
    """One guided encode: the QP bias it ran with, its video bytes, its wall time and whether
    it replayed the first pass's saliency instead of running the network."""

    bias: float
    video_bytes: int
    seconds: float = 0.0
    replayed: bool = False

    def change(self, reference: int) -> float:
        """Bytes against the reference, as a fraction (+0.02 = 2 % more)."""
        return self.video_bytes / reference - 1.0


@dataclass(frozen=True)
class RateMatch:
    """The outcome: the reference's bytes, every pass and the one kept (``chosen``)."""

    reference_bytes: int
    passes: tuple[RatePass, ...]
    chosen: int
    tolerance: float
    stats: StreamStats | None = None
    #: where the input changed size (the one pass kept ends there), as ``Pipeline.size_change``
    size_change: tuple[int, tuple[int, int], tuple[int, int]] | None = None
    #: wall time of the plain ffmpeg encode
    reference_seconds: float = 0.0

    @property
    def kept(self) -> RatePass:
        return self.passes[self.chosen]

    @property
    def change(self) -> float:
        """The kept encode's bytes against plain ffmpeg, as a fraction."""
        return self.kept.change(self.reference_bytes)

    @property
    def matched(self) -> bool:
        return abs(self.change) <= self.tolerance

    def as_dict(self) -> dict[str, object]:
        return {"reference_video_bytes": self.reference_bytes, "tolerance": self.tolerance,
                "matched": self.matched, "rate_bias": self.kept.bias,
                "change_percent": round(100.0 * self.change, 3),
                "reference_seconds": round(self.reference_seconds, 3),
                "passes": [{"rate_bias": p.bias, "video_bytes": p.video_bytes,
                            "change_percent": round(100.0 * p.change(self.reference_bytes), 3),
                            "seconds": round(p.seconds, 3), "replayed": p.replayed}
                           for p in self.passes]}


def video_bytes(path: str | Path) -> int:
    """Bytes of the first video stream in a container file: its packets and its out-of-band
    headers (no decoding).  The headers count because muxers differ in where they put them:
    FFmpeg's Matroska muxer moves x265's parameter sets and its 2.4 kB options SEI into the
    stream's extradata, our muxer leaves them in the first packet."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            headers = len(container.streams.video[0].codec_context.extradata or b"")
            return headers + sum(packet.size for packet in container.demux(video=0)
                                 if packet.size)
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot read the encode back: {exc}") from exc


def coded_pixel_format(source: str | Path) -> str | None:
    """``None`` when ``source``'s frames reach the encoder as decoded (planar YUV), else the
    format our RGB path converts them to (``yuv420p``), which plain ffmpeg must be told: left
    alone it would pick 4:4:4 for an RGB source."""
    try:
        with av.open(str(source)) as container:
            name = container.streams.video[0].codec_context.pix_fmt if container.streams.video \
                else None
    except av.FFmpegError as exc:
        raise InputError(f"{source}: cannot open it: {exc}") from exc
    try:
        pixel_format(name or "")
    except InputError:
        return "yuv420p"
    return None


def reference_bytes(source: str | Path, config: EncoderConfig, workdir: str | Path, *,
                    max_frames: int | None = None, pix_fmt: str | None = None,
                    ffmpeg: str = "ffmpeg") -> int:
    """Video bytes of plain ``ffmpeg -i SOURCE -c:v libx264|libx265`` with ``config``'s
    settings (every frame kept as decoded, time stamps passed through; ``pix_fmt`` converts the
    frames first), into Matroska."""
    exe = shutil.which(ffmpeg)
    if exe is None:
        raise EncoderError(f"rate matching encodes the plain reference with the {ffmpeg!r} "
                           "command, which is not on PATH (apt-get install ffmpeg)")
    out = Path(workdir) / f"reference.{FFMPEG_ENCODERS[config.codec][1]}.mkv"
    # "file:" and absolute paths: a name that starts with "-" or holds ":" stays a file name
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i",
           f"file:{Path(source).resolve()}",
           "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough"]
    if max_frames is not None:
        cmd += ["-frames:v", str(max_frames)]
    if pix_fmt is not None:
        cmd += ["-pix_fmt", pix_fmt]
    cmd += [*ffmpeg_encoder_args(config), "-f", "matroska", f"file:{out.resolve()}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise PlainEncodeError(f"the plain ffmpeg reference encode failed: {last}")
    return video_bytes(out)


def next_bias(passes: list[RatePass], reference: int) -> float:
    """The QP bias of the next pass: a step of :data:`FIRST_STEP_QP_PER_OCTAVE` from one pass,
    a secant on log-bytes through the last two after that (bias up = fewer bytes).  The
    secant's QP per octave is held within half and twice the first step's: the encoder's bytes
    answer a small bias change in steps (cup.mp4, CRF 33: +1.7 % for 0.4 QP, then +5.9 % for
    the next 0.5), and an unbounded secant through such a step overshoots."""
    last = passes[-1]
    error = math.log2(last.video_bytes / reference)
    per_octave = FIRST_STEP_QP_PER_OCTAVE
    if len(passes) >= 2 and passes[-2].bias != last.bias:
        prev = passes[-2]
        slope = (math.log2(last.video_bytes) - math.log2(prev.video_bytes)) / (last.bias - prev.bias)
        if slope < 0:  # a secant the wrong way round (noise) falls back on the first step
            per_octave = min(max(-1.0 / slope, FIRST_STEP_QP_PER_OCTAVE / 2),
                             2 * FIRST_STEP_QP_PER_OCTAVE)
    return last.bias + per_octave * error


def check_rate_matchable(options: DaemonOptions) -> EncoderConfig:
    """The encode's settings, or ConfigError unless ``options`` describe what rate matching can
    redo: a CRF encode of a local video file into local files, with the rate centring and a map
    that is not flat (a flat map's encode is plain ffmpeg's already)."""
    enc = check_file_job(options, "--rate-match")
    if options.qp.strength == 0:
        raise ConfigError("--rate-match moves a map's QP bias: with --qp-strength 0 the map is "
                          "flat and the encode is plain ffmpeg's already")
    if enc.crf is None:
        raise ConfigError("--rate-match holds a CRF encode at plain ffmpeg's bytes; with "
                          "--bitrate the encoder's rate control already holds the rate")
    if options.qp.centre != "rate":
        raise ConfigError("--rate-match moves the rate centring's QP bias: it needs "
                          "--qp-centre rate (the default)")
    return enc


def match_rate(options: DaemonOptions, *, tolerance: float = 0.02, max_passes: int = 4,
               attach: Callable[[Pipeline], None] | None = None,
               stopped: Callable[[], bool] = lambda: False) -> RateMatch:
    """Encode ``options``' input to its outputs with the QP bias that brings the video bytes
    within ``tolerance`` (a fraction) of plain ffmpeg's at the same settings.

    The plain encode takes the output's encoder settings as the user gave them: the daemon
    changes them under the map (:func:`~rt_saliency.encode.under_map`), plain ffmpeg does not.

    ``attach`` is handed each pass's pipeline (a signal handler drains it); when ``stopped()``
    is true after a pass the match ends with :class:`StoppedError` and no output is replaced.
    Raises ConfigError for what cannot be matched (:func:`check_rate_matchable`).
    """
    enc = check_rate_matchable(options)
    if not 0.0 < tolerance < 0.5:
        raise ConfigError(f"--rate-tolerance must be above 0 and below 50 %, got "
                          f"{100 * tolerance:g} %")
    if max_passes < 1:
        raise ConfigError(f"max_passes must be >= 1, got {max_passes}")
    with FileJob(options, prefix=".rt-saliency-rate-", attach=attach, stopped=stopped) as job:
        log.info("rate match: encoding the file with plain ffmpeg %s CRF %g (the bytes to match)",
                 enc.codec, enc.crf)
        started = time.perf_counter()
        try:
            plain = reference_bytes(options.source.input, enc, job.work,
                                    max_frames=options.max_frames,
                                    pix_fmt=coded_pixel_format(options.source.input))
        except InputError as exc:  # not a video: a one-pass run says so in its own words
            raise PlainEncodeError(str(exc)) from exc
        if plain <= 0:
            raise InputError(f"{options.source.input}: the plain encode holds no video")
        reference_s = time.perf_counter() - started
        log.info("rate match: plain ffmpeg %s CRF %g: %d video bytes", enc.codec, enc.crf, plain)
        passes: list[RatePass] = []
        stats: list[StreamStats] = []
        best = -1
        bias = options.qp.rate_bias or 0.0
        for index in range(max_passes):
            name = f"pass{index + 1}"
            replayed, started = job.recorded is not None, time.perf_counter()
            stats.append(job.run(name, replace(options, qp=replace(options.qp, rate_bias=bias))))
            passes.append(RatePass(bias, video_bytes(job.paths(name)["output"]),
                                   time.perf_counter() - started, replayed))
            if job.size_change is not None:  # outputs of one size end there: no pass can match
                job.keep(name)
                return RateMatch(plain, tuple(passes), index, tolerance, stats[-1],
                                 job.size_change, reference_s)
            change = passes[-1].change(plain)
            log.info("rate match: pass %d, QP bias %+.3f: %d video bytes (%+.2f %% against "
                     "plain ffmpeg) in %.1f s%s", index + 1, bias, passes[-1].video_bytes,
                     100 * change, passes[-1].seconds,
                     ", saliency replayed" if replayed else "")
            if best < 0 or abs(change) < abs(passes[best].change(plain)):
                if best >= 0:
                    job.discard(f"pass{best + 1}")
                best = index
            else:
                job.discard(name)
            if abs(change) <= tolerance:
                break
            bias = next_bias(passes, plain)
        if abs(passes[best].change(plain)) > tolerance:
            log.warning("rate match: %d passes did not come within %.1f %% of plain ffmpeg's "
                        "bytes; keeping the closest (%+.2f %%)", len(passes), 100 * tolerance,
                        100 * passes[best].change(plain))
        job.keep(f"pass{best + 1}")
    return RateMatch(plain, tuple(passes), best, tolerance, stats[best],
                     reference_seconds=reference_s)
