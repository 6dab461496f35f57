#!/usr/bin/env python3
"""Encode-stage overhead at 720p: our encoder path against plain ffmpeg at the same preset.

    python benchmarks/encode_overhead.py --out benchmarks/results/DATE-encode-720p
    python benchmarks/encode_overhead.py --codec hevc --preset fast --frames 60 --out DIR

Writes DIR/results.json and DIR/report.md.  The logic is ``rt_saliency.bench.encode_bench``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--video", default=str(Path(__file__).resolve().parents[1] / "tests" /
                                               "data" / "video" / "vtest.avi"))
    parser.add_argument("--codec", default="h264", choices=("h264", "hevc"))
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=float, default=23.0)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="WxH")
    args = parser.parse_args(argv)
    from rt_saliency.bench.encode_bench import (
        EncodeBenchConfig,
        bench_encode_overhead,
        report_markdown,
    )
    from rt_saliency.errors import RtSaliencyError

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        config = EncodeBenchConfig(size=(h, w), frames=args.frames, codec=args.codec,
                                   preset=args.preset, crf=args.crf, threads=args.threads,
                                   repeats=args.repeats)
        result = bench_encode_overhead(Path(args.video), config)
    except ValueError:
        print(f"encode_overhead.py: error: --size must be WxH, got {args.size!r}", file=sys.stderr)
        return 2
    except RtSaliencyError as exc:
        print(f"encode_overhead.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/encode_overhead.py " + shlex.join(argv or sys.argv[1:])
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "report.md").write_text(report_markdown(result, command))
    print(report_markdown(result, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
