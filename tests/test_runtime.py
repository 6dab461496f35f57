"""Runner interface, NetworkPredictor, open_predictor and the engine-compatibility rules (CPU)."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from rt_saliency.artifacts import load_sidecar, sidecar_path
from rt_saliency.deploy.engine import check_engine_compat
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.errors import (
    BackendUnavailableError,
    ConfigError,
    EngineMismatchError,
    InputError,
    InputNotFoundError,
)
from rt_saliency.model import create_model, pretrained, save_checkpoint
from rt_saliency.runtime.compare import compare_outputs
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.pair import open_runner
from rt_saliency.runtime.predictor import StreamPredictor, warm_up
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.spec import TensorSpec
from rt_saliency.stream.offline import predict_clip

LOOKAHEAD = 1
FLOW_MAPS = 3


class Affine(nn.Module):
    """y = 2x + 1 and z = x.sum(): a graph whose outputs are known exactly."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 2 * x + 1, x.sum(dim=1)


AFFINE_SPECS = {"x": TensorSpec("x", (2, 3), np.dtype(np.float32))}


@pytest.fixture(scope="module")
def affine_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("affine") / "affine.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the classic exporter, on purpose
        torch.onnx.export(Affine(), (torch.zeros(2, 3),), str(path), input_names=["x"],
                          output_names=["y", "z"], opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """A narrow model with S=3 flow maps, its checkpoint and its ONNX graphs (lookahead 1)."""
    torch.manual_seed(0)
    # a narrow variant of the real network keeps export and inference quick
    model = create_model(flow_maps=FLOW_MAPS, stage_widths=(8, 16)).eval()
    root = tmp_path_factory.mktemp("small")
    ckpt = save_checkpoint(root / "ckpt" / "model.pt", model)
    export_onnx(model, root / "onnx", lookahead=LOOKAHEAD)
    return model, ckpt, root / "onnx"


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_runner_contract(backend: str, affine_onnx: Path) -> None:
    source = affine_onnx if backend == "onnxruntime" else (Affine(), AFFINE_SPECS, ("y", "z"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with open_runner(backend, source) as runner:
        assert runner.backend == backend
        assert list(runner.input_specs) == ["x"] and runner.input_specs["x"].shape == (2, 3)
        assert runner.output_names == ("y", "z")
        out = runner.infer({"x": x})
        np.testing.assert_allclose(out["y"], 2 * x + 1)
        np.testing.assert_allclose(out["z"], [3.0, 12.0])
        out64 = runner.infer({"x": x.astype(np.float64)})  # floats are cast, not refused
        np.testing.assert_allclose(out64["y"], out["y"])
        with pytest.raises(InputError, match="missing"):
            runner.infer({"input": x})
        with pytest.raises(InputError, match="unknown"):
            runner.infer({"x": x, "extra": x})
        with pytest.raises(InputError, match="shape"):
            runner.infer({"x": x.T})
        with pytest.raises(InputError, match="dtype"):
            runner.infer({"x": x.astype(np.int64)})
    with pytest.raises(RuntimeError, match="after close"):
        runner.infer({"x": x})


def test_compare_outputs_known_answers() -> None:
    a = {"y": np.array([1.0, 2.0, 4.0]), "z": np.zeros(2)}
    b = {"y": np.array([1.0, 2.5, 4.0]), "z": np.zeros(2)}
    diffs = compare_outputs(a, b)
    assert diffs["y"].max_abs == pytest.approx(0.5)
    assert diffs["y"].max_rel == pytest.approx(0.2)
    assert diffs["y"].mean_abs == pytest.approx(0.5 / 3)
    assert diffs["z"].max_abs == 0.0
    with pytest.raises(InputError):
        compare_outputs(a, {"y": b["y"]})
    with pytest.raises(InputError):
        compare_outputs(a, {"y": b["y"][:2], "z": b["z"]})


def test_onnx_runner_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        OnnxRunner(tmp_path / "nope.onnx")
    with pytest.raises(ConfigError):
        open_runner("bogus", None)


def test_cuda_provider_missing_is_loud(affine_onnx: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider"):
        OnnxRunner(affine_onnx, device="cuda")


def _sequence(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.random((n, 3, 224, 224), dtype=np.float32)
    flows = (0.3 * rng.standard_normal((n, 2 * FLOW_MAPS, 224, 224))).astype(np.float32)
    return frames, flows


def _reference_maps(model: nn.Module, frames: np.ndarray, flows: np.ndarray, window: int) -> list[np.ndarray]:
    """Torch encode/head composed as the stream does: slide by one, carry the state, pad the tail."""
    with torch.inference_mode():
        feats = model.encode(torch.from_numpy(frames), torch.from_numpy(flows))
        state = None
        maps = []
        for t in range(len(frames)):
            win = feats[t:t + window]
            if len(win) < window:
                win = torch.cat([win, win[-1:].expand(window - len(win), *win.shape[1:])])
            out, state = model.head(win[None], state)
            maps.append(out[0, 0, 0].numpy())
    return maps


def _stream(predictor: StreamPredictor, frames: np.ndarray, flows: np.ndarray) -> list[np.ndarray]:
    feats = [predictor.encode(f, s) for f, s in zip(frames, flows)]
    state = predictor.initial_state()
    maps = []
    for t in range(len(frames)):
        sal, state = predictor.head(np.stack(feats[t:t + predictor.lookahead + 1]), state)
        maps.append(sal)
    return maps


def test_network_predictor_onnx_equals_torch_composition(small) -> None:
    model, _, onnx_dir = small
    frames, flows = _sequence(4)
    with NetworkPredictor(OnnxRunner(onnx_dir / "encoder.onnx", threads=2),
                          OnnxRunner(onnx_dir / "head_w2.onnx", threads=2), LOOKAHEAD) as predictor:
        assert isinstance(predictor, StreamPredictor)
        assert (predictor.flow_maps, predictor.lookahead, predictor.input_size) == (FLOW_MAPS, 1, (224, 224))
        maps = _stream(predictor, frames, flows)
        with pytest.raises(InputError):
            predictor.head(np.zeros((3, *predictor.feature_shape), np.float32), None)  # window > L+1
        with pytest.raises(InputError):
            predictor.encode(frames[0][None], flows[0])
    expected = _reference_maps(model, frames, flows, LOOKAHEAD + 1)
    assert len(maps) == 4
    for got, want in zip(maps, expected):
        assert got.shape == (224, 224) and got.dtype == np.float32
        assert np.abs(got - want).max() < 1e-4
    # the carried state matters: a fresh state for frame 2 gives another map
    assert np.abs(maps[2] - _reference_maps(model, frames[2:], flows[2:], 2)[0]).max() > 1e-6


def test_network_predictor_refuses_wrong_lookahead(small) -> None:
    _, _, onnx_dir = small
    enc, head = OnnxRunner(onnx_dir / "encoder.onnx"), OnnxRunner(onnx_dir / "head_w2.onnx")
    with pytest.raises(ConfigError, match="lookahead"):
        NetworkPredictor(enc, head, lookahead=2)
    with pytest.raises(ConfigError, match="graph must map"):
        NetworkPredictor(head, enc)


def test_open_predictor_backends(small, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model, ckpt, onnx_dir = small
    frames, flows = _sequence(2, seed=3)
    with open_predictor("onnxruntime", engine_dir=onnx_dir, flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD,
                        device="cpu") as ort_pred:
        assert ort_pred.name == "tpcmrnet/onnxruntime"
        ort_maps = _stream(ort_pred, frames, flows)
    with open_predictor("torch", weights=ckpt, flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD) as torch_pred:
        assert torch_pred.name == "tpcmrnet/torch"
        torch_maps = _stream(torch_pred, frames, flows)
    # onnxruntime straight from a checkpoint: exported to a temporary folder on the fly
    with open_predictor("onnxruntime", weights=ckpt, flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD,
                        device="cpu") as fly:
        fly_maps = _stream(fly, frames, flows)
    for a, b, c in zip(ort_maps, torch_maps, fly_maps):
        assert np.abs(a - b).max() < 1e-4
        assert np.abs(a - c).max() < 1e-6
    # auto with engine files that cannot load here (no TensorRT) falls back to ONNX Runtime
    fake = tmp_path / "engines"
    fake.mkdir()
    for name in ("encoder.onnx", "head_w2.onnx"):
        (fake / name).write_bytes((onnx_dir / name).read_bytes())
    for name in ("encoder.fp32.plan", "head_w2.fp32.plan"):
        (fake / name).write_bytes(b"not an engine")
    caplog.set_level(logging.WARNING)
    if importlib.util.find_spec("tensorrt") is None:
        with open_predictor("auto", engine_dir=fake, flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD,
                            device="cpu") as auto:
            assert auto.name == "tpcmrnet/onnxruntime"
        assert any("falling back to ONNX Runtime" in r.getMessage() for r in caplog.records)
        with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
            open_predictor("tensorrt", engine_dir=fake, flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD)


def test_open_predictor_refusals(small, tmp_path: Path) -> None:
    _, ckpt, onnx_dir = small
    # the same weights are accepted beside their own graphs; other weights are refused
    open_predictor("onnxruntime", weights=ckpt, engine_dir=onnx_dir, flow_maps=FLOW_MAPS,
                   lookahead=LOOKAHEAD, device="cpu").close()
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / "other" / "model.pt",
                            create_model(flow_maps=FLOW_MAPS, stage_widths=(8, 16)))
    with pytest.raises(ConfigError, match="another model"):
        open_predictor("auto", weights=other, engine_dir=onnx_dir, flow_maps=FLOW_MAPS,
                       lookahead=LOOKAHEAD, device="cpu")
    with pytest.raises(ConfigError, match="flow maps"):
        open_predictor("onnxruntime", engine_dir=onnx_dir, flow_maps=9, lookahead=LOOKAHEAD, device="cpu")
    with pytest.raises(InputNotFoundError, match="head_w3.onnx"):
        open_predictor("onnxruntime", engine_dir=onnx_dir, flow_maps=FLOW_MAPS, lookahead=2, device="cpu")
    with pytest.raises(InputNotFoundError, match="build-engine"):
        open_predictor("tensorrt", engine_dir=tmp_path, lookahead=LOOKAHEAD)
    with pytest.raises(InputNotFoundError):
        open_predictor("torch", weights=tmp_path / "missing.pt")
    with pytest.raises(ConfigError):
        open_predictor("nonsense")
    with pytest.raises(InputNotFoundError):
        open_predictor("auto", engine_dir=tmp_path / "missing")


def test_open_predictor_without_weights_serves_the_shipped_network(
        caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="rt_saliency")
    predictor = open_predictor("auto", lookahead=LOOKAHEAD)
    try:
        assert isinstance(predictor, StreamPredictor)
        # on the CPU the shipped weights are served with their shipped INT8 encoder
        assert predictor.name == "tpcmrnet/onnxruntime-int8"
        assert predictor.flow_maps == pretrained.load_pretrained().config.flow_maps
        lines = [r.getMessage() for r in caplog.records if r.name == "rt_saliency.runtime.registry"]
        assert any("shipped TP-CMRNet weights" in line for line in lines)
    finally:
        predictor.close()


def test_every_shipped_set_is_served_by_its_name(
        caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``weights="NAME"`` serves the set shipped under that name (its own S and INT8 encoder),
    as timm's ``create_model(name, pretrained=True)`` does; a name nobody shipped is a path."""
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="rt_saliency")
    names = [n for n in pretrained.PRETRAINED if pretrained.is_available(n)]
    assert pretrained.DEFAULT_PRETRAINED in names
    for name in names:
        with open_predictor("onnxruntime", weights=name, lookahead=LOOKAHEAD) as predictor:
            want_int8 = pretrained.pretrained_int8_encoder(name) is not None
            assert predictor.name == "tpcmrnet/onnxruntime" + ("-int8" if want_int8 else "")
            assert predictor.flow_maps == pretrained.load_pretrained(name).config.flow_maps
        assert any(f"shipped TP-CMRNet weights {name}" in r.getMessage() for r in caplog.records)
    with pytest.raises(InputNotFoundError):
        open_predictor("onnxruntime", weights="tpcmrnet-nobody-shipped")


def test_the_shipped_int8_encoder_agrees_with_fp32_on_real_frames(
        gaze_mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INT8 is the CPU default only because it stays close to FP32 (docs/deployment.md: CC
    0.6025 vs 0.6065 on the gaze test split); here, map against map on real stills."""
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    assert pretrained.pretrained_int8_encoder() is not None
    stills = sorted((gaze_mini / "osie" / "images").glob("*.jpg"))[:3]
    frames = [cv2.cvtColor(cv2.resize(cv2.imread(str(p)), (224, 224)), cv2.COLOR_BGR2RGB)
              for p in stills]
    maps = {}
    for precision in ("fp32", None):  # each still a static 8-frame clip, as evaluate scores it
        with open_predictor("onnxruntime", lookahead=LOOKAHEAD, precision=precision) as pred:
            maps[pred.name] = [predict_clip(pred, [f] * 8)[8 - LOOKAHEAD - 1] for f in frames]
    assert set(maps) == {"tpcmrnet/onnxruntime", "tpcmrnet/onnxruntime-int8"}
    fp32, int8 = maps["tpcmrnet/onnxruntime"], maps["tpcmrnet/onnxruntime-int8"]
    for a, b in zip(fp32, int8):  # measured 0.984 to 0.996 on five OSIE stills
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97
    with pytest.raises(ConfigError, match="torch"):
        open_predictor("torch", weights=pretrained.pretrained_path(), precision="int8")


def test_open_predictor_auto_without_any_weights_is_the_prior(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package built without the shipped weights still serves maps: the prior, said once."""
    monkeypatch.setattr(pretrained, "is_available", lambda name=pretrained.DEFAULT_PRETRAINED: False)
    caplog.set_level(logging.INFO, logger="rt_saliency")
    predictor = open_predictor("auto", flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD)
    try:
        assert "prior" in predictor.name
        assert predictor.flow_maps == FLOW_MAPS
        lines = [r for r in caplog.records if r.name == "rt_saliency.runtime.registry"]
        assert len(lines) == 1 and "training-free saliency prior" in lines[0].getMessage()
    finally:
        predictor.close()
    with pytest.raises(ConfigError, match="weights"):
        open_predictor("onnxruntime", flow_maps=FLOW_MAPS, lookahead=LOOKAHEAD)


def test_tensorrt_runner_missing_is_loud(tmp_path: Path) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here; tests/test_tensorrt.py covers it")
    with pytest.raises(BackendUnavailableError, match="pip install"):
        open_runner("tensorrt", tmp_path / "x.plan")


# -- engine sidecar rules (pure functions) ----------------------------------------------------

SIDECAR = {
    "format": 1,
    "tensorrt_version": "10.13.0.35",
    "gpu_name": "NVIDIA H100 80GB HBM3",
    "compute_capability": [9, 0],
    "precision": "fp16",
    "onnx_path": "export/out/head_w3.onnx",
    "onnx_sha256": "ab" * 32,
}
RUNTIME = {"tensorrt_version": "10.13.0.35", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}


def test_engine_compat_match_and_name_warning() -> None:
    assert check_engine_compat(SIDECAR, RUNTIME, onnx_sha256="ab" * 32) == []
    other_name = dict(RUNTIME, gpu_name="NVIDIA H200")
    warnings = check_engine_compat(SIDECAR, other_name)
    assert len(warnings) == 1 and "H200" in warnings[0]


@pytest.mark.parametrize(
    ("runtime", "digest", "needle"),
    [
        (dict(RUNTIME, tensorrt_version="11.4.0.106"), None, "TensorRT 10.13.0.35, running TensorRT 11.4.0.106"),
        (dict(RUNTIME, compute_capability=[8, 9], gpu_name="NVIDIA L4"), None, "compute capability 9.0"),
        (RUNTIME, "cd" * 32, "ONNX file changed"),
    ],
)
def test_engine_compat_mismatch_says_how_to_rebuild(runtime: dict, digest: str | None, needle: str) -> None:
    with pytest.raises(EngineMismatchError) as info:
        check_engine_compat(SIDECAR, runtime, engine_path="engines/head.plan", onnx_sha256=digest)
    message = str(info.value)
    assert needle in message
    assert "rt-saliency build-engine export/out/head_w3.onnx -o engines/head.plan --precision fp16" in message
    assert info.value.exit_code == 2


def test_sidecar_missing_or_corrupt(tmp_path: Path) -> None:
    engine = tmp_path / "e.plan"
    with pytest.raises(EngineMismatchError, match="missing"):
        load_sidecar(engine)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(EngineMismatchError, match="unreadable"):
        load_sidecar(engine)


def test_prior_face_term_can_be_switched_off() -> None:
    with open_predictor("prior") as on, open_predictor("prior", prior_faces=False) as off:
        assert on.config.w_face > 0 and off.config.w_face == 0
        assert off.config.w_centre == on.config.w_centre


class _Recording:
    """A predictor that records the shapes it is called with."""

    name, flow_maps, lookahead, input_size, flow_config = "rec", 3, 2, (32, 48), None

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def initial_state(self) -> None:
        return None

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        self.calls.append(("encode", frame.shape + flows.shape))
        return np.zeros((4, 4, 6), np.float32)

    def head(self, window: np.ndarray, state: object) -> tuple[np.ndarray, object]:
        self.calls.append(("head", window.shape))
        return np.zeros(self.input_size, np.float32), state

    def close(self) -> None:
        pass


def test_warm_up_runs_whole_windows_of_the_predictors_own_shapes() -> None:
    predictor = _Recording()
    warm_up(predictor, runs=2)
    assert predictor.calls == [("encode", (3, 32, 48, 6, 32, 48)), ("head", (3, 4, 4, 6))] * 2


def test_a_shipped_set_name_resolves_to_its_checked_file(tmp_path: Path) -> None:
    for name in (n for n in pretrained.PRETRAINED if pretrained.is_available(n)):
        assert pretrained.resolve_weights(name) == pretrained.pretrained_path(name)
    assert pretrained.resolve_weights(tmp_path / "run" / "best.pt") == tmp_path / "run" / "best.pt"
