"""Rate neutrality at equal CRF: the bytes of the saliency-guided encode against plain
``ffmpeg -c:v libx264|libx265`` with the same settings, per clip, codec and CRF.

The rate centring of the QP map (:class:`~rt_saliency.qp.QPConfig`, ``centre="rate"``) has two
constants per codec, the QP steps that halve a block's bits and the *base share* per CRF
(:class:`rt_saliency.qp.mapping.RateModel`).
:func:`fit_base_shares` chooses it on clips that are **not** the clip it is then measured on
(:func:`neutrality`): the share where the median change in bytes crosses zero, interpolated in
log-share between the swept values.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from rt_saliency.apps.compare.ladder import Sample, encode_ffmpeg, encode_ours
from rt_saliency.encode import EncoderConfig, encoder_config, under_map
from rt_saliency.encode.ffmpeg_cli import FFMPEG_ENCODERS
from rt_saliency.qp.mapping import QPConfig

log = logging.getLogger(__name__)


@dataclass
class Clip:
    """A clip's frames (packed I420), frame rate and one saliency map a frame."""

    name: str
    frames: list[np.ndarray]
    fps: Fraction
    maps: list[np.ndarray]

    def sample(self) -> Sample:
        return Sample(self.name, self.frames, self.maps, {"map": self.maps})


def _codec_name(config: EncoderConfig) -> str:
    return FFMPEG_ENCODERS[config.codec][1]


def plain_bytes(clip: Clip, config: EncoderConfig) -> int:
    """Bytes of plain FFmpeg with ``config`` (the codec's default AQ): the outside reference."""
    sample = clip.sample()
    return len(encode_ffmpeg(clip.frames, sample.size, clip.fps, config, None))


def guided_bytes(clip: Clip, config: EncoderConfig, qp: QPConfig) -> int:
    """Bytes of our encode with the clip's offsets under ``qp`` (the daemon's mapper)."""
    sample = clip.sample()
    offsets = sample.offsets(qp)["map"]
    return len(encode_ours(clip.frames, sample.size, clip.fps, under_map(config, qp), offsets))


def neutrality(clips: Sequence[Clip], config: EncoderConfig, crfs: Sequence[float],
               qp: QPConfig) -> list[dict[str, Any]]:
    """Per clip and CRF: plain and guided bytes and the change in percent, with ``qp`` resolved
    for the codec and CRF (:meth:`QPConfig.for_codec`) as the daemon resolves it."""
    rows = []
    codec = _codec_name(config)
    for clip in clips:
        for crf in crfs:
            rung = replace(config, crf=float(crf), bitrate=None)
            resolved = qp.for_codec(codec, crf=float(crf))
            plain = plain_bytes(clip, rung)
            guided = guided_bytes(clip, rung, resolved)
            change = 100.0 * (guided / plain - 1.0)
            rows.append({"clip": clip.name, "frames": len(clip.frames), "codec": codec,
                         "preset": config.preset, "crf": float(crf),
                         "base_share": resolved.base_share, "octave": resolved.rate_octave,
                         "rate_bias": resolved.rate_bias, "aq_strength": qp.aq_strength,
                         "plain_bytes": plain,
                         "guided_bytes": guided, "change_percent": round(change, 2)})
            log.info("%s %s crf %g: plain %d, guided %d bytes (%+.1f %%)", clip.name, codec,
                     crf, plain, guided, change)
    return rows


def zero_crossing(shares: Sequence[float], changes: Sequence[float], *,
                  log_scale: bool = True) -> float | None:
    """The value (share or bias) where ``changes`` (one per value, ascending values) crosses
    zero, interpolated linearly in log(value) (``log_scale``) or in the value; None when the
    swept range does not bracket it."""
    for (s0, c0), (s1, c1) in zip(zip(shares, changes), zip(shares[1:], changes[1:])):
        if c0 == 0.0:
            return s0
        if (c0 < 0.0) != (c1 < 0.0):
            t = c0 / (c0 - c1)
            if not log_scale:
                return s0 + t * (s1 - s0)
            return math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
    return None


def _sweep(clips: Sequence[Clip], config: EncoderConfig, crfs: Sequence[float],
           values: list[float], key: str, qp_at: Callable[[float, float], QPConfig],
           log_scale: bool) -> dict[str, Any]:
    """Per CRF, encode every clip plain once and guided once per swept value (``qp_at(crf,
    value)``); the rows, the median change per value and the value where it crosses zero."""
    codec = _codec_name(config)
    rows: list[dict[str, Any]] = []
    fitted: dict[float, float | None] = {}
    medians: dict[float, list[float]] = {}
    for crf in crfs:
        rung = replace(config, crf=float(crf), bitrate=None)
        per_value: dict[float, list[float]] = {v: [] for v in values}
        for clip in clips:
            plain = plain_bytes(clip, rung)
            for value in values:
                guided = guided_bytes(clip, rung, qp_at(float(crf), value))
                change = 100.0 * (guided / plain - 1.0)
                per_value[value].append(change)
                rows.append({"clip": clip.name, "codec": codec, "crf": float(crf), key: value,
                             "plain_bytes": plain, "guided_bytes": guided,
                             "change_percent": round(change, 2)})
                log.info("fit %s %s crf %g %s %g: %+.1f %%", clip.name, codec, crf, key, value,
                         change)
        medians[float(crf)] = [statistics.median(per_value[v]) for v in values]
        fitted[float(crf)] = zero_crossing(values, medians[float(crf)], log_scale=log_scale)
    return {"codec": codec, "preset": config.preset, "clips": [c.name for c in clips],
            "median_change_percent": medians, "fitted": fitted, "rows": rows}


def fit_base_shares(clips: Sequence[Clip], config: EncoderConfig, crfs: Sequence[float],
                    shares: Sequence[float], qp: QPConfig, octave: float) -> dict[str, Any]:
    """Per CRF, the base share where the clips' median change in bytes crosses zero, with a
    block's bits modelled to halve every ``octave`` QP.

    Every (clip, CRF) is encoded plain once and guided once per swept share; the rows and the
    median curve are returned with the fitted shares (None where the sweep does not bracket
    zero: widen ``shares``)."""
    shares = sorted(float(v) for v in shares)
    result = _sweep(clips, config, crfs, shares, "base_share",
                    lambda crf, v: replace(qp, base_share=v, rate_octave=octave), True)
    return {**result, "octave": octave, "shares": shares}


def fit_rate_bias(clips: Sequence[Clip], config: EncoderConfig, crfs: Sequence[float],
                  biases: Sequence[float], qp: QPConfig) -> dict[str, Any]:
    """Per CRF, the constant QP bias (``QPConfig.rate_bias``) where the clips' median change in
    bytes crosses zero, with the codec's rate model (:meth:`QPConfig.for_codec`) and ``qp``'s
    other settings: what the rate model leaves unexplained.  Same shape of result as
    :func:`fit_base_shares`."""
    biases = sorted(float(v) for v in biases)
    codec = _codec_name(config)
    result = _sweep(clips, config, crfs, biases, "rate_bias",
                    lambda crf, v: replace(qp.for_codec(codec, crf=crf), rate_bias=v), False)
    return {**result, "what": "rate_bias", "octave": qp.for_codec(codec).rate_octave,
            "biases": biases, "aq_strength": qp.aq_strength}


def default_encoder(codec: str, preset: str) -> EncoderConfig:
    """The encoder settings of the measurement: the codec's defaults at ``preset``."""
    return encoder_config(codec, preset=preset)
