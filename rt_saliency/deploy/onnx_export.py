"""Export TP-CMRNet's two streaming graphs (encoder, fixed-window head) to ONNX.

Shapes are static (batch 1, the model's input size, a head window of ``L + 1`` frames) so that
the ConvLSTM's Python loop unrolls: the graphs hold no Loop/Scan op, which TensorRT handles
poorly when the body has convolutions (``DESIGN.md``).  The exporter is torch's classic
TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): it is fast here and needs no
extra package.  Each file carries in ``metadata_props`` the model hash, the model config, its
input spec, the lookahead and the rt-saliency version; ``export.json`` beside the files says
the same plus each file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rt_saliency import __version__
from rt_saliency.artifacts import (
    EXPORT_MANIFEST,
    encoder_filename,
    file_sha256,
    head_filename,
    load_onnx_proto,
    metadata_key,
)
from rt_saliency.deploy.graphs import EncoderGraph, HeadGraph, describe, graph_outputs, graph_specs
from rt_saliency.flow import FlowConfig, flow_config_for
from rt_saliency.model.checkpoint import read_checkpoint
from rt_saliency.optional import import_optional
from rt_saliency.spec import DEFAULT_LOOKAHEAD, TensorSpec

log = logging.getLogger(__name__)

#: lowest opset the graphs are exported at (Resize with cubic mode and 'half_pixel' is in 11+,
#: 17 is what current TensorRT and ONNX Runtime both test against)
MIN_OPSET = 17
#: ops that mean a recurrent loop was not unrolled
LOOP_OPS = frozenset({"Loop", "Scan", "If"})
EXPORTER = "torch.onnx.export(dynamo=False) (TorchScript tracing)"



def model_hash(model: nn.Module) -> str:
    """SHA-256 (hex) of the model's config and weights: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        digest.update(json.dumps(config.to_dict(), sort_keys=True, default=list).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote."""

    encoder_path: Path
    head_path: Path
    lookahead: int
    model_hash: str
    encoder_specs: dict[str, TensorSpec]
    head_specs: dict[str, TensorSpec]
    opset: int
    files: dict[str, str] = field(default_factory=dict)

    def manifest(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "rt_saliency_version": __version__,
            "exporter": EXPORTER,
            "torch_version": torch.__version__,
            "opset": self.opset,
            "model_hash": self.model_hash,
            "lookahead": self.lookahead,
            "config": config,
            "graphs": {
                "encoder": {"file": self.encoder_path.name, "inputs": describe(self.encoder_specs),
                            "outputs": list(graph_outputs("encoder")),
                            "sha256": self.files.get(self.encoder_path.name)},
                "head": {"file": self.head_path.name, "inputs": describe(self.head_specs),
                         "outputs": list(graph_outputs("head")),
                         "sha256": self.files.get(self.head_path.name)},
            },
        }


def _config_dict(model: nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        return {}
    return json.loads(json.dumps(config.to_dict(), default=list))


def export_module(module: nn.Module, inputs: dict[str, tuple[int, ...]], outputs: tuple[str, ...],
                  path: str | Path, opset: int = MIN_OPSET) -> Path:
    """Export any float32 module with the exporter and checks the project's graphs go through
    (static shapes, no control flow); used for networks that are not TP-CMRNet (a peer timed
    beside it)."""
    specs = {name: TensorSpec(name, tuple(shape), np.dtype(np.float32))
             for name, shape in inputs.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _export_one(module.eval(), specs, outputs, path, opset, {metadata_key("graph"): "external"})
    return path


def _export_one(
    module: nn.Module,
    specs: dict[str, TensorSpec],
    outputs: tuple[str, ...],
    path: Path,
    opset: int,
    metadata: dict[str, str],
) -> None:
    onnx = import_optional("onnx")

    param = next(module.parameters())
    args = tuple(torch.zeros(spec.shape, dtype=param.dtype, device=param.device) for spec in specs.values())
    with warnings.catch_warnings():
        # the classic exporter warns that it is deprecated in favour of dynamo; we chose it on purpose
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(specs),
            output_names=list(outputs),
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    loops = sorted({node.op_type for node in proto.graph.node if node.op_type in LOOP_OPS})
    if loops:
        raise RuntimeError(f"{path.name}: exported graph has control-flow ops {loops}; it must unroll")
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value
    proto.producer_name = "rt-saliency"
    proto.producer_version = __version__
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))


