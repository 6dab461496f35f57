"""``rt-saliency flow-cache``: precompute every video's optical flow into ROOT/flow_cache/."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from rt_saliency.cli._common import add_flow_options
from rt_saliency.data.flowcache import build_flow_cache
from rt_saliency.data.layout import open_dataset
from rt_saliency.errors import ConfigError, DatasetError
from rt_saliency.flow import flow_config_for
from rt_saliency.spec import INPUT_SIZE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "flow-cache",
        help="precompute and cache optical flow of a data set (int16, with a manifest)",
        description="Compute F^t for every frame of every annotated video of ROOT on the "
        "network's grid and store it as int16 .npy files with a manifest carrying the flow "
        "settings' fingerprint. Training and evaluation use the cache when its settings match "
        "and refuse it when they do not.",
    )
    parser.add_argument("root", help="data set root (DHF1K or ACLNet layout)")
    add_flow_options(parser)
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="flow grid (default: the network input, 224 224)")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"],
                        choices=("train", "val", "test"), help="splits to cache (default all)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a cache built with other settings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    size = tuple(args.size) if args.size else INPUT_SIZE
    records = []
    for split in args.splits:
        try:
            records.extend(open_dataset(args.root, split))
        except (DatasetError, ConfigError) as exc:
            if len(args.splits) == 1:
                raise
            print(f"skipping split {split}: {exc}")
    flow_cfg = flow_config_for(args.flow_method, args.flow_preset, size)
    path = build_flow_cache(Path(args.root), records, flow_cfg, size, args.overwrite,
                            progress=lambda it: tqdm(it, desc="flow", unit="video"))
    print(f"flow cache: {path} ({len(records)} videos, fingerprint {flow_cfg.fingerprint()})")
    return 0
