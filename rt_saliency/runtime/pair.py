"""The one builder of the encoder + head runner pair every network caller uses.

A TP-CMRNet is served as two graphs (``spec.ENCODER_*``, ``spec.HEAD_*``).  The torch backend
wraps a model's two graph modules; onnxruntime and tensorrt open two files.  Opening the head
closes the encoder again when it fails, so a caller never leaks a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from torch import nn

from rt_saliency.deploy.graphs import EncoderGraph, HeadGraph, graph_outputs, graph_specs
from rt_saliency.errors import ConfigError
from rt_saliency.runtime.base import Runner
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.openvino_runner import OpenVINORunner
from rt_saliency.runtime.tensorrt_runner import TensorRTRunner
from rt_saliency.runtime.torch_runner import TorchRunner
from rt_saliency.spec import DEFAULT_LOOKAHEAD

#: backends that run the network's graphs
RUNNER_BACKENDS: tuple[str, ...] = ("tensorrt", "onnxruntime", "openvino", "torch")


@dataclass(frozen=True)
class RunnerPair:
    """The encoder and head runners of one network; closing the pair closes both."""

    encoder: Runner
    head: Runner

    def __iter__(self) -> Iterator[Runner]:
        return iter((self.encoder, self.head))

    def close(self) -> None:
        try:
            self.encoder.close()
        finally:
            self.head.close()

    def __enter__(self) -> RunnerPair:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_runner(backend: str, source: Any, **options: Any) -> Runner:
    """Open one graph: ``source`` is an engine path (tensorrt), an ONNX path (onnxruntime,
    openvino) or a ``TorchRunner``'s ``(module, input_specs, output_names)`` tuple (torch).

    ``options`` go to the runner (``device``, ``threads`` for onnxruntime/openvino/torch;
    ``check`` for tensorrt).
    """
    if backend == "onnxruntime":
        return OnnxRunner(source, **options)
    if backend == "openvino":
        return OpenVINORunner(source, **options)
    if backend == "tensorrt":
        return TensorRTRunner(source, **options)
    if backend == "torch":
        module, specs, outputs = source
        return TorchRunner(module, specs, outputs, **options)
    raise ConfigError(f"unknown runner backend {backend!r}; choose one of {RUNNER_BACKENDS}")


def torch_sources(model: nn.Module, lookahead: int = DEFAULT_LOOKAHEAD) -> tuple[Any, Any]:
    """The torch runners' ``(module, input_specs, output_names)`` for the encoder and the head."""
    enc_specs, head_specs = graph_specs(model, lookahead)
    return ((EncoderGraph(model), enc_specs, graph_outputs("encoder")),
            (HeadGraph(model), head_specs, graph_outputs("head")))


def open_runner_pair(
    backend: str,
    graphs: nn.Module | tuple[str | Path, str | Path],
    *,
    lookahead: int = DEFAULT_LOOKAHEAD,
    **options: Any,
) -> RunnerPair:
    """Open the encoder and head of one network on ``backend``.

    ``graphs``: a TP-CMRNet (torch; ``lookahead`` sizes the head's window) or the
    ``(encoder, head)`` files (ONNX graphs for onnxruntime, engine plans for tensorrt).
    ``options`` go to both runners.
    """
    if backend == "torch":
        if not isinstance(graphs, nn.Module):
            raise ConfigError("the torch backend runs a model, not graph files")
        sources: tuple[Any, Any] = torch_sources(graphs, lookahead)
    elif isinstance(graphs, nn.Module):
        raise ConfigError(f"backend {backend!r} opens graph files; export the model first")
    else:
        sources = (graphs[0], graphs[1])
    encoder = open_runner(backend, sources[0], **options)
    try:
        head = open_runner(backend, sources[1], **options)
    except BaseException:
        encoder.close()
        raise
    return RunnerPair(encoder, head)