def trained_flow(checkpoint: str | Path) -> FlowConfig | None:
    """The flow settings a checkpoint was trained with (its training options' method and preset,
    at the model's input size), or ``None`` when it does not say."""
    data = read_checkpoint(checkpoint)
    options = data.get("train_options") or {}
    method, preset = options.get("flow_method"), options.get("flow_preset")
    if method is None and preset is None:
        return None
    size = (data.get("config") or {}).get("input_size")
    return flow_config_for(method, preset, tuple(size) if size else None)


def flow_metadata(flow: FlowConfig) -> str:
    """The ``rt_saliency.flow`` metadata value of a graph: the flow it must be served."""
    return json.dumps({"method": flow.method, "preset": flow.preset, "size": list(flow.size)})


def graph_flow(metadata: dict[str, str]) -> FlowConfig | None:
    """The flow a graph's metadata names (:func:`flow_metadata`), or ``None``."""
    text = metadata.get(metadata_key("flow"))
    if not text:
        return None
    value = json.loads(text)
    return flow_config_for(value.get("method"), value.get("preset"), value.get("size"))


def export_onnx(
    model: nn.Module,
    out_dir: str | Path,
    *,
    lookahead: int = DEFAULT_LOOKAHEAD,
    opset: int = MIN_OPSET,
    flow: FlowConfig | None = None,
) -> ExportResult:
    """Write ``encoder.onnx`` and ``head_w{L+1}.onnx`` (and ``export.json``) into ``out_dir``.

    The model is exported in eval mode on its current device, float32, batch 1.  ``flow``: the
    flow settings it was trained with, written into the graphs' metadata so the stream serves
    the same (:func:`trained_flow` reads them from a checkpoint).
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if lookahead < 0:
        raise ValueError(f"lookahead must be >= 0, got {lookahead}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        encoder_specs, head_specs = graph_specs(model, lookahead)
        digest = model_hash(model)
        config = _config_dict(model)
        common = {
            metadata_key("version"): __version__,
            metadata_key("model_hash"): digest,
            metadata_key("config"): json.dumps(config, sort_keys=True),
            metadata_key("lookahead"): str(lookahead),
            metadata_key("exporter"): EXPORTER,
        }
        if flow is not None:
            common[metadata_key("flow")] = flow_metadata(flow)
        result = ExportResult(
            encoder_path=out / encoder_filename(),
            head_path=out / head_filename(lookahead),
            lookahead=lookahead,
            model_hash=digest,
            encoder_specs=encoder_specs,
            head_specs=head_specs,
            opset=opset,
        )
        for kind, module, specs, path in (
            ("encoder", EncoderGraph(model), encoder_specs, result.encoder_path),
            ("head", HeadGraph(model), head_specs, result.head_path),
        ):
            meta = dict(common)
            meta[metadata_key("graph")] = kind
            meta[metadata_key("input_spec")] = json.dumps(describe(specs))
            log.debug("exporting %s graph to %s", kind, path)
            _export_one(module, specs, graph_outputs(kind), path, opset, meta)
            result.files[path.name] = file_sha256(path)
    finally:
        model.train(was_training)
    (out / EXPORT_MANIFEST).write_text(json.dumps(result.manifest(config), indent=2) + "\n")
    return result


def graph_ops(path: str | Path) -> set[str]:
    """The set of op types in an ONNX file's main graph."""
    return {node.op_type for node in load_onnx_proto(path).graph.node}
