"""Numerical bounds of a served network, measured rather than assumed.

* :func:`stream_bounds`: max |h|, max |c| of the carried ConvLSTM state, max |features| and the
  saliency range over a long stream through the daemon's pipeline (the state is never reset
  in a stream, so it must stay bounded however long the stream runs);
* :func:`activation_bound`: the largest |output| of every layer of the torch model over still
  images (how far inside FP16's range, 65,504, the network runs);
* :func:`fp16_parity`: the maps of FP16 ONNX graphs against the FP32 ones on the same stream
  (max abs difference and CC per frame), converted by the deployment's FP16 rewrite.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rt_saliency.deploy.fp16 import convert_to_fp16
from rt_saliency.model.tpcmrnet import TPCMRNet
from rt_saliency.runtime.compare import MapAgreement, compare_maps
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.stream.offline import ArraySource
from rt_saliency.stream.pipeline import Pipeline
from rt_saliency.stream.sinks import CollectSink

FP16_MAX = 65504.0


class LoopedFrames(Sequence[np.ndarray]):
    """``length`` frames read from ``frames`` in a loop: a long stream from a short real clip,
    with O(len(frames)) memory."""

    def __init__(self, frames: Sequence[np.ndarray], length: int) -> None:
        self._frames = frames
        self._length = int(length)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._frames[index % len(self._frames)]


@dataclass
class StateRow:
    """Maxima over the frames ``first..last`` of a stream."""

    first: int
    last: int
    max_abs_h: float
    max_abs_c: float
    max_abs_features: float
    saliency_min: float
    saliency_max: float


@dataclass
class _Window:
    first: int = 0
    h: float = 0.0
    c: float = 0.0
    features: float = 0.0
    sal_min: float = float("inf")
    sal_max: float = float("-inf")


class StateWatch:
    """A :class:`StreamPredictor` that passes everything to ``inner`` and records, per window of
    ``every`` frames, the largest state, features and saliency values it sees."""

    def __init__(self, inner: StreamPredictor, every: int = 1000,
                 on_row: Callable[[StateRow], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.flow_maps = inner.flow_maps
        self.lookahead = inner.lookahead
        self.input_size = inner.input_size
        self.every = int(every)
        self.rows: list[StateRow] = []
        self._on_row = on_row
        self._heads = 0
        self._window = _Window()
        self._features_max = 0.0  # written by the encoder thread, read by the head thread
        self._lock = threading.Lock()

    def initial_state(self) -> Any:
        return self.inner.initial_state()

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        features = self.inner.encode(frame, flows)
        value = float(np.abs(features).max())
        with self._lock:
            self._features_max = max(self._features_max, value)
        return features

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        saliency, state = self.inner.head(window, state)
        h, c = state
        w = self._window
        w.h = max(w.h, float(np.abs(h).max()))
        w.c = max(w.c, float(np.abs(c).max()))
        w.sal_min = min(w.sal_min, float(saliency.min()))
        w.sal_max = max(w.sal_max, float(saliency.max()))
        self._heads += 1
        if self._heads % self.every == 0:
            self._flush()
        return saliency, state

    def finish(self) -> None:
        """Record the last, partial window."""
        if self._heads > self._window.first:
            self._flush()

    def _flush(self) -> None:
        w = self._window
        with self._lock:
            features, self._features_max = self._features_max, 0.0
        row = StateRow(w.first, self._heads - 1, w.h, w.c, features, w.sal_min, w.sal_max)
        self.rows.append(row)
        if self._on_row is not None:
            self._on_row(row)
        self._window = _Window(first=self._heads)

    def close(self) -> None:
        self.inner.close()


class _CountSink:
    """Keeps nothing: a long stream's maps would not fit in memory."""

    def __init__(self) -> None:
        self.maps = 0

    def write_map(self, record: Any) -> None:
        self.maps += 1

    def write_dropped(self, index: int) -> None:
        raise RuntimeError(f"a lossless stream dropped frame {index}")

    def close(self, ok: bool = True) -> None:
        pass


def stream_bounds(predictor: StreamPredictor, frames: Sequence[np.ndarray], every: int = 1000,
                  on_row: Callable[[StateRow], None] | None = None,
                  fps: float = 25.0) -> list[StateRow]:
    """Run ``frames`` through the daemon's pipeline and return the maxima per ``every`` frames."""
    watch = StateWatch(predictor, every, on_row)
    sink = _CountSink()
    with ArraySource(frames, fps, name="numerics") as source:
        Pipeline(source, watch, [sink]).run()
    watch.finish()
    if sink.maps != len(frames):
        raise RuntimeError(f"the pipeline returned {sink.maps} maps for {len(frames)} frames")
    return watch.rows


@dataclass
class ActivationBound:
    """The largest |output| of any layer, and where."""

    max_abs: float
    layer: str
    per_kind: dict[str, float] = field(default_factory=dict)
    images: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)


@torch.no_grad()
def activation_bound(model: TPCMRNet, stills: Sequence[np.ndarray], clip_frames: int = 10,
                     burn_in: int = 50) -> ActivationBound:
    """Max |output| over every module of ``model`` on each still (float32 RGB (3, H, W) in
    [0, 1] at the model's input size) run as a static clip after ``burn_in`` frames of carried
    state, as a stream that has shown the still for a while."""
    model = model.eval()
    best: dict[str, float] = {}

    def hook(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            for tensor in _tensors(output):
                if tensor.is_floating_point() and tensor.numel():
                    best[name] = max(best.get(name, 0.0), float(tensor.abs().max()))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        s = model.config.flow_maps
        for rgb in stills:
            clip = torch.from_numpy(np.ascontiguousarray(rgb))[None, None].expand(
                1, clip_frames, -1, -1, -1)
            flows = torch.zeros(1, clip_frames, 2 * s, *rgb.shape[1:])
            model(clip, flows, static=True, burn_in=burn_in)
    finally:
        for handle in handles:
            handle.remove()
    if not best:
        raise RuntimeError("no layer produced an output")
    layer = max(best, key=best.__getitem__)
    per_kind: dict[str, float] = {}
    modules = dict(model.named_modules())
    for name, value in best.items():
        kind = type(modules[name]).__name__
        per_kind[kind] = max(per_kind.get(kind, 0.0), value)
    return ActivationBound(best[layer], layer, dict(sorted(per_kind.items())), len(stills))


def convert_fp16(src_dir: str | Path, dst_dir: str | Path) -> Path:
    """FP16 copies (float32 inputs and outputs) of the ONNX graphs in ``src_dir``, by the
    deployment's own converter (:func:`rt_saliency.deploy.fp16.convert_to_fp16`), with the
    manifest beside them, in ``dst_dir``."""
    src, dst = Path(src_dir), Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.suffix == ".onnx":
            convert_to_fp16(path, dst / path.name)
        elif path.is_file():
            shutil.copy2(path, dst / path.name)
    return dst


def fp16_parity(reference: StreamPredictor, candidate: StreamPredictor,
                frames: Sequence[np.ndarray]) -> MapAgreement:
    """The maps of ``candidate`` against ``reference``'s over ``frames`` (both through the
    daemon's pipeline)."""
    maps = []
    for predictor in (reference, candidate):
        sink = CollectSink(limit=len(frames))
        with ArraySource(frames, name="parity") as source:
            Pipeline(source, predictor, [sink]).run()
        maps.append([r.saliency for r in sink.records if not isinstance(r, int)])
    return compare_maps(maps[1], maps[0])
