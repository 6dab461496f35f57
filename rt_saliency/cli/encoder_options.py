"""The encoder options of the command line (``run -o``): one definition, one config builder.

Defaults are the codec's own (``None`` keeps the preset's value), so a flat-offset encode equals
``ffmpeg -c:v libx264|libx265`` with the same options.
"""

from __future__ import annotations

import argparse

from rt_saliency.encode import CODECS, EncoderConfig, encoder_config
from rt_saliency.errors import ConfigError

#: the preset ``run -o`` uses when none is given (x264's and x265's own default)
DEFAULT_PRESET = "medium"


def _params(text: str) -> dict[str, str]:
    """``key=value:key=value`` (FFmpeg's ``-x264-params`` syntax) -> ordered dict."""
    out: dict[str, str] = {}
    for item in filter(None, text.split(":")):
        key, sep, value = item.partition("=")
        if not key.strip():
            raise argparse.ArgumentTypeError(f"expected key=value[:key=value...], got {text!r}")
        out[key.strip()] = value.strip() if sep else "1"
    return out


def add_encoder_arguments(parser: argparse.ArgumentParser, *, rate: bool = True) -> None:
    """The codec, rate control and the codec options a user knows, as one argument group
    (``rate=False``: no ``--crf``/``--bitrate``, for a command with its own rate ladder)."""
    enc = parser.add_argument_group("encoder (-o)")
    enc.add_argument("--codec", choices=tuple(CODECS), default="h264",
                     help="h264 (libx264, default) or hevc (libx265); both take the offsets")
    if rate:
        group = enc.add_mutually_exclusive_group()
        group.add_argument("--bitrate", type=int, default=None, help="ABR rate in kbit/s")
        group.add_argument("--crf", type=float, default=None, help="CRF (default 23)")
    enc.add_argument("--preset", default=DEFAULT_PRESET,
                     help=f"codec preset (default {DEFAULT_PRESET})")
    enc.add_argument("--tune", default=None,
                     help="codec tune, e.g. zerolatency (no frames held back by the encoder)")
    enc.add_argument("--profile", default=None, help="codec profile (default: the codec's)")
    enc.add_argument("--level", default=None, help="codec level, e.g. 4.1")
    enc.add_argument("--keyint", type=int, default=None,
                     help="maximum GOP length in frames (default: the codec's, 250)")
    enc.add_argument("--bframes", type=int, default=None, help="B-frames (default: the preset's)")
    enc.add_argument("--aq-mode", type=int, default=None,
                     help="adaptive quantisation mode (default: the codec's; 0 is refused, it "
                     "drops the offsets)")
    enc.add_argument("--aq-strength", type=float, default=None, help="AQ strength")
    enc.add_argument("--vbv-maxrate", type=int, default=None, help="VBV max rate, kbit/s")
    enc.add_argument("--vbv-bufsize", type=int, default=None, help="VBV buffer, kbit")
    enc.add_argument("--encoder-threads", type=int, default=0,
                     help="encoder threads (0 = the codec's choice; --threads is inference)")
    enc.add_argument("--codec-params", "--x264-params", "--x265-params", dest="codec_params",
                     type=_params, default=None, metavar="K=V:K=V",
                     help="the codec's own options, applied last (as FFmpeg's -x264-params)")


def encoder_config_from_args(args: argparse.Namespace, *, ladder: bool = False
                             ) -> EncoderConfig:
    """The :class:`EncoderConfig` of ``args.codec`` the options describe (ConfigError if bad);
    ``ladder``: the command sets the rate per rung (options added with ``rate=False``)."""
    if not ladder:
        rate = ({"bitrate": args.bitrate, "crf": None} if args.bitrate is not None
                else {"crf": 23.0 if args.crf is None else args.crf})
    else:
        rate = {"crf": 23.0}  # each rung of the ladder sets its own
    settings = dict(preset=args.preset, tune=args.tune, profile=args.profile, level=args.level,
                    keyint=args.keyint, bframes=args.bframes, aq_mode=args.aq_mode,
                    aq_strength=args.aq_strength, vbv_maxrate=args.vbv_maxrate,
                    vbv_bufsize=args.vbv_bufsize, threads=args.encoder_threads,
                    options=args.codec_params or {}, **rate)
    if args.keyint is not None and args.keyint < 1:
        raise ConfigError(f"--keyint must be >= 1, got {args.keyint}")
    return encoder_config(args.codec, **settings)
