"""Benchmark evaluation: the paper's Table 2 row (AUC-J, SIM, sAUC, CC, NSS) per data set.

For every data set root and split, the model is run over each video in consecutive clips of
``clip_len`` frames (the training clip: clip k covers frames kT..kT+T-1, the last clip is
shifted back to end at the last frame), and every ``stride``-th frame (at most ``max_frames`` a
video) is scored against the ground truth *at the ground truth's own resolution* (the metrics
resize the prediction, as the MIT code does).  Beside the model, a centre-bias baseline (an
anisotropic Gaussian at the frame centre with sigma = ``centre_sigma`` x width / height, the
same map for every frame) is scored on the same frames.

Protocol (DHF1K's, see ``docs/training.md``): metrics are averaged over a video's frames, then
over the videos; frames without fixations are skipped for the fixation metrics (AUC-J, sAUC,
NSS); sAUC's negatives are fixations of ``sauc_maps`` random frames of *other* videos of the
same data set, 100 splits.  Results are plain dicts, written as JSON and as a Markdown table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.errors import ConfigError

log = logging.getLogger(__name__)

#: the paper's Table 2 columns, in its order
METRICS: tuple[str, ...] = ("auc_j", "sim", "sauc", "cc", "nss")
METRIC_TITLES = {"auc_j": "AUC-J", "sim": "SIM", "sauc": "s-AUC", "cc": "CC", "nss": "NSS"}
BASELINE_NAME = "centre bias"


@dataclass(frozen=True)
class EvalOptions:
    """How much of a split to score and how."""

    split: str = "test"
    stride: int = 1
    max_frames: int | None = None
    max_videos: int | None = None
    clip_len: int = 5
    centre_sigma: float = 0.25
    sauc_maps: int = 10
    sauc_splits: int = 100
    seed: int = 0

    def validate(self) -> None:
        if self.stride < 1 or self.clip_len < 1:
            raise ConfigError("--stride and --clip-len must be >= 1")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError("--max-frames must be >= 1")
        if self.max_videos is not None and self.max_videos < 1:
            raise ConfigError("--max-videos must be >= 1")
        if not 0 < self.centre_sigma <= 10:
            raise ConfigError("centre sigma must be in (0, 10] (fraction of the frame size)")


def centre_bias(shape: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Centre-bias map of ``shape``: Gaussian at the centre, sigma = ``sigma`` x each dimension."""
    h, w = shape
    y = (np.arange(h) + 0.5 - h / 2) / (sigma * h)
    x = (np.arange(w) + 0.5 - w / 2) / (sigma * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


class _Accumulator:
    """Per-video means of each metric, then the mean over videos."""

    def __init__(self) -> None:
        self.per_video: dict[str, dict[str, list[float]]] = {}

    def add(self, video: str, metric: str, value: float) -> None:
        self.per_video.setdefault(video, {}).setdefault(metric, []).append(value)

    def result(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in METRICS:
            means = [np.mean(v[m]) for v in self.per_video.values() if v.get(m)]
            out[m] = float(np.mean(means)) if means else float("nan")
        return out


def _frames_to_score(n: int, opts: EvalOptions) -> list[int]:
    frames = list(range(0, n, opts.stride))
    return frames[: opts.max_frames] if opts.max_frames is not None else frames


def _clip_start(t: int, n: int, clip_len: int) -> int:
    return min((t // clip_len) * clip_len, max(n - clip_len, 0))


def _score(
    acc: _Accumulator,
    video: str,
    sal: np.ndarray,
    gt: np.ndarray,
    fix: np.ndarray,
    other: np.ndarray | None,
    rng: np.random.Generator,
    opts: EvalOptions,
) -> None:
    from rt_saliency import metrics

    acc.add(video, "sim", metrics.sim(sal, gt))
    acc.add(video, "cc", metrics.cc(sal, gt))
    if fix.any():
        acc.add(video, "auc_j", metrics.auc_judd(sal, fix, rng=rng))
        acc.add(video, "nss", metrics.nss(sal, fix))
        if other is not None:
            acc.add(video, "sauc", metrics.auc_shuffled(sal, fix, other, opts.sauc_splits, rng))


#: ``predict(record, wanted, emit)`` calls ``emit(t, saliency)`` for each wanted frame, in order
Predict = Callable[[Any, list[int], Callable[[int, np.ndarray], None]], None]


def _evaluate(roots: Sequence[str | Path], opts: EvalOptions, method: str,
              make_predict: Callable[[list[Any]], Predict], progress: bool = False) -> dict[str, Any]:
    """Score ``method``'s maps and the centre-bias baseline on each root's split.

    ``make_predict(records)`` is called once per data set root with its videos and returns the
    function that produces the maps of one video.
    """
    from rt_saliency.data.layout import dataset_name, open_dataset
    from rt_saliency.data.video import read_fixations, read_map

    opts.validate()
    rows: list[dict[str, Any]] = []
    for root in roots:
        records = open_dataset(root, opts.split)
        if opts.max_videos is not None:
            records = records[: opts.max_videos]
        # Pass 1: every scored frame's fixations as coordinates (sAUC negatives, bounded memory).
        fix_points: list[list[tuple[np.ndarray, tuple[int, int]]]] = []
        for rec in records:
            pts = []
            for t in _frames_to_score(rec.num_frames, opts):
                f = read_fixations(rec, t)
                if f.any():
                    pts.append((np.argwhere(f), f.shape))
            fix_points.append(pts)
        predict = make_predict(records)
        rng = np.random.default_rng(opts.seed)
        model_acc, base_acc = _Accumulator(), _Accumulator()
        n_frames = 0
        videos: Any = records
        if progress:
            from tqdm import tqdm

            videos = tqdm(records, desc=f"evaluate {dataset_name(Path(root))}", unit="video")
        for v, rec in enumerate(videos):
            others = [p for j, pts in enumerate(fix_points) if j != v for p in pts]
            video = f"{rec.dataset}/{rec.name}"

            def emit(t: int, sal: np.ndarray, rec: Any = rec, others: list = others,
                     video: str = video) -> None:
                nonlocal n_frames
                gt = read_map(rec, t)
                fix = read_fixations(rec, t)
                other = _negatives(others, gt.shape, opts, rng) if others else None
                _score(model_acc, video, sal, gt, fix, other, rng, opts)
                _score(base_acc, video, centre_bias(gt.shape, opts.centre_sigma), gt, fix,
                       other, rng, opts)
                n_frames += 1

            predict(rec, _frames_to_score(rec.num_frames, opts), emit)
        ds = dataset_name(Path(root))
        for name, acc in ((method, model_acc), (BASELINE_NAME, base_acc)):
            rows.append({"dataset": ds, "method": name, **acc.result(),
                         "videos": len(records), "frames": n_frames})
    return {"split": opts.split, "options": _plain(opts), "rows": rows}


def evaluate_model(
    model: Any,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    flow_config: Any | None = None,
    model_name: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``model`` (a TP-CMRNet, run over clips as trained) and the centre-bias baseline."""
    from rt_saliency.data.clips import ClipDataset

    model = model.to(device).eval()
    size = tuple(model.config.input_size)

    def make_predict(records: list[Any]) -> Predict:
        dset = ClipDataset(records, model.config.flow_maps, size, flow_config, opts.clip_len)

        def predict(rec: Any, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
            _predict_clips(model, dset, rec, wanted, emit, opts.clip_len, device)

        return predict

    return _evaluate(roots, opts, model_name or model.config.name, make_predict, progress)


def _predict_clips(model: Any, dset: Any, rec: Any, wanted: list[int],
                   emit: Callable[[int, np.ndarray], None], clip_len: int, device: str) -> None:
    """Run ``model`` over the training-length clips that hold the wanted frames."""
    import torch

    preds: dict[int, np.ndarray] = {}
    length = min(clip_len, rec.num_frames)
    for t in wanted:
        if t not in preds:
            start = _clip_start(t, rec.num_frames, length)
            sample = dset.clip(rec, start, length)
            with torch.no_grad():
                out = model(
                    torch.from_numpy(sample["frames"])[None].to(device),
                    torch.from_numpy(sample["flows"])[None].to(device),
                )
            maps = out[0, :, 0].float().cpu().numpy()
            for k in range(length):
                if start + k in wanted:
                    preds[start + k] = maps[k]
        emit(t, preds.pop(t))


class _LazyFrames(Sequence):
    """The RGB frames of a record with extracted frames, read one at a time."""

    def __init__(self, record: Any) -> None:
        self._record = record

    def __len__(self) -> int:
        return self._record.num_frames

    def __getitem__(self, index: Any) -> Any:
        from rt_saliency.data.video import read_frames

        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return read_frames(self._record, [index])[0]


class _ScoringSink:
    """A stream sink that hands each wanted frame's map to ``emit`` (from the sink thread)."""

    def __init__(self, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
        self._wanted = set(wanted)
        self._emit = emit

    def write_map(self, record: Any) -> None:
        if record.index in self._wanted:
            self._emit(record.index, record.saliency)

    def write_dropped(self, index: int) -> None:
        raise RuntimeError(f"frame {index} dropped while evaluating (a file never drops)")

    def close(self) -> None:
        pass


def evaluate_predictor(
    predictor: Any,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a streaming predictor (e.g. the training-free prior) as the daemon runs it.

    Each video goes through :class:`rt_saliency.stream.pipeline.Pipeline` (its flow, windows and
    recurrent state), so the scores are those of ``rt-saliency run``.  ``opts.clip_len`` is not
    used: the predictor's own lookahead decides what it sees.
    """
    from rt_saliency.stream.offline import ArraySource
    from rt_saliency.stream.pipeline import Pipeline
    from rt_saliency.stream.sources import open_source

    def predict(rec: Any, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
        if rec.frames is not None:
            source = ArraySource(_LazyFrames(rec), name=f"{rec.dataset}/{rec.name}")
        else:
            source = open_source(str(rec.video))
        with source:
            Pipeline(source, predictor, [_ScoringSink(wanted, emit)],
                     max_frames=rec.num_frames).run()

    return _evaluate(roots, opts, str(getattr(predictor, "name", "predictor")),
                     lambda records: predict, progress)


def _negatives(
    others: list[tuple[np.ndarray, tuple[int, int]]],
    shape: tuple[int, int],
    opts: EvalOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """Union of the fixations of ``sauc_maps`` random frames of other videos, at ``shape``."""
    from rt_saliency import metrics

    pick = rng.choice(len(others), size=min(opts.sauc_maps, len(others)), replace=False)
    maps = []
    for i in pick:
        pts, src = others[int(i)]
        m = np.zeros(src, bool)
        m[pts[:, 0], pts[:, 1]] = True
        maps.append(m)
    return metrics.sauc_negatives(maps, shape, n_maps=None)


def _plain(opts: EvalOptions) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(opts)


def evaluate(
    weights: str | Path,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    device: str = "cpu",
    flow_method: str | None = None,
    flow_preset: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Load a checkpoint (``weights_only``) and :func:`evaluate_model` it.

    The flow settings default to those the checkpoint was trained with (its ``train_options``),
    so evaluation sees the flow training saw.
    """
    from rt_saliency.model import load_checkpoint
    from rt_saliency.train.loop import flow_config_for

    model, data = load_checkpoint(weights, map_location=device)
    trained = data.get("train_options") or {}
    method = flow_method if flow_method is not None else trained.get("flow_method")
    preset = flow_preset if flow_preset is not None else trained.get("flow_preset")
    flow_config = flow_config_for(method, preset, tuple(model.config.input_size))
    report = evaluate_model(model, roots, opts, flow_config, device=device, progress=progress)
    report["weights"] = str(weights)
    report["flow"] = flow_config.to_dict()
    return report


def to_markdown(report: dict[str, Any], title: str | None = None) -> str:
    """The report as a Table-2 style Markdown table: one row per method, columns per data set."""
    datasets = list(dict.fromkeys(r["dataset"] for r in report["rows"]))
    methods = list(dict.fromkeys(r["method"] for r in report["rows"]))
    by_key = {(r["dataset"], r["method"]): r for r in report["rows"]}
    head = ["method"] + [f"{d} {METRIC_TITLES[m]}" for d in datasets for m in METRICS]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    for method in methods:
        cells = [method]
        for d in datasets:
            row = by_key.get((d, method), {})
            cells += [_fmt(row.get(m)) for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(
        f"{d}: {by_key[(d, methods[0])]['videos']} videos, {by_key[(d, methods[0])]['frames']} "
        f"frames" for d in datasets if (d, methods[0]) in by_key
    )
    lines += ["", f"Split `{report['split']}`; {counts}."]
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.3f}"


def write_report(report: dict[str, Any], out_dir: str | Path, stem: str = "evaluation") -> Path:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; return the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    (out / f"{stem}.md").write_text(to_markdown(report))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
