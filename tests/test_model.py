"""TP-CMRNet: shapes, budget, the encode/head split, state semantics, gradients, variants, info."""

from __future__ import annotations

import json

import pytest
import torch

from rt_saliency.cli import main
from rt_saliency.errors import ConfigError, InputError
from rt_saliency.model import (
    TPCMRNetConfig,
    count_macs,
    count_params,
    create_model,
    list_models,
    model_config,
    model_from_config,
)
from rt_saliency.spec import FEATURE_SIZE, INPUT_SIZE, LSTM_CHANNELS

H, W = INPUT_SIZE


def _inputs(b: int, t: int, s: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(b, t, 3, H, W, generator=g)
    flows = torch.randn(b, t, 2 * s, H, W, generator=g)
    return clip, flows


def _features(model, b: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, *model.feature_shape, generator=g)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("tpcmrnet").eval()


def test_shapes_and_range(model) -> None:
    clip, flows = _inputs(1, 1, 9)
    frames = torch.cat([clip[:, 0], clip[:, 0].flip(-1)])  # same flows, mirrored frame
    with torch.no_grad():
        feats = model.encode(frames, flows[:, 0].repeat(2, 1, 1, 1))
        assert feats.shape == (2, 32, *FEATURE_SIZE)
        assert (feats[0] - feats[1]).abs().max() > 1e-4  # the frame pathway matters
        maps, (h1, c1) = model.head(feats.unsqueeze(1).repeat(1, 3, 1, 1, 1))
    assert maps.shape == (2, 3, 1, H, W)
    assert h1.shape == c1.shape == (2, LSTM_CHANNELS, *FEATURE_SIZE)
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0
    assert float(maps.std()) > 0.0  # not a constant map at init
    h0, c0 = model.initial_state(2)
    assert h0.shape == (2, LSTM_CHANNELS, *FEATURE_SIZE) and not h0.any() and not c0.any()


def test_param_budget_and_macs(model) -> None:
    params = count_params(model)
    assert 4.4e6 <= params <= 5.4e6, params
    cost = count_macs(model.config)
    assert cost.params == params
    assert cost.macs_per_frame == cost.macs_encoder + cost.macs_head_per_frame
    # independent count: every conv's weight size times its output positions, via hooks
    expected = {"enc": 0, "head": 0}
    phase = ["enc"]

    def hook(mod, _inp, out) -> None:
        expected[phase[0]] += mod.weight.numel() * out.shape[-2] * out.shape[-1] * out.shape[0]

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d)]
    try:
        clip, flows = _inputs(1, 1, 9)
        with torch.no_grad():
            feats = model.encode(clip[:, 0], flows[:, 0])
            phase[0] = "head"
            model.head(feats.unsqueeze(1))
    finally:
        for h in handles:
            h.remove()
    assert cost.macs_encoder == expected["enc"]
    assert cost.macs_head_per_frame == expected["head"]
    assert cost.macs_per_frame < 5.0e9  # the budget docs/model.md argues for


def test_forward_equals_encode_then_head(model) -> None:
    clip, flows = _inputs(1, 2, 9, seed=1)
    with torch.no_grad():
        out = model(clip, flows)
        feats = torch.stack([model.encode(clip[:, t], flows[:, t]) for t in range(2)], dim=1)
        by_hand, _ = model.head(feats, None)
    assert out.shape == (1, 2, 1, H, W)
    torch.testing.assert_close(out, by_hand, atol=1e-5, rtol=1e-4)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(3)
    model = create_model("tpcmrnet").train()
    clip, flows = _inputs(1, 2, 9, seed=3)
    target = torch.rand(1, 2, 1, H, W)
    loss = ((model(clip, flows) - target) ** 2).mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_unidirectional_sliding_equals_full_forward() -> None:
    torch.manual_seed(4)
    model = create_model("tpcmrnet_unilstm").eval()
    feats = _features(model, 1, 4, seed=4)
    with torch.no_grad():
        full, _ = model.head(feats, None)
        state = model.initial_state(1)
        slid = []
        for t in range(4):
            maps, state = model.head(feats[:, t : t + 1], state)
            slid.append(maps)
    torch.testing.assert_close(torch.cat(slid, dim=1), full, atol=1e-6, rtol=1e-5)


