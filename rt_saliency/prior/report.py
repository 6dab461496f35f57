"""Measurements behind ``docs/prior.md``: scores on a still image, and the cost per frame.

``python -m rt_saliency.prior.report mit DIR`` scores the prior (motion off) and a
centre-bias-only map on the MIT1003 sample in ``DIR``; ``python -m rt_saliency.prior.report
time VIDEO`` times flow and the prior per frame at 224x224.  Both print Markdown.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rt_saliency import metrics
from rt_saliency.errors import InputError, InputNotFoundError
from rt_saliency.flow import FlowEstimator, flow_to_input
from rt_saliency.optional import import_optional
from rt_saliency.prior.predictor import PriorConfig, PriorPredictor
from rt_saliency.prior.terms import centre_bias


def _rgb_224(bgr: np.ndarray) -> np.ndarray:
    small = cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def score_mit_sample(folder: Path, configs: dict[str, PriorConfig] | None = None) -> str:
    """Markdown table: AUC-J, NSS, CC, SIM, KL of centre bias and prior variants on i210."""
    import_optional("scipy.io")
    scipy = import_optional("scipy")

    mat = folder / "FIXATIONLOCS_i210.mat"
    if not mat.is_file():
        raise InputNotFoundError(f"{mat} not found")
    fix = scipy.io.loadmat(mat)["fixations"]
    gt = cv2.imread(str(folder / "FIXATIONMAPS_i210.jpg"), cv2.IMREAD_GRAYSCALE)
    bgr = cv2.imread(str(folder / "ALLSTIMULI_i210.jpg"))
    if gt is None or bgr is None:
        raise InputError(f"cannot read the i210 images in {folder}")
    frame = _rgb_224(bgr).astype(np.float32).transpose(2, 0, 1) / 255.0
    zeros = np.zeros((2, 224, 224), np.float32)
    configs = configs or {
        "prior, default weights (motion off)": PriorConfig(),
        "static term only": PriorConfig(w_centre=0, w_motion=0, w_face=0),
    }
    maps = {"centre bias only": centre_bias((224, 224), PriorConfig().centre_sigma)}
    for name, cfg in configs.items():
        p = PriorPredictor(cfg)
        maps[name], _ = p.head(p.encode(frame, zeros)[None], None)
    lines = ["| map | AUC-J | NSS | CC | SIM | KL |", "| --- | --- | --- | --- | --- | --- |"]
    for name, m in maps.items():
        vals = (
            metrics.auc_judd(m, fix),
            metrics.nss(m, fix),
            metrics.cc(m, gt),
            metrics.sim(m, gt),
            metrics.kld(m, gt),
        )
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines)


def time_prior(video: Path, frames: int = 100, repeats: int = 3) -> str:
    """Markdown lines: ms per frame of DIS flow and of the prior (encode + head), best of runs."""
    cap = cv2.VideoCapture(str(video))
    rgb = []
    while len(rgb) < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb.append(_rgb_224(bgr))
    cap.release()
    if len(rgb) < 2:
        raise InputError(f"cannot read two frames from {video}")
    est = FlowEstimator()
    chw = [f.astype(np.float32).transpose(2, 0, 1) / 255.0 for f in rgb]
    flow_ms, prior_ms = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        flows = [np.zeros((2, 224, 224), np.float32)]
        flows += [flow_to_input(est.compute(a, b)) for a, b in zip(rgb, rgb[1:])]
        flow_ms.append((time.perf_counter() - t0) / (len(rgb) - 1) * 1e3)
        p = PriorPredictor()
        state = p.initial_state()
        t0 = time.perf_counter()
        for c, f in zip(chw, flows):
            _, state = p.head(p.encode(c, f)[None], state)
        prior_ms.append((time.perf_counter() - t0) / len(chw) * 1e3)
    runs = f"flow {[round(v, 2) for v in flow_ms]}, prior {[round(v, 2) for v in prior_ms]}"
    return (
        f"- frames: {len(rgb)} of {video.name}, 224x224, best of {repeats} runs "
        f"(all runs: {runs})\n"
        f"- flow (DIS ultrafast, RGB->grey + flow + flow_to_input): {min(flow_ms):.2f} ms/frame\n"
        f"- prior (encode + head, flow excluded): {min(prior_ms):.2f} ms/frame"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("mit").add_argument("folder", type=Path)
    sub.add_parser("time").add_argument("video", type=Path)
    args = parser.parse_args(argv)
    print(score_mit_sample(args.folder) if args.what == "mit" else time_prior(args.video))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
