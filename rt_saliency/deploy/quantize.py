"""INT8 encoder graph for the CPU: ONNX Runtime static quantization.

QDQ format, per-channel weights, U8 activations / S8 weights (the combination ONNX Runtime's
CPU kernels run with VNNI / AVX-512 and AVX2), activation ranges calibrated (min/max) on real
encoder inputs (:mod:`rt_saliency.deploy.calibration`).  The FP32 graph is pre-processed
(``quant_pre_process``: shape inference, graph optimisation) first, as ONNX Runtime advises.
The INT8 file carries the FP32 file's metadata plus ``rt_saliency.precision = int8`` and the
calibration's description, so the runtime can tell the two apart and check the model hash.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rt_saliency.artifacts import EXPORT_MANIFEST, file_sha256, metadata_key, precision_filename
from rt_saliency.deploy.calibration import (
    Sample,
    gaze_calibration_images,
    spread_video_samples,
    still_samples,
)
from rt_saliency.deploy.onnx_export import ExportResult
from rt_saliency.errors import ConfigError, InputError
from rt_saliency.optional import import_optional
from rt_saliency.spec import ENCODER_INPUTS

#: op types given quantized kernels (``None``: every op ONNX Runtime can quantize).  Conv alone
#: was both slower (a Q/DQ pair around every element-wise fusion/attention op) and less exact
#: than all ops (docs/deployment.md).
OP_TYPES: tuple[str, ...] | None = None


@dataclass(frozen=True)
class QuantizeResult:
    """What :func:`quantize_encoder` wrote and what it was calibrated on."""

    path: Path
    samples: int
    calibration: str
    op_types: tuple[str, ...] | None


class _Reader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of samples."""

    def __init__(self, samples: Sequence[Sample], inputs: Sequence[str]) -> None:
        self._samples = list(samples)
        self._inputs = tuple(inputs)
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._samples):
            return None
        sample = self._samples[self._next]
        self._next += 1
        return {name: np.ascontiguousarray(sample[name], np.float32) for name in self._inputs}

    def rewind(self) -> None:
        self._next = 0


def quantize_encoder(
    fp32_path: str | Path,
    out_path: str | Path,
    samples: Sequence[Sample],
    *,
    calibration: str = "",
    op_types: Sequence[str] | None = OP_TYPES,
    inputs: Sequence[str] = ENCODER_INPUTS,
) -> QuantizeResult:
    """Write the INT8 (QDQ, per-channel, U8/S8) version of the FP32 encoder graph ``fp32_path``.

    ``samples`` are encoder inputs (``frame``, ``flows``) of real pictures; ``calibration`` says
    in words what they are (kept in the file's metadata).  ``inputs``: the graph's input names
    (another graph quantized with the same settings, e.g. a peer network timed beside it).
    """
    onnx = import_optional("onnx")
    _quantization = import_optional("onnxruntime.quantization")
    CalibrationMethod = _quantization.CalibrationMethod
    QuantFormat = _quantization.QuantFormat
    QuantType = _quantization.QuantType
    quantize_static = _quantization.quantize_static
    quant_pre_process = import_optional("onnxruntime.quantization.shape_inference").quant_pre_process

    if not samples:
        raise InputError("INT8 calibration needs at least one sample")
    for i, sample in enumerate(samples):
        missing = [n for n in inputs if n not in sample]
        if missing:
            raise InputError(f"calibration sample {i} lacks {missing}")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    meta = {e.key: e.value for e in onnx.load(str(fp32_path), load_external_data=False).metadata_props}
    with tempfile.TemporaryDirectory(prefix="rt-saliency-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        staged = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(staged),
            _Reader(samples, inputs),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=None if op_types is None else list(op_types),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        proto = onnx.load(str(staged))
        meta.update({
            metadata_key("precision"): "int8",
            metadata_key("quantization"): json.dumps({
                "format": "QDQ", "per_channel": True, "activations": "uint8",
                "weights": "int8", "calibrate_method": "minmax", "op_types": None if op_types is None else list(op_types),
                "samples": len(samples), "calibration": calibration,
            }),
        })
        del proto.metadata_props[:]
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        out_path.parent.mkdir(parents=True, exist_ok=True)
        partial = out_path.with_name(out_path.name + ".partial")
        onnx.save(proto, str(partial))
        partial.replace(out_path)  # an earlier INT8 file survives a failed run
    return QuantizeResult(out_path, len(samples), calibration,
                          None if op_types is None else tuple(op_types))


def per_video_counts(frames_per_video: int | Sequence[int], videos: int) -> list[int]:
    """One calibration frame count per video from one count for all or one count each."""
    counts = [frames_per_video] if isinstance(frames_per_video, int) else list(frames_per_video)
    if any(c < 1 for c in counts):
        raise ConfigError(f"calibration frame counts must be >= 1, got {counts}")
    if len(counts) == 1:
        return counts * videos
    if len(counts) != videos:
        raise ConfigError(f"{len(counts)} calibration frame counts for {videos} videos: give one "
                          "count for all videos or one per video")
    return counts


def calibration_samples(
    flow_maps: int,
    *,
    videos: Sequence[str | Path] = (),
    images: str | Path | None = None,
    frames_per_video: int | Sequence[int] = 48,
    stills_per_set: int = 16,
) -> tuple[list[Sample], str]:
    """Encoder inputs from ``videos`` (with real flows) and the gaze-images folder ``images``
    (stills, zero flows, never a set's test split), and a one-line description of them.

    ``frames_per_video``: one count for every video, or one count per video (in order), so a
    short clip can add a few frames without cutting the frames of another."""
    counts = per_video_counts(frames_per_video, len(videos))
    samples: list[Sample] = []
    parts = []
    for video, count in zip(videos, counts):
        got = spread_video_samples(video, flow_maps, count)
        samples += got
        parts.append(f"{len(got)} frames of {Path(video).name}")
    if images is not None and stills_per_set > 0:
        paths = gaze_calibration_images(images, stills_per_set)
        samples += still_samples(paths, flow_maps)
        parts.append(f"{len(paths)} stills of {Path(images).name} (no test-split image)")
    if not samples:
        raise InputError("no calibration pictures: give videos and/or a gaze-images folder")
    return samples, ", ".join(parts)


def export_int8_encoder(
    result: ExportResult,
    *,
    videos: Sequence[str | Path] = (),
    images: str | Path | None = None,
    frames_per_video: int | Sequence[int] = 48,
    stills_per_set: int = 16,
) -> QuantizeResult:
    """``encoder.int8.onnx`` beside an export's FP32 encoder, calibrated on real pictures, and
    its entry (file, SHA-256, calibration) in the export's manifest."""
    flow_maps = result.encoder_specs[ENCODER_INPUTS[1]].shape[1] // 2
    samples, described = calibration_samples(
        flow_maps, videos=videos, images=images, frames_per_video=frames_per_video,
        stills_per_set=stills_per_set)
    out = result.encoder_path.with_name(precision_filename(result.encoder_path.name, "int8"))
    quantized = quantize_encoder(result.encoder_path, out, samples, calibration=described)
    manifest_path = result.encoder_path.parent / EXPORT_MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        manifest["graphs"]["encoder_int8"] = {
            "file": out.name, "precision": "int8", "sha256": file_sha256(out),
            "calibration": described, "samples": len(samples),
        }
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return quantized
