"""The one way the package imports a library that may be missing or is heavy to load.

Own modules are imported at the top of each file (``tools/layers.py`` checks it); a backend's
library (tensorrt, openvino), a C extension that may not be built, or a decoder library is
loaded through :func:`import_optional` when it is first needed, so that its absence is the
caller's clear error with the fix, not an ``ImportError`` at start-up.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rt_saliency.errors import BackendUnavailableError, RtSaliencyError


def import_optional(
    name: str, *, hint: str, error: type[RtSaliencyError] = BackendUnavailableError
) -> ModuleType:
    """Import module ``name``; when it cannot be imported raise ``error`` with ``hint`` (what to
    install) and the import's own message."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise error(f"{hint} ({exc})") from exc
