"""``rt-saliency compare``: x264 with vs without saliency QP offsets over a rate ladder."""

from __future__ import annotations

import argparse
import json

from rt_saliency.apps.compare import DEFAULT_CRFS, CompareConfig, compare, markdown
from rt_saliency.qp.mapping import QPConfig
from rt_saliency.runtime.registry import open_predictor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compression report: x264 with and without saliency QP offsets",
        description="Encode a clip with and without per-macroblock QP offsets over a CRF (or "
        "bitrate) ladder; report bitrate, PSNR, SSIM, EWPSNR and BD-rate (JSON, Markdown, PNG).",
    )
    parser.add_argument("-i", "--input", required=True, metavar="VIDEO",
                        help="video file or folder of frame images")
    parser.add_argument("--saliency", metavar="DIR", default=None,
                        help="folder of per-frame saliency maps (e.g. DHF1K annotation/NNNN/maps)"
                        "; they drive the offsets and weight EWPSNR (default: predict them)")
    parser.add_argument("--backend", default="auto",
                        help="predictor when no --saliency is given (default auto: the "
                        "training-free prior without --weights)")
    parser.add_argument("--weights", default=None, help="TP-CMRNet checkpoint for the predictor")
    ladder = parser.add_mutually_exclusive_group()
    ladder.add_argument("--crf", type=float, nargs="+", metavar="CRF",
                        help="CRF ladder (default 18 23 28 33)")
    ladder.add_argument("--bitrates", type=int, nargs="+", metavar="KBPS",
                        help="ABR ladder in kbit/s instead of CRF")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    parser.add_argument("--keyint", type=int, default=250, help="x264 keyint (default 250)")
    parser.add_argument("--frames", type=int, default=150,
                        help="at most this many frames (held in memory; default 150)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (default: the file's; 25 for a frame folder)")
    parser.add_argument("--mode", choices=("log", "linear"), default="log",
                        help="saliency -> offset mapping (default log)")
    parser.add_argument("--strength", type=float, default=3.0, help="mapping strength (default 3)")
    parser.add_argument("--qp-range", type=float, nargs=2, default=(-8.0, 8.0),
                        metavar=("MIN", "MAX"), help="offset clamp (default -8 8)")
    parser.add_argument("--mean-zero", action="store_true", help="subtract each frame's mean")
    parser.add_argument("--floor", type=float, default=0.02, help="saliency floor (default 0.02)")
    parser.add_argument("--temporal-alpha", type=float, default=0.0,
                        help="EMA weight of the previous frame's offsets (default 0)")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    qp = QPConfig(mode=args.mode, strength=args.strength, qp_min=args.qp_range[0],
                  qp_max=args.qp_range[1], mean_zero=args.mean_zero, floor=args.floor,
                  temporal_alpha=args.temporal_alpha)
    config = CompareConfig(
        crfs=tuple(args.crf) if args.crf else DEFAULT_CRFS,
        bitrates=tuple(args.bitrates) if args.bitrates else None,
        preset=args.preset, keyint=args.keyint, max_frames=args.frames, fps=args.fps, qp=qp)
    predictor = None
    if args.saliency is None:
        predictor = open_predictor(args.backend, args.weights)
    try:
        report = compare(args.input, args.out, args.saliency, config, predictor=predictor)
    finally:
        if predictor is not None:
            predictor.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown(report))
        print(f"wrote {args.out}/report.json, report.md, rate_quality.png")
    return 0
