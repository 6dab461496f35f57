"""``rt-saliency evaluate``: Table-2 metrics per data set, model beside a centre-bias baseline."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from rt_saliency.apps.evaluate import (
    EvalOptions,
    StillEvalOptions,
    evaluate,
    evaluate_predictor,
    evaluate_stills,
    stills_markdown,
    streaming_predict,
    to_markdown,
    write_report,
)
from rt_saliency.atomic import write_text
from rt_saliency.cli._common import add_flow_options
from rt_saliency.data.gaze import is_gaze_collection
from rt_saliency.errors import ConfigError
from rt_saliency.model.pretrained import resolve_weights
from rt_saliency.optional import import_optional
from rt_saliency.runtime.registry import BACKENDS, PRECISIONS, open_predictor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="AUC-J, SIM, sAUC, CC, NSS of a checkpoint (or a streaming predictor) and of a "
        "centre-bias baseline",
        description="Score a checkpoint on a split of one or more data sets as the DHF1K "
        "benchmark does (per video, then over videos; sAUC negatives from other videos), with "
        "a centre-bias row beside it. Writes evaluation.json and evaluation.md to --out. With "
        "--predictor, the maps come from a streaming backend run as `rt-saliency run` runs it "
        "(e.g. --predictor prior). Gaze-image roots (images/ + fixations.csv, or a folder of "
        "them) are scored as still images through the daemon's streaming path, per set and "
        "pooled, one row per --predictor.",
    )
    parser.add_argument("--weights", default=None, metavar="CKPT",
                        help="checkpoint (.pt) or the name of a shipped set; scored over "
                        "training-length clips")
    parser.add_argument("--predictor", default=None, action="append",
                        choices=BACKENDS,
                        help="score a streaming backend instead (with --weights/--engine-dir "
                        "for the network backends; without them the shipped weights); "
                        "repeatable on gaze-image roots, one row per backend")
    parser.add_argument("--prior-faces", action=argparse.BooleanOptionalAction, default=True,
                        help="the prior's face term (--predictor prior; default on)")
    parser.add_argument("--engine-dir", default=None, metavar="DIR",
                        help="exported ONNX graphs / TensorRT engines for --predictor")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="for a network --predictor: the TensorRT engines' precision, or on "
                        "ONNX Runtime int8 / fp32 (default: as run serves it, INT8 for the "
                        "shipped weights on the CPU)")
    parser.add_argument("--lookahead", type=int, default=None,
                        help="head lookahead L for a network --predictor (default 2)")
    parser.add_argument("--data", action="append", required=True, metavar="ROOT",
                        help="data set root (repeatable: one row group per data set)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--stride", type=int, default=1, help="score every N-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="at most N frames a video")
    parser.add_argument("--max-videos", type=int, default=None, help="at most N videos a data set")
    parser.add_argument("--clip-len", type=int, default=5, help="frames per model clip (default 5)")
    parser.add_argument("--still-frames", type=int, default=StillEvalOptions.clip_frames,
                        help="gaze-image roots: frames of the static clip each image becomes "
                        f"(default {StillEvalOptions.clip_frames})")
    parser.add_argument("--max-images", type=int, default=None,
                        help="gaze-image roots: at most N images in all")
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
    if args.weights is None and args.predictor is None:
        raise ConfigError("give --weights CKPT, or --predictor BACKEND (e.g. --predictor prior)")
    if args.threads is not None:
        torch = import_optional("torch")

        torch.set_num_threads(args.threads)
    progress = args.progress and not args.json
    gaze = [is_gaze_collection(Path(root)) for root in args.data]
    if any(gaze):
        if not all(gaze):
            raise ConfigError("--data mixes gaze-image roots and video data sets: score them "
                              "in separate runs")
        if args.predictor is None:
            raise ConfigError("gaze-image roots are scored through the streaming path: give "
                              "--predictor (e.g. --predictor auto --predictor prior)")
        return _run_stills(args, progress)
    if args.predictor is not None and len(args.predictor) > 1:
        raise ConfigError("one --predictor at a time on video data sets")
    opts = EvalOptions(split=args.split, stride=args.stride, max_frames=args.max_frames,
                       max_videos=args.max_videos, clip_len=args.clip_len,
                       centre_sigma=args.centre_sigma, seed=args.seed)
    if args.predictor is not None:
        extra = {} if args.lookahead is None else {"lookahead": args.lookahead}
        extra["precision"] = args.precision
        with open_predictor(args.predictor[0], args.weights, args.engine_dir,
                            threads=args.threads, prior_faces=args.prior_faces,
                            **extra) as predictor:
            report = evaluate_predictor(predictor, args.data, opts, progress=progress)
        report["predictor"] = {"backend": args.predictor[0], "name": predictor.name,
                               "flow_maps": predictor.flow_maps,
                               "lookahead": predictor.lookahead}
    else:
        report = evaluate(resolve_weights(args.weights), args.data, opts, device=args.device,
                          flow_method=args.flow_method, flow_preset=args.flow_preset,
                          progress=progress)
    if args.out:
        write_report(report, args.out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(to_markdown(report), end="")
    return 0


def _run_stills(args: argparse.Namespace, progress: bool) -> int:
    """Gaze-image roots: every --predictor (and the centre bias) on the split's stills."""
    opts = StillEvalOptions(split=args.split, clip_frames=args.still_frames,
                            centre_sigma=args.centre_sigma, seed=args.seed,
                            max_images=args.max_images)
    opts.validate()
    extra = {} if args.lookahead is None else {"lookahead": args.lookahead}
    with contextlib.ExitStack() as stack:
        methods = {}
        described = {}
        for backend in dict.fromkeys(args.predictor):  # each backend once, in the given order
            weights = None if backend == "prior" else args.weights
            engines = None if backend == "prior" else args.engine_dir
            predictor = stack.enter_context(open_predictor(
                backend, weights, engines, threads=args.threads, prior_faces=args.prior_faces,
                precision=None if backend == "prior" else args.precision, **extra))
            label = predictor.name if predictor.name not in methods else f"{predictor.name} ({backend})"
            methods[label] = streaming_predict(predictor, opts.clip_frames)
            described[label] = {"backend": backend, "flow_maps": predictor.flow_maps,
                                "lookahead": predictor.lookahead}
            if backend == "prior":
                described[label]["faces"] = bool(args.prior_faces)
        report = evaluate_stills(methods, args.data, opts, progress=progress)
    report["predictors"] = described
    report["data"] = [str(root) for root in args.data]
    text = stills_markdown(report)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "evaluation.json", json.dumps(report, indent=2) + "\n")
        write_text(out / "evaluation.md", text)
    print(json.dumps(report, indent=2) if args.json else text, end="\n" if args.json else "")
    return 0
