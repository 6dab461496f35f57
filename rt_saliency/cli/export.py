"""``rt-saliency export``: write the encoder and head ONNX graphs of a checkpoint (or random init)."""

from __future__ import annotations

import argparse
import json

from rt_saliency.apps.parity import check_export, int8_report
from rt_saliency.deploy.onnx_export import export_onnx, trained_flow
from rt_saliency.deploy.quantize import export_int8_encoder, per_video_counts
from rt_saliency.errors import ConfigError
from rt_saliency.model import create_model
from rt_saliency.model.pretrained import resolve_weights
from rt_saliency.optional import import_optional
from rt_saliency.runtime.registry import load_model
from rt_saliency.spec import DEFAULT_LOOKAHEAD


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export TP-CMRNet's streaming graphs (encoder, fixed-window head) to ONNX",
        description="Write encoder.onnx and head_w{L+1}.onnx (opset >= 17, static shapes, no Loop "
        "ops; model hash, config and input spec in the metadata) and export.json to DIR.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="CKPT",
                        help="checkpoint to export, or the name of a set shipped in the package")
    source.add_argument("--random-init", action="store_true", help="export an untrained model")
    parser.add_argument("--model", default="tpcmrnet", help="variant for --random-init (default tpcmrnet)")
    parser.add_argument("--flow-maps", type=int, default=None, help="S for --random-init (default: the variant's)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for --random-init and --check inputs")
    parser.add_argument("--lookahead", type=int, default=DEFAULT_LOOKAHEAD, help="head lookahead L (window L+1)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="int8: also write encoder.int8.onnx, ONNX Runtime static quantization "
                        "(QDQ, per-channel, U8 activations / S8 weights) calibrated on real frames "
                        "(--calibration-video / --calibration-images); the head stays FP32")
    parser.add_argument("--calibration-video", action="append", default=[], metavar="FILE",
                        help="video whose frames (with their real flows) calibrate INT8 (repeatable)")
    parser.add_argument("--calibration-images", default=None, metavar="DIR",
                        help="gaze-images folder (<set>/images/*.jpg): stills that calibrate INT8, "
                        "never the images of a set's test.txt")
    parser.add_argument("--calibration-frames", type=int, action="append", default=None,
                        metavar="N", help="video frames per video for INT8 calibration: once for "
                        "every video, or once per --calibration-video in their order (default 48)")
    parser.add_argument("--calibration-stills", type=int, default=16,
                        help="still images per data set for INT8 calibration (default 16)")
    parser.add_argument("--check", action="store_true",
                        help="compare ONNX Runtime with torch on random inputs and print the diffs")
    parser.add_argument("--repeat", type=int, default=0,
                        help="with --check: also time each backend over N calls (median, p90)")
    parser.add_argument("--threads", type=int, default=2, help="threads per backend for --check")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    torch = import_optional("torch")

    if args.opset < 17:
        raise ConfigError(f"--opset must be >= 17, got {args.opset}")
    if args.lookahead < 0:
        raise ConfigError(f"--lookahead must be >= 0, got {args.lookahead}")
    if args.weights is not None:
        args.weights = resolve_weights(args.weights)
        model = load_model(args.weights)
    else:
        torch.manual_seed(args.seed)
        overrides = {} if args.flow_maps is None else {"flow_maps": args.flow_maps}
        model = create_model(args.model, **overrides).eval()
    if args.precision == "int8" and not (args.calibration_video or args.calibration_images):
        raise ConfigError("--precision int8 needs calibration pictures: --calibration-video FILE "
                          "and/or --calibration-images DIR")
    if args.calibration_stills < 0:
        raise ConfigError("--calibration-stills must be >= 0")
    frames = per_video_counts(args.calibration_frames or [48], len(args.calibration_video))
    result = export_onnx(model, args.output, lookahead=args.lookahead, opset=args.opset,
                         flow=trained_flow(args.weights) if args.weights is not None else None)
    print(f"wrote {result.encoder_path} and {result.head_path} (model {result.model_hash[:12]})")
    if args.precision == "int8":
        int8 = export_int8_encoder(result, videos=args.calibration_video,
                                   images=args.calibration_images,
                                   frames_per_video=frames,
                                   stills_per_set=args.calibration_stills)
        print(f"wrote {int8.path} (INT8, calibrated on {int8.calibration})")
        if args.check and args.calibration_video:
            print(json.dumps(int8_report(result, int8.path, args.calibration_video[0],
                                         threads=args.threads), indent=2))
    if args.check:
        report = check_export(model, result, seed=args.seed, threads=args.threads, repeat=args.repeat)
        print(json.dumps(report, indent=2))
    return 0
