"""What the package knows about the files it ships, exports and checks: their content hash.

Shipped weights (``model.pretrained``), exported graphs and their cache (``deploy``) and engine
sidecars all name a file by the SHA-256 of its bytes, computed here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
