"""``rt-saliency info``: size and cost (params, MACs per frame) of TP-CMRNet variants."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rt_saliency.errors import ConfigError
from rt_saliency.model import count_macs, create_model, list_models, model_config
from rt_saliency.model.complexity import time_per_frame


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="params and MACs per frame of a TP-CMRNet variant",
        description="Print the size and per-frame cost of TP-CMRNet variants (MACs are counted "
        "on the meta device: no weights, no arithmetic).",
    )
    parser.add_argument(
        "--model", action="append", metavar="NAME",
        help="registered variant (repeatable; default tpcmrnet)",
    )
    parser.add_argument(
        "--flow-maps", type=int, action="append", metavar="S",
        help="override S, the number of stacked flow maps (repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="every registered variant")
    parser.add_argument(
        "--time", action="store_true",
        help="also measure torch CPU time per frame (median of --runs runs, batch 1)",
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs for --time (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed runs before --time's runs (default 2)"
    )
    parser.add_argument(
        "--window", type=int, default=1,
        help="frames the head runs over in --time (default 1; a stream uses lookahead + 1)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads for --time (default 2)"
    )
    parser.add_argument(
        "--json", action="store_true",
        help="JSON output: one object, or a list when several variants are asked for",
    )
    parser.set_defaults(func=run)


def describe(name: str, flow_maps: int | None = None) -> dict[str, Any]:
    """The ``info`` record of one variant (config, params, MACs)."""
    overrides = {} if flow_maps is None else {"flow_maps": flow_maps}
    cfg = model_config(name, **overrides)
    cost = count_macs(cfg).to_dict()
    return {
        "model": name,
        **cost,
        "input": list(cfg.input_size),
        "flow_maps": cfg.flow_maps,
        "feature_shape": list(cfg.feature_shape),
        "state_shape": [cfg.lstm_channels, *cfg.feature_size],
        "fusion": cfg.fusion,
        "attention": cfg.attention,
        "bidirectional": cfg.bidirectional,
        "config": cfg.to_dict(),
    }


def _summary(rec: dict[str, Any]) -> str:
    lines = [
        f"{rec['model']}: {rec['params'] / 1e6:.3f} M params "
        f"(encoder {rec['params_encoder'] / 1e6:.3f} M, head {rec['params_head'] / 1e6:.3f} M)",
        f"  input {rec['input'][0]}x{rec['input'][1]} RGB + {rec['flow_maps']} flow maps; "
        f"features {'x'.join(map(str, rec['feature_shape']))}",
        f"  fusion {'on' if rec['fusion'] else 'off'}, attention "
        f"{'on' if rec['attention'] else 'off'}, ConvLSTM "
        f"{'bidirectional' if rec['bidirectional'] else 'forward only'}",
        f"  MACs per frame {rec['macs_per_frame'] / 1e9:.3f} G = encoder "
        f"{rec['macs_encoder'] / 1e9:.3f} G + head {rec['macs_head_per_frame'] / 1e9:.3f} G; "
        f"streaming with lookahead {rec['lookahead']}: {rec['macs_stream_per_frame'] / 1e9:.3f} G",
    ]
    if "time" in rec:
        t = rec["time"]
        lines.append(
            f"  torch CPU ({t['threads']} threads, median of {t['runs']}): encode "
            f"{t['encode_ms']:.1f} ms + head over {t['head_window']} frame(s) "
            f"{t['head_ms']:.1f} ms = {t['frame_ms']:.1f} ms/frame wall "
            f"({t['frame_cpu_ms']:.1f} ms CPU, all threads)"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.threads < 1 or args.window < 1 or args.warmup < 0:
        raise ConfigError("--runs, --threads and --window must be at least 1, --warmup at least 0")
    names = list_models() if args.all else (args.model or ["tpcmrnet"])
    flow_values: list[int | None] = list(args.flow_maps) if args.flow_maps else [None]
    records = []
    for name in names:
        for s in flow_values:
            rec = describe(name, s)
            if args.time:
                overrides = {} if s is None else {"flow_maps": s}
                model = create_model(name, **overrides)
                rec["time"] = time_per_frame(
                    model, runs=args.runs, warmup=args.warmup, threads=args.threads,
                    window=args.window,
                )
            records.append(rec)
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records))
    else:
        print("\n".join(_summary(r) for r in records))
    return 0
