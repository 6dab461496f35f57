"""Helpers shared by the data/training CLI modules (argument types, flow options)."""

from __future__ import annotations

import argparse


def size_type(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height) for argparse."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH (e.g. 256x192), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow-method", choices=("dis", "farneback"), default=None,
                        help="optical flow method (default: rt_saliency.flow's, DIS)")
    parser.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default=None,
                        help="flow speed preset (default: rt_saliency.flow's)")
