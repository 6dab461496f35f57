#!/usr/bin/env python3
"""Numerical bounds of the shipped network: carried state over a long stream, the largest
activation over the gaze test stills, FP16 ONNX parity.

    python benchmarks/numerics.py --out benchmarks/results/DATE-numerics
    python benchmarks/numerics.py --frames 2000 --gaze ../shared/data/gaze-images --out DIR

Writes DIR/results.json and DIR/report.md.  The logic is ``rt_saliency.bench.numerics``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.atomic import write_text
from rt_saliency.bench.numerics import (
    FP16_MAX,
    LoopedFrames,
    activation_bound,
    convert_fp16,
    fp16_parity,
    stream_bounds,
)
from rt_saliency.bench.timing import machine_info
from rt_saliency.data.gaze import load_rgb, open_gaze_sets
from rt_saliency.deploy.export_cache import cached_onnx
from rt_saliency.errors import RtSaliencyError
from rt_saliency.imaging import resize_to_input
from rt_saliency.model import pretrained
from rt_saliency.runtime.registry import open_predictor

REPO = Path(__file__).resolve().parents[1]


def _video_frames(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, (size[1], size[0]), interpolation=cv2.INTER_AREA),
                                   cv2.COLOR_BGR2RGB))
    capture.release()
    if not frames:
        raise RtSaliencyError(f"no frames decoded from {path}")
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--video", default=str(REPO / "tests" / "data" / "video" / "vtest.avi"),
                        help="a real clip, looped to --frames")
    parser.add_argument("--frames", type=int, default=10_000, help="stream length (default 10000)")
    parser.add_argument("--every", type=int, default=1000, help="a row every N frames")
    parser.add_argument("--parity-frames", type=int, default=300)
    parser.add_argument("--gaze", default=str(REPO.parent / "shared" / "data" / "gaze-images"),
                        help="gaze-images roots for the activation bound (test split)")
    parser.add_argument("--lookahead", type=int, default=2)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    frames = _video_frames(Path(args.video), (288, 384))
    results: dict = {"command": shlex.join(["python", "benchmarks/numerics.py", *sys.argv[1:]]),
                     "machine": machine_info(),
                     "weights": pretrained.DEFAULT_PRETRAINED, "video": args.video}

    def show(row) -> None:  # noqa: ANN001
        print(f"frames {row.first:>6}-{row.last:<6} max|h| {row.max_abs_h:.4f}  max|c| "
              f"{row.max_abs_c:.4f}  max|features| {row.max_abs_features:.2f}  saliency "
              f"[{row.saliency_min:.4f}, {row.saliency_max:.4f}]", flush=True)

    with open_predictor("onnxruntime", lookahead=args.lookahead) as predictor:
        t0 = time.time()
        rows = stream_bounds(predictor, LoopedFrames(frames, args.frames), args.every, show)
        results["stream"] = {"frames": args.frames, "seconds": round(time.time() - t0, 1),
                             "rows": [vars(r) for r in rows]}

    images = open_gaze_sets([args.gaze], "test")
    model = pretrained.load_pretrained()
    stills = [resize_to_input(load_rgb(im), model.config.input_size).transpose(2, 0, 1)
              .astype(np.float32) / 255.0 for im in images]
    bound = activation_bound(model, stills)
    results["activations"] = bound.to_dict()
    print(f"max |activation| over {bound.images} test stills: {bound.max_abs:.1f} ({bound.layer})")

    with tempfile.TemporaryDirectory(prefix="rt-saliency-fp16-") as tmp:
        encoder, _ = cached_onnx(pretrained.pretrained_path(), args.lookahead, Path(tmp) / "fp32")
        fp16_dir = convert_fp16(encoder.parent, Path(tmp) / "fp16")
        parity_frames = frames[: args.parity_frames]
        with open_predictor("onnxruntime", engine_dir=encoder.parent, lookahead=args.lookahead) as ref, \
                open_predictor("onnxruntime", engine_dir=fp16_dir, lookahead=args.lookahead) as half:
            parity = fp16_parity(ref, half, parity_frames)
    results["fp16_parity"] = parity.to_dict()
    print(f"FP16 ONNX vs FP32 on {parity.frames} frames: max abs {parity.max_abs:.4g}, mean abs "
          f"{parity.mean_abs:.3g}, CC min {parity.cc_min:.5f} mean {parity.cc_mean:.5f}")
    results["seconds"] = round(time.time() - started, 1)
    write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    write_text(out / "report.md", _markdown(results))
    print(f"wrote {out / 'report.md'}")
    return 0


def _markdown(r: dict) -> str:
    s = r["stream"]
    lines = [f"# Numerical bounds of `{r['weights']}`", "", f"`{r['command']}` "
             f"({r['seconds']} s; {r['machine'].get('cpu_model') or 'CPU model not recorded'}, "
             f"{r['machine'].get('cpu_count', '?')} cores)", "",
             f"## Carried state over a {s['frames']:,}-frame stream ({Path(r['video']).name}, "
             f"looped; ONNX Runtime; {s['seconds']} s)", "",
             "| frames | max abs h | max abs c | max abs features | saliency min | saliency max |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in s["rows"]:
        lines.append(f"| {row['first']}-{row['last']} | {row['max_abs_h']:.4f} | "
                     f"{row['max_abs_c']:.4f} | {row['max_abs_features']:.2f} | "
                     f"{row['saliency_min']:.4f} | {row['saliency_max']:.4f} |")
    a = r["activations"]
    lines += ["", f"## Largest activation over {a['images']} gaze test stills (torch, FP32)", "",
              f"max |output| of any layer: **{a['max_abs']:.1f}** ({a['layer']}); FP16's largest "
              f"finite value is {FP16_MAX:,.0f}.", "", "| layer kind | max abs output |",
              "| --- | ---: |"]
    lines += [f"| {kind} | {value:.2f} |" for kind, value in a["per_kind"].items()]
    p = r["fp16_parity"]
    lines += ["", f"## FP16 ONNX graphs against FP32 ({p['frames']} frames, same pipeline)", "",
              f"max abs {p['max_abs']:.4g}, mean abs {p['mean_abs']:.3g}, CC min "
              f"{p['cc_min']:.5f}, mean {p['cc_mean']:.5f} (graphs converted with "
              "rt_saliency.deploy.fp16, FP32 inputs and outputs; run on ONNX Runtime's CPU provider)",
              ""]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RtSaliencyError as exc:
        print(f"numerics: {exc}", file=sys.stderr)
        sys.exit(2)
