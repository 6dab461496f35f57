"""``rt-saliency demo``: the first-run demo (generated clip -> stream -> QP maps -> x264)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rt_saliency.apps.demo import DemoConfig, run_demo
from rt_saliency.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole chain on a generated clip and report",
        description="Generate a short clip with known saliency, stream it through flow, the "
                    "predictor and the QP mapping, encode it with and without the offsets at the "
                    "same bitrate, and write maps, previews and a report.")
    parser.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="output folder (default: demo-out)")
    parser.add_argument("--frames", type=int, default=100, help="clip length (default: 100)")
    parser.add_argument("--size", default="640x360", help="clip size WxH (default: 640x360)")
    parser.add_argument("--bitrate", type=int, default=500,
                        help="x264 ABR target for both encodes, kbit/s (default: 500)")
    parser.add_argument("--backend", default="auto",
                        help="predictor backend (default: auto = the shipped gaze-trained TP-CMRNet; "
                        "prior = the training-free prior)")
    parser.add_argument("--weights", default=None, help="TP-CMRNet checkpoint (optional)")
    parser.add_argument("--seed", type=int, default=2026, help="clip generator seed")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must be WxH, got {args.size!r}") from None
    report = run_demo(DemoConfig(out=args.out, frames=args.frames, width=width, height=height,
                                 bitrate_kbps=args.bitrate, backend=args.backend,
                                 weights=args.weights, seed=args.seed))
    stream, enc = report["stream"], report["encodes"]
    print(f"rt-saliency demo: {stream['maps_out']} frames through backend "
          f"'{stream['backend']}' at {stream['fps']:.1f} fps "
          f"(service latency p50 {stream['service_latency'].get('p50_ms', float('nan')):.1f} ms, "
          f"p99 {stream['service_latency'].get('p99_ms', float('nan')):.1f} ms; queueing apart "
          f"p50 {stream['queueing'].get('p50_ms', float('nan')):.1f} ms; "
          f"algorithmic delay {stream['algorithmic_delay']['frames']} frames)")
    for name in ("plain", "saliency"):
        e = enc[name]
        print(f"  {name:<9} {e['kbps']:7.1f} kbit/s  PSNR {e['psnr_db']:.2f} dB  "
              f"EWPSNR {e['ewpsnr_db']:.2f} dB")
    print(f"outputs in {args.out}/:")
    for label, path in report["files"].items():
        print(f"  {label:<16} {path}")
    print(f"done in {report['seconds']:.0f} s")
    return 0
