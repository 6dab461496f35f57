"""``rt-saliency synth``: write a synthetic video-saliency data set in the DHF1K layout."""

from __future__ import annotations

import argparse
import json

from rt_saliency.cli._common import size_type
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic data set (DHF1K layout) with motion-driven fixations",
        description="Textured panning backgrounds, moving objects and static look-alikes; "
        "fixations follow the moving objects (plus a centre bias); maps are the fixations "
        "blurred with the DHF1K Gaussian scaled to the frame width. Videos are numbered into "
        "DHF1K's split ranges (train 1.., val 601.., test 701..). See docs/data.md.",
    )
    parser.add_argument("out", help="output folder (created; must be empty or a synthetic set)")
    parser.add_argument("--videos", type=int, default=10, help="videos in all (default 10)")
    parser.add_argument("--frames", type=int, default=40, help="frames per video (default 40)")
    parser.add_argument("--size", type=size_type, default=(256, 192),
                        help="frame size WxH (default 256x192)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--observers", type=int, default=15,
                        help="fixations per frame (default 15)")
    parser.add_argument("--val", type=int, default=None, help="val videos (default 10%%, >= 1)")
    parser.add_argument("--test", type=int, default=None, help="test videos (default 30%%, >= 1)")
    parser.add_argument("--video", action="store_true",
                        help="also write video/NNN.AVI (MJPG) beside the extracted frames")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    splits = None
    if args.val is not None or args.test is not None:
        val = args.val if args.val is not None else max(1, round(0.1 * args.videos))
        test = args.test if args.test is not None else max(1, round(0.3 * args.videos))
        if val + test > args.videos:
            raise ConfigError(f"--val {val} + --test {test} exceed --videos {args.videos}")
        splits = {"train": args.videos - val - test, "val": val, "test": test}
    cfg = SynthConfig(videos=args.videos, frames=args.frames, width=args.size[0],
                      height=args.size[1], seed=args.seed, observers=args.observers,
                      split_sizes=splits, write_video=args.video)
    numbers = generate_synthetic(args.out, cfg)
    print(json.dumps({"out": args.out, **{k: len(v) for k, v in numbers.items()}}))
    return 0