def test_bidirectional_window_state_semantics(model) -> None:
    feats = _features(model, 1, 4, seed=5)
    with torch.no_grad():
        maps3, state3 = model.head(feats[:, :3], None)
        maps1, state1 = model.head(feats[:, :1], None)
        # (h1, c1) is the forward state after the window's first frame, whatever follows it
        torch.testing.assert_close(state3[0], state1[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(state3[1], state1[1], atol=1e-6, rtol=1e-5)
        # the backward direction looks ahead: frame 0's map depends on frames 1, 2
        assert (maps3[:, 0] - maps1[:, 0]).abs().max() > 1e-7
        # sliding by one with the carried state: the window [1, 2, 3] continues the stream
        slid, _ = model.head(feats[:, 1:4], state3)
        fresh, _ = model.head(feats[:, 1:4], None)
        assert (slid - fresh).abs().max() > 1e-7  # the carried state is used
        # the carried state equals running the forward direction from zero over frame 0
        h, c = model.initial_state(1)
        h, c = model.lstm.forward_cell(feats[:, 0], (h, c))
        torch.testing.assert_close(state3[0], h, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_every_variant_builds_and_runs(name: str) -> None:
    torch.manual_seed(6)
    model = create_model(name).eval()
    cfg = model.config
    assert cfg.name == name
    clip, flows = _inputs(1, 1, cfg.flow_maps, seed=6)
    # batch item 1 = item 0 with stronger flows: one forward shows the flow pathway matters
    with torch.no_grad():
        maps = model(clip.repeat(2, 1, 1, 1, 1), torch.cat([flows, flows * 3.0]))
    assert maps.shape == (2, 1, 1, H, W)
    assert torch.isfinite(maps).all()
    # the flow pathway influences the output in every variant (also without eq. 1 fusion)
    assert (maps[0] - maps[1]).abs().max() > 1e-7
    if name != "tpcmrnet_fast":  # the CPU fast profile is deliberately ~10x smaller
        assert 4.4e6 <= count_params(model) <= 5.4e6
    assert (model.attention is None) == (not cfg.attention)
    assert (model.lstm.backward_cell is None) == (not cfg.bidirectional)
    assert model.flow_pathway.stem.in_channels == 2 * cfg.flow_maps


def test_ablation_switches_as_overrides() -> None:
    assert model_config("tpcmrnet_s3").flow_maps == 3
    assert model_config("tpcmrnet", flow_maps=5).flow_maps == 5
    cfg = model_config("tpcmrnet", fusion=False, attention=False, bidirectional=False)
    assert (cfg.fusion, cfg.attention, cfg.bidirectional) == (False, False, False)
    assert set(list_models()) >= {
        "tpcmrnet", "tpcmrnet_s3", "tpcmrnet_s5", "tpcmrnet_s7", "tpcmrnet_s9", "tpcmrnet_s11",
        "tpcmrnet_nofusion", "tpcmrnet_noattn", "tpcmrnet_unilstm",
    }


def test_config_round_trip_and_errors() -> None:
    cfg = model_config("tpcmrnet_s5")
    again = TPCMRNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert model_from_config(cfg.to_dict()).config == cfg
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("no_such_model")
    with pytest.raises(ConfigError, match="unknown model config keys"):
        create_model("tpcmrnet", widht=3)
    with pytest.raises(ConfigError):
        create_model("tpcmrnet", flow_maps=0)
    with pytest.raises(ConfigError):
        TPCMRNetConfig(input_size=(220, 224))


def test_bad_inputs_are_input_errors(model) -> None:
    clip, flows = _inputs(1, 1, 9)
    with pytest.raises(InputError, match="flows"):
        model.encode(clip[:, 0], flows[:, 0, :6])
    with pytest.raises(InputError, match="frame"):
        model.encode(clip[:, 0, :, :112], flows[:, 0])
    with pytest.raises(InputError, match="features"):
        model.head(torch.zeros(1, 2, 16, 28, 28))
    with pytest.raises(InputError, match="state"):
        model.head(torch.zeros(1, 2, 32, 28, 28), (torch.zeros(2, 32, 28, 28),) * 2)


def test_info_json(capsys) -> None:
    assert main(["info", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["model"] == "tpcmrnet"
    assert rec["params"] == count_params(create_model("tpcmrnet"))
    assert rec["input"] == [224, 224] and rec["flow_maps"] == 9
    assert rec["feature_shape"] == [32, 28, 28]
    assert rec["macs_per_frame"] == rec["macs_encoder"] + rec["macs_head_per_frame"]
    assert rec["fusion"] is True and rec["attention"] is True and rec["bidirectional"] is True

    assert main(["info", "--json", "--model", "tpcmrnet_unilstm", "--flow-maps", "3",
                 "--flow-maps", "11"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [r["flow_maps"] for r in recs] == [3, 11]
    assert all(r["bidirectional"] is False for r in recs)
    assert recs[0]["macs_encoder"] < recs[1]["macs_encoder"]

    assert main(["info", "--model", "tpcmrnet_noattn"]) == 0
    text = capsys.readouterr().out
    assert "tpcmrnet_noattn" in text and "M params" in text and "attention off" in text

    threads = torch.get_num_threads()
    assert main(["info", "--json", "--time", "--runs", "1", "--warmup", "0",
                 "--threads", "1", "--window", "2"]) == 0
    timed = json.loads(capsys.readouterr().out)["time"]
    assert timed["encode_ms"] > 0 and timed["head_ms"] > 0
    assert timed["threads"] == 1 and timed["head_window"] == 2
    assert torch.get_num_threads() == threads  # the measurement leaves the thread count alone

    assert main(["info", "--model", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tpcmrnet", "tpcmrnet_unilstm"])
@pytest.mark.parametrize("window", [1, 3])
def test_head_first_equals_frame_zero_of_head(name: str, window: int) -> None:
    """The streaming head computes frame t only and still gives head()'s first map and state."""
    from rt_saliency.runtime.network import upsample_map

    torch.manual_seed(1)
    net = create_model(name).eval()
    feats = _features(net, 2, window, seed=3)
    g = torch.Generator().manual_seed(4)
    state = tuple(0.5 * torch.randn(2, LSTM_CHANNELS, *FEATURE_SIZE, generator=g) for _ in range(2))
    with torch.no_grad():
        maps, (h1, c1) = net.head(feats, state)
        first, (g1, d1) = net.head_first(feats, state)
        low, _ = net.head_first(feats, state, upsample=False)
        fresh, _ = net.head_first(feats, None, upsample=False)
    assert first.shape == (2, 1, H, W) and low.shape == (2, 1, *FEATURE_SIZE)
    assert (first - maps[:, 0]).abs().max() <= 1e-5
    assert torch.equal(g1, h1) and torch.equal(d1, c1)
    for b in range(2):  # the predictor's cv2 up-sampling of the low-res map is the model's bicubic
        up = upsample_map(low[b, 0].numpy(), (H, W))
        assert abs(up - maps[b, 0, 0].numpy()).max() <= 1e-5
    assert (fresh - low).abs().max() > 1e-6  # the carried state reaches the map
    with pytest.raises(InputError):
        net.head_first(torch.zeros(1, 2, 16, *FEATURE_SIZE))
