"""``rt-saliency ablate``: the paper's Table 1, one training + evaluation per row."""

from __future__ import annotations

import argparse

from rt_saliency.apps.ablation import run_ablation
from rt_saliency.apps.evaluate import EvalOptions, to_markdown
from rt_saliency.cli._common import add_flow_options
from rt_saliency.optional import import_optional
from rt_saliency.train import TrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate",
        help="train + evaluate every Table-1 ablation row (S=3..11, no fusion/attention, uni-LSTM)",
        description="Each row is a registered variant trained with the same options and budget "
        "into OUT/<variant>/ and evaluated on the same split; writes OUT/ablation.{json,md}. "
        "Rows already evaluated are reused.",
    )
    parser.add_argument("--data", action="append", required=True, metavar="ROOT",
                        help="training data root (repeatable)")
    parser.add_argument("--eval-data", action="append", default=None, metavar="ROOT",
                        help="evaluation roots (default: the --data roots)")
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--rows", nargs="+", default=None, metavar="VARIANT",
                        help="only these variants (e.g. tpcmrnet_s3 tpcmrnet_noattn)")
    parser.add_argument("--split", choices=("val", "test"), default="test")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-steps", type=int, default=None, help="per row")
    parser.add_argument("--max-minutes", type=float, default=None, help="per row")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--stride", type=int, default=1, help="evaluate every N-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="evaluate <= N frames a video")
    parser.add_argument("--max-videos", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    add_flow_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    torch = import_optional("torch")

    overrides = {"input_size": list(args.input_size)} if args.input_size else {}
    base = TrainConfig(
        data=list(args.data), out=args.out, model_overrides=overrides, lr=args.lr,
        epochs=args.epochs, workers=args.workers, seed=args.seed, max_steps=args.max_steps,
        max_minutes=args.max_minutes, val_every=args.val_every, device=args.device,
        threads=args.threads,
        progress=args.progress, flow_method=args.flow_method, flow_preset=args.flow_preset,
    )
    opts = EvalOptions(split=args.split, stride=args.stride, max_frames=args.max_frames,
                       max_videos=args.max_videos, seed=args.seed)
    eval_device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    table = run_ablation(base, args.eval_data or list(args.data), opts, args.out, args.rows,
                         eval_device)

    print(to_markdown(table, "Model ablation (paper Table 1)"), end="")
    return 0
