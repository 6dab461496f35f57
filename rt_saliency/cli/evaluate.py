"""``rt-saliency evaluate``: Table-2 metrics per data set, model beside a centre-bias baseline."""

from __future__ import annotations

import argparse

from rt_saliency.cli._common import add_flow_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="AUC-J, SIM, sAUC, CC, NSS of a checkpoint (or a streaming predictor) and of a "
        "centre-bias baseline",
        description="Score a checkpoint on a split of one or more data sets as the DHF1K "
        "benchmark does (per video, then over videos; sAUC negatives from other videos), with "
        "a centre-bias row beside it. Writes evaluation.json and evaluation.md to --out. With "
        "--predictor, the maps come from a streaming backend run as `rt-saliency run` runs it "
        "(e.g. --predictor prior, the training-free default).",
    )
    parser.add_argument("--weights", default=None, metavar="CKPT",
                        help="checkpoint (.pt); scored over training-length clips")
    parser.add_argument("--predictor", default=None,
                        choices=("prior", "onnxruntime", "tensorrt", "torch", "auto"),
                        help="score a streaming backend instead (with --weights/--engine-dir "
                        "for the network backends)")
    parser.add_argument("--engine-dir", default=None, metavar="DIR",
                        help="exported ONNX graphs / TensorRT engines for --predictor")
    parser.add_argument("--lookahead", type=int, default=None,
                        help="head lookahead L for a network --predictor (default 2)")
    parser.add_argument("--data", action="append", required=True, metavar="ROOT",
                        help="data set root (repeatable: one row group per data set)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--stride", type=int, default=1, help="score every N-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="at most N frames a video")
    parser.add_argument("--max-videos", type=int, default=None, help="at most N videos a data set")
    parser.add_argument("--clip-len", type=int, default=5, help="frames per model clip (default 5)")
    parser.add_argument("--centre-sigma", type=float, default=0.25,
                        help="baseline Gaussian sigma as a fraction of width/height (default 0.25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sAUC / AUC-J randomness")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--out", default=None, metavar="DIR", help="write evaluation.{json,md}")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    add_flow_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rt_saliency.errors import ConfigError
    from rt_saliency.evaluation import (
        EvalOptions,
        evaluate,
        evaluate_predictor,
        to_markdown,
        write_report,
    )

    if args.weights is None and args.predictor is None:
        raise ConfigError("give --weights CKPT, or --predictor BACKEND (e.g. --predictor prior)")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    opts = EvalOptions(split=args.split, stride=args.stride, max_frames=args.max_frames,
                       max_videos=args.max_videos, clip_len=args.clip_len,
                       centre_sigma=args.centre_sigma, seed=args.seed)
    progress = args.progress and not args.json
    if args.predictor is not None:
        from rt_saliency.runtime.registry import open_predictor

        extra = {} if args.lookahead is None else {"lookahead": args.lookahead}
        with open_predictor(args.predictor, args.weights, args.engine_dir,
                            threads=args.threads, **extra) as predictor:
            report = evaluate_predictor(predictor, args.data, opts, progress=progress)
        report["predictor"] = {"backend": args.predictor, "name": predictor.name,
                               "flow_maps": predictor.flow_maps,
                               "lookahead": predictor.lookahead}
    else:
        report = evaluate(args.weights, args.data, opts, device=args.device,
                          flow_method=args.flow_method, flow_preset=args.flow_preset,
                          progress=progress)
    if args.out:
        write_report(report, args.out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(to_markdown(report), end="")
    return 0
