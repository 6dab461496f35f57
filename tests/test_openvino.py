"""The OpenVINO runner against ONNX Runtime on the same graphs (skipped without openvino)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'rt-saliency[openvino]')")

from rt_saliency.deploy.calibration import video_samples  # noqa: E402
from rt_saliency.deploy.graphs import random_inputs  # noqa: E402
from rt_saliency.deploy.onnx_export import export_onnx  # noqa: E402
from rt_saliency.deploy.quantize import quantize_encoder  # noqa: E402
from rt_saliency.errors import BackendUnavailableError, InputError  # noqa: E402
from rt_saliency.metrics import cc  # noqa: E402
from rt_saliency.model import create_model  # noqa: E402
from rt_saliency.runtime.onnx_runner import OnnxRunner  # noqa: E402
from rt_saliency.runtime.openvino_runner import OpenVINORunner  # noqa: E402
from rt_saliency.runtime.registry import open_predictor  # noqa: E402


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory, vtest_avi: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("ov")
    result = export_onnx(create_model(flow_maps=3, stage_widths=(8, 16)).eval(), root, lookahead=1)
    int8 = root / "encoder.int8.onnx"
    quantize_encoder(result.encoder_path, int8, video_samples(vtest_avi, 3, 4, start=20))
    return {"encoder": result.encoder_path, "head": result.head_path, "int8": int8}


@pytest.mark.parametrize(("graph", "tolerance"), [("encoder", 1e-4), ("head", 1e-4), ("int8", 2e-2)])
def test_openvino_matches_onnxruntime(graphs: dict[str, Path], graph: str, tolerance: float) -> None:
    with OpenVINORunner(graphs[graph], threads=1) as ov, OnnxRunner(graphs[graph], threads=1) as ref:
        assert list(ov.input_specs) == list(ref.input_specs)
        assert [s.shape for s in ov.input_specs.values()] == [s.shape for s in ref.input_specs.values()]
        assert ov.output_names == ref.output_names
        inputs = random_inputs(ref.input_specs, seed=3)
        got, want = ov.infer(inputs), ref.infer(inputs)
    for name in want:
        scale = max(1.0, float(np.abs(want[name]).max()))
        assert np.abs(got[name] - want[name]).max() / scale < tolerance, name
        assert np.abs(got[name]).max() > 0


def test_openvino_refuses_bad_input_and_devices(graphs: dict[str, Path], tmp_path: Path) -> None:
    with OpenVINORunner(graphs["head"]) as ov:
        with pytest.raises(InputError):
            ov.infer({"features": np.zeros((1, 2, 32, 28, 28), np.float32)})
    with pytest.raises(BackendUnavailableError):
        OpenVINORunner(graphs["head"], device="cuda")


def test_the_openvino_backend_serves_the_shipped_int8_maps_of_onnx_runtime(
        vtest_avi: Path) -> None:
    """``--backend openvino``: the same shipped graphs (INT8 encoder, FP32 head) on OpenVINO;
    its maps agree with ONNX Runtime's on real frames with real flows."""
    samples = video_samples(vtest_avi, 9, 3, start=20)
    maps = {}
    for backend in ("openvino", "onnxruntime"):
        with open_predictor(backend, threads=1) as predictor:
            assert predictor.name == f"tpcmrnet/{backend}-int8"
            feats = np.stack([predictor.encode(s["frame"][0], s["flows"][0]) for s in samples])
            maps[backend], _ = predictor.head(feats, predictor.initial_state())
    assert cc(maps["openvino"], maps["onnxruntime"]) > 0.97
