"""What the package knows about the files it ships, exports and runs: names, sidecars, metadata.

Exporting (``deploy``) writes these files and running (``runtime``) finds and checks them; both
take the rules from here, so a file name or a metadata key is defined once:

- graphs: ``encoder.onnx``, ``head_w{L+1}.onnx``, lower precisions ``encoder.int8.onnx``, and the
  export's manifest ``export.json``;
- TensorRT engines: ``head_w3.fp16.plan`` with a JSON sidecar ``head_w3.fp16.plan.json``;
- the ``rt_saliency.*`` keys in an ONNX file's ``metadata_props``;
- the SHA-256 content hash that names shipped weights, cache entries and engines' models.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rt_saliency.errors import EngineMismatchError, GraphError
from rt_saliency.optional import import_optional

#: the export's manifest, beside its graphs
EXPORT_MANIFEST = "export.json"
#: version of the engine sidecar's layout; an engine whose sidecar differs is rebuilt
SIDECAR_FORMAT = 1
#: prefix of this package's keys in an ONNX file's ``metadata_props``
METADATA_PREFIX = "rt_saliency."


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def encoder_filename() -> str:
    """The per-frame encoder graph's file name."""
    return "encoder.onnx"


def head_filename(lookahead: int) -> str:
    """Head graph file name for lookahead L: ``head_w{L+1}.onnx``."""
    return f"head_w{lookahead + 1}.onnx"


def precision_filename(name: str, precision: str) -> str:
    """``encoder.onnx`` for fp32, ``encoder.int8.onnx`` for int8 (any lower precision alike)."""
    if precision == "fp32":
        return name
    stem, _, ext = name.rpartition(".")
    return f"{stem}.{precision}.{ext}"


def engine_filename(onnx_path: str | Path, precision: str) -> str:
    """``head_w3.onnx`` + fp16 -> ``head_w3.fp16.plan``."""
    return f"{Path(onnx_path).stem}.{precision}.plan"


def sidecar_path(engine_path: str | Path) -> Path:
    """``engine.plan`` -> ``engine.plan.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def write_sidecar(engine_path: str | Path, sidecar: dict[str, Any]) -> Path:
    """Write an engine's sidecar (the layout version added) and return its path."""
    path = sidecar_path(engine_path)
    path.write_text(json.dumps({"format": SIDECAR_FORMAT, **sidecar}, indent=2) + "\n")
    return path


def load_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """Read an engine's sidecar; a missing or unreadable one is an :class:`EngineMismatchError`."""
    path = sidecar_path(engine_path)
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise EngineMismatchError(
            f"{path} is missing, so {engine_path} cannot be checked against this TensorRT/GPU; "
            "rebuild it with rt-saliency build-engine"
        ) from exc
    except (OSError, ValueError) as exc:
        raise EngineMismatchError(f"{path} is unreadable ({exc}); rebuild the engine") from exc
    if not isinstance(data, dict):
        raise EngineMismatchError(f"{path} is not a JSON object; rebuild the engine")
    return data


def metadata_key(name: str) -> str:
    """``model_hash`` -> ``rt_saliency.model_hash``."""
    return METADATA_PREFIX + name


def load_onnx_proto(path: str | Path) -> Any:
    """The ModelProto of an ONNX file (weights not loaded); :class:`GraphError` when the file is
    empty, truncated or not ONNX."""
    onnx = import_optional("onnx")
    DecodeError = import_optional("google.protobuf.message").DecodeError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise GraphError(f"{path}: not an ONNX graph (corrupt or truncated protobuf)") from exc
    if not proto.graph.node:
        raise GraphError(f"{path}: not an ONNX graph (empty file or no graph in it)")
    return proto


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (without loading the weights)."""
    return {entry.key: entry.value for entry in load_onnx_proto(path).metadata_props}
