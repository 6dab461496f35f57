"""rt-saliency: real-time video saliency (TP-CMRNet) turned into per-macroblock QP offsets."""

import os as _os

# The stream's stages run in parallel threads; a multi-threaded BLAS under them only spins.
# Measured here (2 busy cores): the QP stage's small matrix products took 46 ms with OpenBLAS's
# default thread count and 0.2 ms with one.  A default only (the caller's setting wins), and it
# takes effect only if numpy has not been imported yet.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from rt_saliency.errors import RtSaliencyError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["RtSaliencyError", "__version__"]
