#!/usr/bin/env python3
"""Sweep QP strength and AQ strength on gaze stills of the validation split (never trained on,
never the test split), to pick the shipped defaults without looking at the test split.

    python benchmarks/qp_sweep.py --gaze ../shared/data/gaze-images \\
        --out benchmarks/results/DATE-qp-sweep-gaze-val

Writes DIR/results.json and DIR/report.md.  The logic is ``rt_saliency.bench.qp_sweep``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from rt_saliency.apps.compare.gaze import FPS, gaze_samples
from rt_saliency.apps.compare.ladder import CompareConfig
from rt_saliency.bench.qp_sweep import Variant, sweep, write
from rt_saliency.encode import encoder_config
from rt_saliency.qp.mapping import QPConfig
from rt_saliency.runtime.registry import open_predictor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaze", nargs="+", required=True, help="gaze-image roots")
    parser.add_argument("--split", default="val", help="not the test split (default val: the "
                        "images the shipped weights were never trained on)")
    parser.add_argument("--limit", type=int, default=None, help="images, evenly spaced")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--strengths", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--aq-strengths", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.split == "test":
        print("qp_sweep.py: error: choosing settings on the test split is what this avoids",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    base_encoder = encoder_config("h264", preset=args.preset, keyint=1)
    base = CompareConfig(encoder=base_encoder)
    with open_predictor(args.backend) as predictor:
        samples = gaze_samples(args.gaze, args.split, [predictor], limit=args.limit)
    variants = {
        f"s{s:g}-aq{a:g}": Variant(QPConfig(strength=s), replace(base_encoder, aq_strength=a))
        for s, a in itertools.product(args.strengths, args.aq_strengths)}
    result = sweep(samples, FPS, base, variants)
    result["command"] = "python benchmarks/qp_sweep.py " + shlex.join(argv or sys.argv[1:])
    result["images"] = len(samples)
    write(result, Path(args.out), f"QP/AQ sweep on {len(samples)} {args.split} gaze images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
