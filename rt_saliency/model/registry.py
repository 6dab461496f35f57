"""Named TP-CMRNet variants built by one factory (timm style): ``create_model(name, **overrides)``.

The paper's ablations (Table 1) are variants of one config: S in {3, 5, 7, 9, 11}, fusion off,
attention off, unidirectional ConvLSTM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rt_saliency.errors import ConfigError
from rt_saliency.model.config import ABLATION_S, TPCMRNetConfig
from rt_saliency.model.tpcmrnet import TPCMRNet

_REGISTRY: dict[str, dict[str, Any]] = {}


def register_model(name: str, **defaults: Any) -> None:
    """Register variant ``name`` as the default config with ``defaults`` changed."""
    if name in _REGISTRY:
        raise ConfigError(f"model {name!r} is already registered")
    TPCMRNetConfig().replace(name=name, **defaults)  # validate now, not at first use
    _REGISTRY[name] = dict(defaults)


def list_models() -> list[str]:
    """Registered variant names, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str = "tpcmrnet", **overrides: Any) -> TPCMRNetConfig:
    """The config of variant ``name`` with ``overrides`` applied (no network is built)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return TPCMRNetConfig().replace(name=name, **{**_REGISTRY[name], **overrides})


def create_model(name: str = "tpcmrnet", **overrides: Any) -> TPCMRNet:
    """Build variant ``name`` (see :func:`list_models`).

    Example: ``create_model("tpcmrnet", flow_maps=5)``; unknown names or keys are ConfigErrors.
    """
    return TPCMRNet(model_config(name, **overrides))


def model_from_config(config: TPCMRNetConfig | dict[str, Any]) -> TPCMRNet:
    """Build the network a config (or its dict form) describes."""
    if isinstance(config, dict):
        config = TPCMRNetConfig.from_dict(config)
    return TPCMRNet(config)


def _register_defaults(register: Callable[..., None] = register_model) -> None:
    register("tpcmrnet")
    for s in ABLATION_S:
        register(f"tpcmrnet_s{s}", flow_maps=s)
    register("tpcmrnet_nofusion", fusion=False)
    register("tpcmrnet_noattn", attention=False)
    register("tpcmrnet_unilstm", bidirectional=False)
    # The CPU fast profile (benchmarks/README.md): S=3, narrow pathways, one CMR block per
    # scale -- 0.49 M params, 0.60 GMAC per map at L=0.  Not in the paper (its accuracy on
    # synthetic data: benchmarks/README.md).
    register("tpcmrnet_fast", flow_maps=3, stage_widths=(16, 32), stage_blocks=(1, 1))


_register_defaults()
