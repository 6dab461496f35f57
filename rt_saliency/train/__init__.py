"""Training: the loop, the paper's LR schedule, resumable checkpoints, DDP via torchrun."""

from rt_saliency.train.loop import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
