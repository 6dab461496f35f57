"""``rt-saliency train``: train TP-CMRNet as the paper did (Adam 1e-4, x0.1 every 2 epochs).

Multi-GPU: ``torchrun --nproc-per-node N -m rt_saliency train ...`` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse

from rt_saliency.cli._common import add_flow_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train TP-CMRNet on one or more data set roots",
        description="One batch = one video x five consecutive frames (paper 3.2); the paper's "
        "loss; resumable checkpoints (last.pt, best.pt by validation CC) with config.json in "
        "the run folder; a progress bar with loss and speed. Use torchrun for several GPUs.",
    )
    parser.add_argument("--data", action="append", required=True, metavar="ROOT",
                        help="data set root (repeat to combine DHF1K, Hollywood-2, UCF Sports)")
    parser.add_argument("--model", default="tpcmrnet", help="registered variant (default tpcmrnet)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="train at another input size (multiples of 8; default 224 224)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (paper: 1e-4)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs (default 6)")
    parser.add_argument("--decay-every", type=int, default=2,
                        help="multiply the LR by --decay-factor every this many epochs (paper: 2)")
    parser.add_argument("--decay-factor", type=float, default=0.1, help="paper: 0.1")
    parser.add_argument("--batch-size", type=int, default=1, help="clips per step (paper: 1)")
    parser.add_argument("--clip-len", type=int, default=5, help="frames per clip (paper: 5)")
    parser.add_argument("--clip-stride", type=int, default=None,
                        help="step between clip starts (default: --clip-len)")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (and checkpoint) after this much wall time")
    parser.add_argument("--val-every", type=int, default=500, help="validate every N steps")
    parser.add_argument("--val-clips", type=int, default=20, help="validation clips (default 20)")
    parser.add_argument("--checkpoint-every", type=int, default=200,
                        help="save last.pt every N steps")
    parser.add_argument("--log-every", type=int, default=10, help="train_log.jsonl every N steps")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                        help="mixed precision on CUDA (never on CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--resume", default=None, metavar="CKPT", help="resume from last.pt")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="tqdm progress bar")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 is fastest on a busy machine)")
    add_flow_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rt_saliency.train import TrainConfig, train

    overrides = {}
    if args.input_size is not None:
        overrides["input_size"] = list(args.input_size)
    cfg = TrainConfig(
        data=list(args.data), out=args.out, model=args.model, model_overrides=overrides,
        lr=args.lr, epochs=args.epochs, decay_every=args.decay_every,
        decay_factor=args.decay_factor, batch_size=args.batch_size, clip_len=args.clip_len,
        clip_stride=args.clip_stride, workers=args.workers, seed=args.seed,
        max_steps=args.max_steps, max_minutes=args.max_minutes, val_every=args.val_every,
        val_clips=args.val_clips, checkpoint_every=args.checkpoint_every,
        log_every=args.log_every, amp=args.amp, device=args.device, threads=args.threads,
        resume=args.resume,
        progress=args.progress, flow_method=args.flow_method, flow_preset=args.flow_preset,
    )
    result = train(cfg)
    print(json.dumps({"run_dir": str(result.run_dir), "last": str(result.last),
                      "best": str(result.best) if result.best else None,
                      "steps": result.steps, "stopped_by": result.stopped_by,
                      "first_loss": result.first_loss, "last_loss": result.last_loss,
                      "val": result.val, "seconds": round(result.seconds, 1)}))
    return 0
