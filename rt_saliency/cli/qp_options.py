"""The QP-map options of the command line (``run`` and ``compare``): one definition, one
config builder, the same defaults (:class:`rt_saliency.qp.QPConfig`'s) in both commands."""

from __future__ import annotations

import argparse

from rt_saliency.qp.mapping import CENTRES, MODES, QPConfig

_DEFAULT = QPConfig()


def _aq_strength(text: str) -> float | str | None:
    if text == "codec":
        return None
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'auto' or 'codec', got "
                                         f"{text!r}") from None


def add_qp_arguments(parser: argparse.ArgumentParser, *, block: bool = True) -> None:
    """Mapping, strength, clamp, centring, floor and temporal smoothing, as one group."""
    qp = parser.add_argument_group("QP map (docs/qp.md)")
    qp.add_argument("--qp-mode", choices=MODES, default=_DEFAULT.mode,
                    help=f"saliency -> offset mapping (default {_DEFAULT.mode})")
    qp.add_argument("--qp-strength", type=float, default=_DEFAULT.strength,
                    help=f"offset per octave of saliency (default {_DEFAULT.strength:g}; 0 = "
                    "flat map)")
    qp.add_argument("--qp-range", type=float, nargs=2, default=(_DEFAULT.qp_min, _DEFAULT.qp_max),
                    metavar=("MIN", "MAX"),
                    help=f"offset clamp (default {_DEFAULT.qp_min:g} {_DEFAULT.qp_max:g})")
    qp.add_argument("--qp-centre", choices=CENTRES, default=_DEFAULT.centre,
                    help="per-frame centring: rate aims at a flat map's bits at equal CRF (a "
                    "model, neutral in the median over real clips, one clip can land ~20 %% "
                    "away; run -o of a file then measures and holds it within 2 %%: "
                    "--rate-match, docs/qp.md), "
                    "mean makes the mean offset 0, none leaves it (default "
                    f"{_DEFAULT.centre})")
    qp.add_argument("--qp-floor", type=float, default=_DEFAULT.floor,
                    help=f"saliency floor, caps the background's penalty (default "
                    f"{_DEFAULT.floor:g})")
    qp.add_argument("--qp-temporal-alpha", type=float, default=_DEFAULT.temporal_alpha,
                    help="EMA weight of the previous frame's offsets (default "
                    f"{_DEFAULT.temporal_alpha:g}: none)")
    qp.add_argument("--qp-aq-strength", type=_aq_strength, default=_DEFAULT.aq_strength,
                    metavar="S|auto|codec",
                    help="the encoder's AQ strength under a map that is not flat, when "
                    "--aq-strength is not given: a number, codec (the codec's own) or auto (the "
                    "default: 0.25 for x264, chosen with --qp-strength 1.5 on the gaze "
                    "validation split; x265 its own). For x264 the rate centring prices it "
                    "block by block (docs/qp.md)")
    qp.add_argument("--qp-rate-bias", type=float, default=_DEFAULT.rate_bias, metavar="QP",
                    help="with --qp-centre rate: aim at the bits of a flat map this many QP "
                    "higher (default 0; run's rate match finds it for a file and prints it, "
                    "for reuse on a live stream of the same source)")
    if block:
        qp.add_argument("--block", type=int, default=_DEFAULT.block, choices=(8, 16, 32, 64),
                        help=f"map block size in pixels (default {_DEFAULT.block}; -o needs 16)")


def qp_config_from_args(args: argparse.Namespace) -> QPConfig:
    """The :class:`QPConfig` the options describe (ConfigError if bad)."""
    return QPConfig(block=getattr(args, "block", _DEFAULT.block), mode=args.qp_mode,
                    strength=args.qp_strength, qp_min=args.qp_range[0], qp_max=args.qp_range[1],
                    centre=args.qp_centre, floor=args.qp_floor,
                    temporal_alpha=args.qp_temporal_alpha, aq_strength=args.qp_aq_strength,
                    rate_bias=args.qp_rate_bias)
