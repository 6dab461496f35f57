"""Several streams, one encoder: concurrent per-frame encoder calls run as one batched call.

Each stream keeps its own predictor view (:class:`SharedEncoderPredictor`: its own head, its own
recurrent state) and hands its frames to one :class:`EncoderBatcher`.  The batcher has no thread
of its own: a caller that finds every registered stream waiting (or the largest batch full)
runs the batch for all of them; a caller that waited ``max_wait_s`` without that happening runs
whatever is pending.  Frames of a stream that falls silent therefore wait at most ``max_wait_s``.

The batched graphs have static shapes, one runner per batch size (1 is required); a pending
count between two sizes runs as the largest size that fits, then the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rt_saliency.errors import ConfigError
from rt_saliency.flow import FlowConfig
from rt_saliency.runtime.base import Runner
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.spec import ENCODER_INPUTS, ENCODER_OUTPUTS


@dataclass
class _Request:
    frame: np.ndarray
    flows: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    features: np.ndarray | None = None
    error: BaseException | None = None


class EncoderBatcher:
    """One encoder per batch size, shared by every stream registered with :meth:`register`."""

    def __init__(self, runners: Mapping[int, Runner], *, max_wait_s: float = 0.005) -> None:
        if 1 not in runners:
            raise ConfigError(f"an encoder batcher needs a batch-1 runner, got sizes {sorted(runners)}")
        for size, runner in runners.items():
            if tuple(runner.input_specs) != ENCODER_INPUTS or \
                    tuple(runner.output_names) != ENCODER_OUTPUTS:
                raise ConfigError(f"batch-{size} runner is not an encoder graph")
            got = runner.input_specs["frame"].shape[0]
            if got != size:
                raise ConfigError(f"the runner given for batch {size} takes batch {got}")
        if max_wait_s < 0:
            raise ConfigError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self._runners = dict(runners)
        self._sizes = sorted(runners, reverse=True)
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._pending: list[_Request] = []
        self._clients = 0
        #: batched calls made, by batch size (for stats and tests)
        self.calls: dict[int, int] = dict.fromkeys(self._sizes, 0)
        self.closed = False

    @property
    def max_batch(self) -> int:
        return self._sizes[0]

    def runner(self, size: int) -> Runner:
        """The encoder runner of batch ``size``."""
        return self._runners[size]

    def warm_up(self) -> None:
        """One call of every batch size on zeros (first calls pick kernels: not a stream's cost)."""
        for runner in self._runners.values():
            runner.infer({name: np.zeros(spec.shape, spec.dtype)
                          for name, spec in runner.input_specs.items()})

    def register(self) -> None:
        """One more stream takes part (a full batch waits for every registered stream)."""
        with self._lock:
            self._clients += 1

    def unregister(self) -> None:
        with self._lock:
            self._clients = max(0, self._clients - 1)

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        """Features (C, h, w) of one frame; blocks until its batch has run."""
        if self.closed:
            raise RuntimeError("encoder batcher used after close()")
        request = _Request(np.asarray(frame, np.float32), np.asarray(flows, np.float32))
        with self._lock:
            self._pending.append(request)
            lead = len(self._pending) >= min(self._clients, self.max_batch)
        if not lead and not request.done.wait(self.max_wait_s):
            lead = True
        if lead:
            self._run_pending()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.features is not None
        return request.features

    def _run_pending(self) -> None:
        with self._run_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    size = next(s for s in self._sizes if s <= len(self._pending))
                    batch, self._pending = self._pending[:size], self._pending[size:]
                self._run(size, batch)

    def _run(self, size: int, batch: list[_Request]) -> None:
        try:
            out = self._runners[size].infer({
                "frame": np.stack([r.frame for r in batch]),
                "flows": np.stack([r.flows for r in batch]),
            })["features"]
            self.calls[size] += 1
            for i, request in enumerate(batch):
                request.features = out[i]
        except BaseException as exc:  # handed to every waiting stream, raised in each
            for request in batch:
                request.error = exc
        finally:
            for request in batch:
                request.done.set()

    def close(self) -> None:
        """Close every runner; idempotent."""
        if self.closed:
            return
        self.closed = True
        for runner in self._runners.values():
            runner.close()

    def __enter__(self) -> EncoderBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedEncoderPredictor:
    """A stream's predictor: its per-frame encoder calls go through the shared ``batcher``, its
    temporal head (and so its recurrent state) is its own ``head`` runner."""

    def __init__(self, batcher: EncoderBatcher, head: Runner, lookahead: int | None = None, *,
                 name: str | None = None, flow: FlowConfig | None = None) -> None:
        self._net = NetworkPredictor(batcher.runner(1), head, lookahead, name=name, flow=flow)
        self._batcher = batcher
        self._head = head
        self.name = f"{self._net.name}+batched"
        self.flow_maps = self._net.flow_maps
        self.lookahead = self._net.lookahead
        self.input_size = self._net.input_size
        self.flow_config = self._net.flow_config
        batcher.register()
        self._registered = True

    def initial_state(self) -> Any:
        return self._net.initial_state()

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        return self._batcher.encode(frame, flows)

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        return self._net.head(window, state)

    def close(self) -> None:
        """Leave the batcher (it stays open for the other streams) and close the own head."""
        if self._registered:
            self._registered = False
            self._batcher.unregister()
            self._head.close()

    def __enter__(self) -> SharedEncoderPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
