"""``rt-saliency compare``: saliency-guided encodes against plain FFmpeg at every AQ mode, over
a rate ladder, on a clip or on the real-gaze still images (docs/encoding.md)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

from rt_saliency.apps.compare import DEFAULT_CRFS, CompareConfig, compare, compare_gaze, markdown
from rt_saliency.apps.compare.gaze import DEFAULT_SIZE
from rt_saliency.cli.encoder_options import add_encoder_arguments, encoder_config_from_args
from rt_saliency.cli.qp_options import add_qp_arguments, qp_config_from_args
from rt_saliency.errors import ConfigError
from rt_saliency.runtime.registry import BACKENDS, open_predictor


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, got {text!r}") from None
    return h, w


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compression report: x264 with and without saliency QP offsets",
        description="Encode with our saliency QP offsets and with plain ffmpeg (aq-mode 0-3, "
        "same settings) over a CRF or bitrate ladder; report bits, PSNR-Y, SSIM, EWPSNR, PSNR "
        "in/outside the salient region and BD-rates (JSON, Markdown, PNG).",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", "--input", metavar="VIDEO", help="video file or folder of frames")
    src.add_argument("--gaze", metavar="ROOT", nargs="+",
                     help="gaze-image roots (e.g. ../shared/data/gaze-images): each image of "
                     "--split one I-frame, weighted by the human fixations")
    parser.add_argument("--split", default="test", help="split of the gaze images (default test)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many gaze images")
    parser.add_argument("--size", type=_size, default=None, metavar="WxH",
                        help=f"gaze images are resized to this (default "
                        f"{DEFAULT_SIZE[1]}x{DEFAULT_SIZE[0]})")
    parser.add_argument("--saliency", metavar="DIR", default=None,
                        help="with -i: folder of per-frame ground-truth maps (e.g. DHF1K "
                        "annotation/NNNN/maps); they weight the quality and drive an oracle "
                        "encode")
    parser.add_argument("--backend", nargs="+", default=None, choices=BACKENDS,
                        help="predictors, one saliency encode each (default: auto, the shipped "
                        "network; none with --saliency)")
    parser.add_argument("--weights", default=None, help="TP-CMRNet checkpoint for the network")
    ladder = parser.add_mutually_exclusive_group()
    ladder.add_argument("--crf", type=float, nargs="+", metavar="CRF",
                        help="CRF ladder (default 18 23 28 33)")
    ladder.add_argument("--bitrates", type=int, nargs="+", metavar="KBPS",
                        help="ABR ladder in kbit/s instead of CRF (equal target rate)")
    parser.add_argument("--passes", type=int, choices=(1, 2), default=1,
                        help="2: every encode of a --bitrates ladder in two passes (x264), so "
                        "the rungs land at equal rate")
    parser.add_argument("--baseline-aq", type=int, nargs="+", default=[0, 1, 2, 3],
                        metavar="MODE", help="AQ modes of the plain-ffmpeg baselines "
                        "(default 0 1 2 3)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--frames", type=int, default=150,
                        help="at most this many frames of -i (held in memory; default 150)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (default: the file's; 25 for a frame folder)")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    add_qp_arguments(parser, block=False)
    add_encoder_arguments(parser, rate=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.gaze and args.saliency:
        raise ConfigError("--saliency goes with -i; the gaze images bring their own fixations")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    config = CompareConfig(
        crfs=tuple(args.crf) if args.crf else DEFAULT_CRFS,
        bitrates=tuple(args.bitrates) if args.bitrates else None,
        encoder=encoder_config_from_args(args, ladder=True),
        baseline_aq_modes=tuple(args.baseline_aq), max_frames=args.frames, fps=args.fps,
        passes=args.passes,
        qp=qp_config_from_args(args))
    backends = args.backend if args.backend is not None else (
        [] if args.saliency else ["auto"])
    with ExitStack() as stack:
        predictors = []
        for backend in backends:
            predictor = open_predictor(backend, args.weights)
            stack.callback(predictor.close)
            predictors.append(predictor)
        if args.gaze:
            report = compare_gaze(args.gaze, args.out, config, predictors, split=args.split,
                                  size=args.size or DEFAULT_SIZE, limit=args.limit,
                                  progress=sys.stderr.isatty())
        else:
            report = compare(args.input, args.out, args.saliency, config, predictors)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown(report))
        print(f"wrote {args.out}/report.json, report.md, rate_quality.png")
    return 0
