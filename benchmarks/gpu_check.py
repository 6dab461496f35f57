"""GPU check (at most ~8 minutes): build TensorRT engines, compare with ONNX Runtime, time backends.

    python benchmarks/gpu_check.py [--weights CKPT] [-o bench-out/gpu_check.json]

Fails (exit 1) when TensorRT or a CUDA GPU is missing, and exit 3 when a parity check fails.
The logic lives in :mod:`rt_saliency.apps.gpu_check`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="checkpoint (default: random init)")
    parser.add_argument("-o", "--output", default="bench-out/gpu_check.json", help="JSON report")
    parser.add_argument("--workdir", default="bench-out/gpu_check", help="ONNX, engines and timing cache")
    parser.add_argument("--lookahead", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop timing after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from rt_saliency.apps.gpu_check import run_gpu_check
    from rt_saliency.errors import RtSaliencyError

    try:
        report = run_gpu_check(args.output, args.workdir, weights=args.weights, lookahead=args.lookahead,
                               warmup=args.warmup, repeat=args.repeat, budget_s=args.budget_s)
    except RtSaliencyError as exc:
        print(f"gpu_check: FAILED: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({k: report[k] for k in ("parity", "timing", "passed", "total_seconds")}, indent=2))
    return 0 if report["passed"] else 3


if __name__ == "__main__":
    sys.exit(main())
