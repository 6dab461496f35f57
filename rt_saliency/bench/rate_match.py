"""What ``run --rate-match`` buys and costs, per clip and CRF: the bytes of the default guided
encode and of the rate-matched one against plain ``ffmpeg -c:v libx264|libx265`` with the same
settings, the passes it took, its wall time against one default run (and of its plain encode,
its first pass and a replayed pass), and PSNR-Y of all three
from FFmpeg's own ``psnr`` filter (so equal bytes can be read as equal-rate quality).

Every encode reads the same lossless 8-bit 4:2:0 y4m of the clip's first frames (made once by
ffmpeg), as the equivalence tests do: frame-exact, with a constant frame rate, so the ``psnr``
filter pairs the right frames whatever the original file's time stamps."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rt_saliency.encode import encoder_config
from rt_saliency.errors import EncoderError
from rt_saliency.qp import QPConfig
from rt_saliency.stream.daemon import Daemon, DaemonOptions, OutputOptions, SourceOptions
from rt_saliency.stream.rate_match import match_rate, reference_bytes, video_bytes

_PSNR_Y = re.compile(r"PSNR y:([0-9.]+|inf)")


@dataclass(frozen=True)
class RateMatchRow:
    """One clip at one CRF."""

    clip: str
    codec: str
    crf: float
    frames: int | None
    plain_bytes: int
    default_bytes: int
    matched_bytes: int
    passes: int
    rate_bias: float
    default_s: float
    match_s: float
    #: the plain reference encode, the first pass (network) and the mean replayed pass (None:
    #: one pass, or a file too long to record)
    reference_s: float
    first_pass_s: float
    replayed_pass_s: float | None
    psnr_plain: float
    psnr_default: float
    psnr_matched: float

    @property
    def default_change(self) -> float:
        return 100.0 * (self.default_bytes / self.plain_bytes - 1.0)

    @property
    def matched_change(self) -> float:
        return 100.0 * (self.matched_bytes / self.plain_bytes - 1.0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "default_change_percent": round(self.default_change, 2),
                "matched_change_percent": round(self.matched_change, 2),
                "time_ratio": round(self.match_s / self.default_s, 2)}


def lossless_copy(clip: Path, out: Path, frames: int | None, ffmpeg: str = "ffmpeg") -> Path:
    """The clip's first ``frames`` frames as a yuv420p y4m (the one source every encode reads)."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip),
           "-map", "0:v:0"]
    if frames is not None:
        cmd += ["-frames:v", str(frames)]
    proc = subprocess.run([*cmd, "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EncoderError(f"ffmpeg could not make a y4m of {clip}: {proc.stderr.strip()[-300:]}")
    return out


def psnr_y(encoded: Path, source: Path, ffmpeg: str = "ffmpeg") -> float:
    """PSNR-Y of ``encoded`` against ``source`` (a y4m of the same frames), FFmpeg's filter."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-i", str(encoded), "-i", str(source),
           "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = _PSNR_Y.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        raise EncoderError(f"ffmpeg psnr failed on {encoded}: {proc.stderr.strip()[-300:]}")
    return float(found[-1])


def measure(clip: Path, crf: float, *, codec: str = "h264", preset: str = "medium",
            frames: int | None = 60, qp: QPConfig | None = None,
            tolerance: float = 0.02) -> RateMatchRow:
    """Plain ffmpeg, one default ``run -o`` and one ``run -o --rate-match`` of ``clip``."""
    qp = qp or QPConfig()
    plain_config = encoder_config(codec, preset=preset, crf=float(crf))
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    with tempfile.TemporaryDirectory(prefix="rate-match-bench-") as tmp:
        work = Path(tmp)
        source = lossless_copy(clip, work / "source.y4m", frames, ffmpeg)
        plain = reference_bytes(source, plain_config, work)
        plain_file = next(work.glob("reference.*.mkv"))
        options = DaemonOptions(
            SourceOptions(str(source)), qp=qp,
            outputs=OutputOptions(output=str(work / "default.mkv"), codec=codec,
                                  encoder=plain_config, copy_streams=False))
        start = time.perf_counter()
        with Daemon(options) as daemon:
            daemon.run()
        default_s = time.perf_counter() - start
        matched = replace(options, outputs=replace(options.outputs,
                                                   output=str(work / "matched.mkv")))
        start = time.perf_counter()
        result = match_rate(matched, tolerance=tolerance)
        match_s = time.perf_counter() - start
        replayed = [p.seconds for p in result.passes if p.replayed]
        return RateMatchRow(
            clip.name, codec, float(crf), frames, plain, video_bytes(work / "default.mkv"),
            result.kept.video_bytes, len(result.passes), round(result.kept.bias, 4),
            round(default_s, 2), round(match_s, 2), round(result.reference_seconds, 2),
            round(result.passes[0].seconds, 2),
            round(sum(replayed) / len(replayed), 2) if replayed else None,
            psnr_y(plain_file, source, ffmpeg), psnr_y(work / "default.mkv", source, ffmpeg),
            psnr_y(work / "matched.mkv", source, ffmpeg))
