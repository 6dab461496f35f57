"""The FFmpeg command-line options that give plain ``ffmpeg -c:v libx264|libx265`` the settings
of an :class:`~rt_saliency.encode.config.EncoderConfig`: the outside reference that ``compare``
encodes its baselines with (and that the equivalence test holds our encoder to)."""

from __future__ import annotations

from rt_saliency.encode.config import EncoderConfig

#: per library (``EncoderConfig.codec``): FFmpeg's encoder, its raw-stream format (also the
#: name ``open_encoder`` takes)
FFMPEG_ENCODERS: dict[str, tuple[str, str]] = {"x264": ("libx264", "h264"),
                                               "x265": ("libx265", "hevc")}


def ffmpeg_encoder_args(config: EncoderConfig, *, aq_mode: int | None = None) -> list[str]:
    """``-c:v ... -preset ... -crf|-b:v ... -x26N-params ...`` for ``config``.

    ``aq_mode`` overrides the config's (0 is allowed here: a baseline without offsets has no AQ
    to ride on).  The codec's own options go last, as with ``--codec-params``.
    """
    encoder, _ = FFMPEG_ENCODERS[config.codec]
    args = ["-c:v", encoder, "-preset", config.preset]
    if config.tune:
        args += ["-tune", config.tune]
    if config.profile:
        args += ["-profile:v", config.profile]
    if config.bitrate is not None:
        args += ["-b:v", f"{config.bitrate}k"]
    else:
        args += ["-crf", f"{config.crf:g}"]
    args += ["-threads", str(config.threads)]
    params: dict[str, str] = {}
    level_key = "level" if config.codec == "x264" else "level-idc"
    named = {"keyint": config.keyint, "min-keyint": config.min_keyint,
             "bframes": config.bframes, "aq-mode": config.aq_mode if aq_mode is None else aq_mode,
             "aq-strength": config.aq_strength, "vbv-maxrate": config.vbv_maxrate,
             "vbv-bufsize": config.vbv_bufsize, level_key: config.level}
    params.update({k: f"{v:g}" if isinstance(v, float) else str(v)
                   for k, v in named.items() if v is not None})
    params.update(config.options)
    if params:
        args += [f"-{encoder[3:]}-params", ":".join(f"{k}={v}" for k, v in params.items())]
    return args
