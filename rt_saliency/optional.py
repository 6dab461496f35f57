"""The one way the package imports a library that may be missing or is heavy to load.

Own modules are imported at the top of each file (``tools/layers.py`` checks it); a backend's
library (tensorrt, openvino), a C extension that may not be built, or a decoder library is
loaded through :func:`import_optional` when it is first needed, so that its absence is the
caller's clear error with the fix, not an ``ImportError`` at start-up.  Libraries that are slow
to import (torch, onnx, onnxruntime, av, matplotlib, scipy) come through it too, inside the
function that needs them, so ``rt-saliency --help`` or a QP-only run does not pay for them; every
other import sits at the top of its file (``tools/layers.py`` checks both).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rt_saliency.errors import BackendUnavailableError, RtSaliencyError

#: what to install when a library is missing (``None`` for a library not named here)
INSTALL_HINTS = {
    "torch": "PyTorch is not installed: pip install torch (CPU wheel: torch==2.13.0)",
    "onnx": "onnx is not installed: pip install onnx",
    "onnxruntime": "ONNX Runtime is not installed: pip install onnxruntime",
    "onnxconverter_common": "pip install onnxconverter-common, or use method='builtin'",
    "av": "PyAV is not installed: pip install av",
    "matplotlib": "matplotlib is not installed: pip install matplotlib",
    "scipy": "SciPy is not installed: pip install scipy",
    "google": "protobuf is not installed: pip install protobuf",
}


def import_optional(
    name: str, *, hint: str | None = None, error: type[RtSaliencyError] = BackendUnavailableError
) -> ModuleType:
    """Import module ``name`` (dotted names too); when it cannot be imported raise ``error`` with
    ``hint`` (what to install; by default the one for the library in :data:`INSTALL_HINTS`) and
    the import's own message."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        hint = hint or INSTALL_HINTS.get(name.split(".")[0], f"{name} cannot be imported")
        raise error(f"{hint} ({exc})") from exc
