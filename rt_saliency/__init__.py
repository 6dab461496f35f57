"""rt-saliency: real-time video saliency (TP-CMRNet) turned into per-macroblock QP offsets."""

from rt_saliency.errors import RtSaliencyError

__version__ = "0.1.0"

__all__ = ["RtSaliencyError", "__version__"]
