"""Several streams sharing one batched encoder (rt_saliency.runtime.batching), on real ONNX
Runtime sessions of a narrow TP-CMRNet exported at batch 1 and 2."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rt_saliency.deploy.graphs import EncoderGraph, graph_specs
from rt_saliency.deploy.onnx_export import export_module, export_onnx
from rt_saliency.errors import ConfigError
from rt_saliency.model import create_model
from rt_saliency.runtime.batching import EncoderBatcher, SharedEncoderPredictor
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.spec import ENCODER_INPUTS, ENCODER_OUTPUTS

LOOKAHEAD = 1


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.manual_seed(0)
    model = create_model(flow_maps=3, stage_widths=(8, 16)).eval()
    root = tmp_path_factory.mktemp("batched")
    paths: dict[str, Path] = {}
    for batch in (1, 2):
        specs, _ = graph_specs(model, LOOKAHEAD, batch=batch)
        shapes = {n: specs[n].shape for n in ENCODER_INPUTS}
        paths[f"b{batch}"] = export_module(EncoderGraph(model).eval(), shapes, ENCODER_OUTPUTS,
                                           root / f"encoder_b{batch}.onnx")
    paths["head"] = export_onnx(model, root / "onnx", lookahead=LOOKAHEAD).head_path
    return paths


def _inputs(seed: int, runner: OnnxRunner) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = rng.random(runner.input_specs["frame"].shape[1:], dtype=np.float32)
    flows = rng.standard_normal(runner.input_specs["flows"].shape[1:]).astype(np.float32)
    return frame, flows


def _batcher(graphs: dict[str, Path], max_wait_s: float = 5.0) -> EncoderBatcher:
    return EncoderBatcher({1: OnnxRunner(graphs["b1"], threads=1),
                           2: OnnxRunner(graphs["b2"], threads=1)}, max_wait_s=max_wait_s)


def test_two_streams_share_one_batched_call_with_each_stream_s_own_features(
        graphs: dict[str, Path]) -> None:
    with _batcher(graphs) as batcher, OnnxRunner(graphs["b1"]) as single:
        batcher.register()
        batcher.register()
        inputs = [_inputs(i, single) for i in range(2)]
        want = [single.infer({"frame": f[None], "flows": fl[None]})["features"][0]
                for f, fl in inputs]
        got: list[np.ndarray | None] = [None, None]

        def stream(i: int) -> None:
            got[i] = batcher.encode(*inputs[i])

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        # max_wait 5 s: the two calls can only have finished together, as one batch of 2
        assert batcher.calls == {2: 1, 1: 0}
        for i in range(2):
            np.testing.assert_allclose(got[i], want[i], atol=1e-5, rtol=1e-4)


def test_a_stream_alone_waits_at_most_max_wait(graphs: dict[str, Path]) -> None:
    with _batcher(graphs, max_wait_s=0.05) as batcher:
        batcher.register()
        batcher.register()  # the second stream never sends a frame
        frame, flows = _inputs(0, batcher.runner(1))
        started = time.monotonic()
        features = batcher.encode(frame, flows)
        assert time.monotonic() - started < 2.0
        assert features.ndim == 3
        assert batcher.calls == {2: 0, 1: 1}


def test_a_backend_error_reaches_every_stream_of_the_batch(graphs: dict[str, Path]) -> None:
    with _batcher(graphs) as batcher:
        batcher.register()
        frame, flows = _inputs(0, batcher.runner(1))
        with pytest.raises(Exception, match="shape"):
            batcher.encode(frame[:, :8], flows)
        # the batcher is still usable after a failed batch
        assert batcher.encode(frame, flows).ndim == 3


def test_batcher_refuses_runners_that_do_not_fit(graphs: dict[str, Path]) -> None:
    with OnnxRunner(graphs["b2"]) as b2, OnnxRunner(graphs["b1"]) as b1:
        with pytest.raises(ConfigError, match="batch-1"):
            EncoderBatcher({2: b2})
        with pytest.raises(ConfigError, match="takes batch 1"):
            EncoderBatcher({1: b1, 2: b1})
        with pytest.raises(ConfigError, match="not an encoder"):
            EncoderBatcher({1: OnnxRunner(graphs["head"])})


def test_shared_predictor_streams_match_separate_predictors(graphs: dict[str, Path]) -> None:
    """Two streams through the shared encoder give the maps of two separate predictors."""
    with _batcher(graphs, max_wait_s=0.5) as batcher, NetworkPredictor(
            OnnxRunner(graphs["b1"]), OnnxRunner(graphs["head"]), LOOKAHEAD) as alone:
        shared = [SharedEncoderPredictor(batcher, OnnxRunner(graphs["head"]), LOOKAHEAD)
                  for _ in range(2)]
        try:
            inputs = [[_inputs(10 * s + t, batcher.runner(1)) for t in range(3)]
                      for s in range(2)]
            got: list[list[np.ndarray]] = [[], []]

            def stream(s: int) -> None:
                feats = [shared[s].encode(*x) for x in inputs[s]]
                state = shared[s].initial_state()
                for t in range(2):
                    sal, state = shared[s].head(np.stack(feats[t:t + 2]), state)
                    got[s].append(sal)

            threads = [threading.Thread(target=stream, args=(s,)) for s in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert batcher.calls[2] >= 1
            for s in range(2):
                feats = [alone.encode(*x) for x in inputs[s]]
                state = alone.initial_state()
                for t in range(2):
                    sal, state = alone.head(np.stack(feats[t:t + 2]), state)
                    np.testing.assert_allclose(got[s][t], sal, atol=1e-5)
        finally:
            for p in shared:
                p.close()
        assert shared[0].name.endswith("+batched")
