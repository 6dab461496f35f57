"""TP-CMRNet: blocks, the model, the variant registry/factory, checkpoints and complexity counts."""

from rt_saliency.model.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from rt_saliency.model.complexity import Complexity, count_macs, count_params, time_per_frame
from rt_saliency.model.config import TPCMRNetConfig
from rt_saliency.model.registry import (
    create_model,
    list_models,
    model_config,
    model_from_config,
    register_model,
)
from rt_saliency.model.tpcmrnet import TPCMRNet

__all__ = [
    "Complexity",
    "TPCMRNet",
    "TPCMRNetConfig",
    "count_macs",
    "count_params",
    "create_model",
    "list_models",
    "load_checkpoint",
    "model_config",
    "model_from_config",
    "read_checkpoint",
    "register_model",
    "save_checkpoint",
    "time_per_frame",
]
