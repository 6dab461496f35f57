#!/usr/bin/env python3
"""Is the default QP map rate-neutral at equal CRF?  Bytes of the saliency-guided encode against
plain ``ffmpeg`` with the same settings, per clip, codec and CRF; and (``--fit``) the rate
centring's base share per CRF, chosen on clips that are not the measured ones.

    bash scripts/fetch_bench_clips.sh                 # Megamind, tree, box, cup (opencv-doc)
    python benchmarks/rate_neutrality.py --codec hevc --fit benchmarks/data/clips/* \\
        --measure tests/data/video/vtest.avi --out benchmarks/results/DATE-rate-neutrality-hevc

Writes DIR/results.json and DIR/report.md.  The logic is ``rt_saliency.bench.rate_neutrality``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from rt_saliency.apps.compare.clip import predicted_maps, read_clip
from rt_saliency.atomic import write_text
from rt_saliency.bench.rate_neutrality import (
    Clip,
    default_encoder,
    fit_base_shares,
    fit_rate_bias,
    neutrality,
)
from rt_saliency.bench.timing import machine_info
from rt_saliency.qp.mapping import QPConfig, rate_model
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.runtime.registry import open_predictor


def _clips(paths: list[str], max_frames: int, predictor: StreamPredictor) -> list[Clip]:
    clips = []
    for path in paths:
        frames, fps, _ = read_clip(path, max_frames)
        clips.append(Clip(Path(path).name, frames, fps, predicted_maps(frames, fps, predictor)))
    return clips


def _markdown(result: dict) -> str:
    lines = [f"# Rate neutrality, {result['codec']} {result['preset']}", "",
             f"Command: `{result['command']}`", "", f"Machine: {result['machine']}", ""]
    fit = result.get("fit")
    if fit:
        if fit.get("what") == "rate_bias":
            title = f"QP bias fitted on {', '.join(fit['clips'])} (AQ strength {fit['aq_strength']} under the map)"
            label, values, digits = "bias", fit["biases"], ".2f"
        else:
            title = f"Base share fitted on {', '.join(fit['clips'])} (octave {fit['octave']:g} QP)"
            label, values, digits = "share", fit["shares"], ".3f"
        lines += [f"## {title}", "",
                  "| CRF | " + " | ".join(f"{label} {v:g}" for v in values) + " | fitted |",
                  "| ---: |" + " ---: |" * (len(values) + 1)]
        for crf, med in fit["median_change_percent"].items():
            value = fit["fitted"][crf]
            lines.append(f"| {float(crf):g} | " + " | ".join(f"{m:+.1f} %" for m in med)
                         + f" | {'-' if value is None else format(value, digits)} |")
        lines += ["", "(cells: median change in bytes over the fit clips against plain ffmpeg)", ""]
    rows = result.get("measured") or []
    if rows:
        lines += ["## Measured with the shipped constants", "",
                  ("| clip | frames | CRF | octave | base share | QP bias | plain ffmpeg (bytes) "
                   "| guided (bytes) | change |"),
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(f"| {r['clip']} | {r['frames']} | {r['crf']:g} | {r['octave']:g} | "
                         f"{r['base_share']:.3f} | {r.get('rate_bias') or 0:.2f} | "
                         f"{r['plain_bytes']:,} | {r['guided_bytes']:,} | "
                         f"{r['change_percent']:+.1f} % |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=("h264", "hevc"), default="h264")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crfs", type=float, nargs="+", default=[23.0, 28.0, 33.0])
    parser.add_argument("--fit", nargs="*", default=[], metavar="CLIP",
                        help="clips to fit the base share on (never the measured ones)")
    parser.add_argument("--shares", type=float, nargs="+",
                        default=[0.03, 0.1, 0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--biases", type=float, nargs="+", default=None, metavar="QP",
                        help="with --fit: sweep the QP bias (RateModel.aq_bias) at the codec's "
                        "base shares instead of the base share")
    parser.add_argument("--octave", type=float, default=None,
                        help="QP steps that halve a block's bits, for --fit (default: the "
                        "codec's rate model's)")
    parser.add_argument("--measure", nargs="*", default=[], metavar="CLIP",
                        help="clips to measure the shipped constants on")
    parser.add_argument("--qp-strength", type=float, default=None,
                        help="measure a QP strength other than the default")
    parser.add_argument("--qp-aq-strength", type=float, default=None,
                        help="measure an encoder AQ strength under the map other than the "
                        "codec's own (the default)")
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    overlap = {Path(p).resolve() for p in args.fit} & {Path(p).resolve() for p in args.measure}
    if overlap:
        print(f"rate_neutrality.py: error: fitting and measuring on the same clip "
              f"({', '.join(p.name for p in overlap)}) proves nothing", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()
    config = default_encoder(args.codec, args.preset)
    qp = QPConfig()
    if args.qp_strength is not None:
        qp = replace(qp, strength=args.qp_strength)
    if args.qp_aq_strength is not None:
        qp = replace(qp, aq_strength=args.qp_aq_strength)
    result: dict = {"command": "python benchmarks/rate_neutrality.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]), "codec": args.codec, "preset": args.preset,
        "machine": machine_info(), "qp": qp.to_dict(), "max_frames": args.max_frames}
    with open_predictor(args.backend) as predictor:
        result["backend"] = predictor.name
        fit_clips = _clips(args.fit, args.max_frames, predictor)
        measure_clips = _clips(args.measure, args.max_frames, predictor)
    if fit_clips and args.biases:
        result["fit"] = fit_rate_bias(fit_clips, config, args.crfs, args.biases, qp)
    elif fit_clips:
        octave = args.octave or rate_model(args.codec).octave
        result["fit"] = fit_base_shares(fit_clips, config, args.crfs, args.shares, qp, octave)
    if measure_clips:
        result["measured"] = neutrality(measure_clips, config, args.crfs, qp)
    result["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(result, indent=1, default=str))
    write_text(out / "report.md", _markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
