#!/usr/bin/env python3
"""``run --rate-match`` per clip and CRF: bytes of the default guided encode and of the
rate-matched one against plain ``ffmpeg`` with the same settings, passes, wall time against one
default run, and PSNR-Y of all three from FFmpeg's ``psnr`` filter.

    bash scripts/fetch_bench_clips.sh
    python benchmarks/rate_match.py benchmarks/data/clips/* tests/data/video/vtest.avi \\
        --out benchmarks/results/DATE-rate-match

Writes DIR/results.json and DIR/report.md.  The logic is ``rt_saliency.bench.rate_match``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from rt_saliency.atomic import write_text
from rt_saliency.bench.rate_match import RateMatchRow, measure
from rt_saliency.bench.timing import machine_info
from rt_saliency.qp import QPConfig


def _markdown(result: dict, rows: list[RateMatchRow]) -> str:
    lines = [f"# Rate matching, {result['codec']} {result['preset']}", "",
             f"Command: `{result['command']}`", "", f"Machine: {result['machine']}", "",
             f"QP map: {result['qp']}; tolerance {result['tolerance_percent']:g} %; "
             f"{result['max_frames']} frames a clip", "",
             "| clip | CRF | plain ffmpeg (bytes) | default run | rate-matched | passes | QP bias "
             "| time (matched / default run) | plain / pass 1 / replayed pass (s) "
             "| PSNR-Y plain / default / matched (dB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.clip} | {r.crf:g} | {r.plain_bytes:,} | {r.default_change:+.1f} % | "
                     f"{r.matched_change:+.2f} % | {r.passes} | {r.rate_bias:+.2f} | "
                     f"{r.match_s / r.default_s:.1f}x | {r.reference_s:.2f} / "
                     f"{r.first_pass_s:.2f} / "
                     f"{'-' if r.replayed_pass_s is None else f'{r.replayed_pass_s:.2f}'} | "
                     f"{r.psnr_plain:.2f} / "
                     f"{r.psnr_default:.2f} / {r.psnr_matched:.2f} |")
    if rows:
        within = sum(abs(r.matched_change) <= result["tolerance_percent"] for r in rows)
        lines += ["", f"Rate-matched within {result['tolerance_percent']:g} %: {within} of "
                  f"{len(rows)}; default run within 3 %: "
                  f"{sum(abs(r.default_change) <= 3 for r in rows)} of {len(rows)}. Median time "
                  f"ratio {statistics.median(r.match_s / r.default_s for r in rows):.1f}x, "
                  f"median passes {statistics.median(r.passes for r in rows):g}."]
        replays = [r.first_pass_s / r.replayed_pass_s for r in rows if r.replayed_pass_s]
        if replays:
            lines += ["", f"The first (network) pass over a replayed pass: median "
                      f"{statistics.median(replays):.2f}x ({len(replays)} rows with "
                      "a replayed pass)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--codec", choices=("h264", "hevc"), default="h264")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crfs", type=float, nargs="+", default=[23.0, 28.0, 33.0])
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument("--tolerance", type=float, default=2.0, help="percent (default 2)")
    parser.add_argument("--qp-strength", type=float, default=None)
    parser.add_argument("--qp-aq-strength", type=float, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    qp = QPConfig()
    if args.qp_strength is not None:
        qp = replace(qp, strength=args.qp_strength)
    if args.qp_aq_strength is not None:
        qp = replace(qp, aq_strength=args.qp_aq_strength)
    started = time.monotonic()
    result: dict = {"command": "python benchmarks/rate_match.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]), "codec": args.codec, "preset": args.preset,
        "machine": machine_info(), "qp": qp.to_dict(), "max_frames": args.max_frames,
        "tolerance_percent": args.tolerance}
    rows: list[RateMatchRow] = []
    for clip in args.clips:
        for crf in args.crfs:
            row = measure(Path(clip), crf, codec=args.codec, preset=args.preset,
                          frames=args.max_frames, qp=qp, tolerance=args.tolerance / 100.0)
            rows.append(row)
            print(f"{row.clip} CRF {crf:g}: default {row.default_change:+.1f} %, matched "
                  f"{row.matched_change:+.2f} % in {row.passes} passes", flush=True)
    result["rows"] = [r.as_dict() for r in rows]
    result["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(result, indent=1, default=str))
    write_text(out / "report.md", _markdown(result, rows))
    print(_markdown(result, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
