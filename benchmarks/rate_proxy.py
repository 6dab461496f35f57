#!/usr/bin/env python3
"""Can a cheap encode stand in for the flat encode that per-clip rate neutrality needs?

Per clip and CRF, the byte ratio guided/flat of the real encode (our x264 at the measured preset
and size; the flat one equals plain ``ffmpeg -c:v libx264``, tests/test_encode_equivalence.py)
against the same ratio from cheaper *proxy* encodes: faster presets and/or half resolution (the
offsets averaged over 2x2 blocks).  A proxy that tracks the real ratio within a few percent
would let a closed loop hold every clip's bytes at a flat map's; one that does not cannot.

    bash scripts/fetch_bench_clips.sh
    python benchmarks/rate_proxy.py benchmarks/data/clips/* tests/data/video/vtest.avi \\
        --out benchmarks/results/DATE-rate-proxy

Writes DIR/results.json and DIR/report.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.apps.compare.clip import predicted_maps, read_clip
from rt_saliency.apps.compare.ladder import encode_ours, i420_planes
from rt_saliency.atomic import write_text
from rt_saliency.bench.rate_neutrality import Clip, default_encoder
from rt_saliency.bench.timing import machine_info
from rt_saliency.encode import under_map
from rt_saliency.qp.mapping import QPConfig
from rt_saliency.runtime.registry import open_predictor

#: (name, x264 preset, down-scale factor) of the proxies tried
PROXIES = (("half-ultrafast", "ultrafast", 2), ("half-veryfast", "veryfast", 2),
           ("full-ultrafast", "ultrafast", 1), ("half-medium", "medium", 2))


def half_frame(frame: np.ndarray, h: int, w: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A packed I420 frame at half size (even dimensions, area filter per plane)."""
    h2, w2 = h // 4 * 2, w // 4 * 2
    planes = [cv2.resize(p, (pw, ph), interpolation=cv2.INTER_AREA)
              for p, (ph, pw) in zip(i420_planes(frame, h, w),
                                     ((h2, w2), (h2 // 2, w2 // 2), (h2 // 2, w2 // 2)))]
    return np.concatenate([planes[0], planes[1].reshape(-1, w2), planes[2].reshape(-1, w2)]), \
        (h2, w2)


def pool_offsets(offsets: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """16x16-block offsets of the full frame averaged onto the half frame's 16x16 blocks."""
    rows, cols = -(-size[0] // 16), -(-size[1] // 16)
    total = np.zeros((rows, cols), np.float64)
    count = np.zeros((rows, cols), np.float64)
    r, c = np.indices(offsets.shape)
    keep = (r // 2 < rows) & (c // 2 < cols)
    np.add.at(total, (r[keep] // 2, c[keep] // 2), offsets[keep])
    np.add.at(count, (r[keep] // 2, c[keep] // 2), 1.0)
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def measure(clip: Clip, crf: float, preset: str) -> dict:
    base = replace(default_encoder("h264", preset), crf=crf, bitrate=None)
    qp = QPConfig().for_codec("libx264", crf=crf)
    sample = clip.sample()
    h, w = sample.size
    offsets = sample.offsets(qp)["map"]
    t0 = time.perf_counter()
    flat = len(encode_ours(clip.frames, (h, w), clip.fps, base, None))
    row = {"clip": clip.name, "crf": crf, "flat_seconds": time.perf_counter() - t0,
           "real": len(encode_ours(clip.frames, (h, w), clip.fps, under_map(base, qp), offsets))
           / flat}
    for name, proxy_preset, scale in PROXIES:
        cfg = replace(base, preset=proxy_preset)
        frames, size, offs = clip.frames, (h, w), offsets
        if scale == 2:
            halves = [half_frame(f, h, w) for f in clip.frames]
            frames, size = [f for f, _ in halves], halves[0][1]
            offs = [pool_offsets(o, size) for o in offsets]
        t0 = time.perf_counter()
        proxy_flat = len(encode_ours(frames, size, clip.fps, cfg, None))
        row[f"{name}_seconds"] = time.perf_counter() - t0
        row[name] = len(encode_ours(frames, size, clip.fps, under_map(cfg, qp), offs)) / proxy_flat
    return row


def report(rows: list[dict], command: str, machine: dict) -> str:
    names = [p[0] for p in PROXIES]
    lines = ["# Proxy encodes for per-clip rate neutrality", "",
             f"Command: `{command}`", "",
             f"Machine: {machine.get('cpu_model', '?')}, {machine.get('cpu_count')} CPUs.", "",
             ("Byte ratio guided/flat (default `QPConfig`, the shipped network's maps), real "
              "encode (x264 at the measured preset, full size) and each proxy; the proxy's error "
              "is its ratio over the real one, minus 1."), "",
             "| clip | CRF | real | " + " | ".join(names) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['crf']:g} | {r['real']:.3f} | "
                     + " | ".join(f"{r[n]:.3f} ({100 * (r[n] / r['real'] - 1):+.1f} %)"
                                  for n in names) + " |")
    lines += ["", ("| proxy | worst error | clips within +-3 % | seconds of the proxy's flat "
                   "encode / the real flat encode |"), "| --- | ---: | ---: | ---: |"]
    for n in names:
        errs = [100 * (r[n] / r["real"] - 1) for r in rows]
        cost = sum(r[f"{n}_seconds"] for r in rows) / sum(r["flat_seconds"] for r in rows)
        lines.append(f"| {n} | {max(errs, key=abs):+.1f} % | "
                     f"{sum(abs(e) <= 3 for e in errs)}/{len(errs)} | {cost:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", metavar="CLIP")
    parser.add_argument("--crfs", type=float, nargs="+", default=[23.0, 28.0, 33.0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--max-frames", type=int, default=60)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    with open_predictor(args.backend) as predictor:
        clips = []
        for path in args.clips:
            frames, fps, _ = read_clip(path, args.max_frames)
            clips.append(Clip(Path(path).name, frames, fps,
                              predicted_maps(frames, fps, predictor)))
    rows = [measure(c, float(crf), args.preset) for c in clips for crf in args.crfs]
    machine = machine_info()
    command = "python benchmarks/rate_proxy.py " + shlex.join(sys.argv[1:] if argv is None
                                                             else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "results.json", json.dumps({"machine": machine, "rows": rows},
                                                      indent=2) + "\n")
    write_text(args.out / "report.md", report(rows, command, machine))
    print(report(rows, command, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
