"""A per-user cache of exported ONNX graphs: serving a checkpoint on ONNX Runtime exports it once,
not at every start.

An entry is a folder named by a key over everything the graphs depend on (the checkpoint's
bytes, the lookahead, the opset, the torch version and the source of the model and export code),
so a changed checkpoint or a changed exporter never serves stale graphs.  Entries are written
into a temporary folder and renamed into place, so a crash or a concurrent start never leaves a
half-written entry; an entry whose files no longer match their recorded SHA-256 is exported again.

The root is ``$RT_SALIENCY_CACHE`` (``off`` disables the cache), else
``$XDG_CACHE_HOME/rt-saliency/onnx``, else ``~/.cache/rt-saliency/onnx``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from rt_saliency import __version__
from rt_saliency.artifacts import EXPORT_MANIFEST, file_sha256
from rt_saliency.deploy.onnx_export import MIN_OPSET, export_onnx, trained_flow
from rt_saliency.model.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

CACHE_ENV = "RT_SALIENCY_CACHE"
_PACKAGE = Path(__file__).resolve().parents[1]
#: the sources whose change changes the exported graphs
_CODE = ("model", "deploy/graphs.py", "deploy/onnx_export.py", "spec.py")


def cache_root() -> Path | None:
    """Where entries live, or ``None`` when ``$RT_SALIENCY_CACHE`` is ``off``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("off", "0", "none", "") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rt-saliency" / "onnx"


def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _CODE:
        path = _PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(_PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def cache_key(weights: Path, lookahead: int, opset: int = MIN_OPSET) -> str:
    """The entry name for ``weights`` exported with ``lookahead`` and ``opset``."""
    digest = hashlib.sha256()
    for part in (file_sha256(weights), str(lookahead), str(opset), torch.__version__,
                 __version__, _code_digest()):
        digest.update(part.encode() + b"\0")
    return f"{weights.stem}-L{lookahead}-{digest.hexdigest()[:20]}"


def _entry_paths(entry: Path) -> tuple[Path, Path] | None:
    """The entry's (encoder, head) paths when its manifest and file hashes check out."""
    try:
        manifest = json.loads((entry / EXPORT_MANIFEST).read_text())
        paths = []
        for kind in ("encoder", "head"):
            graph = manifest["graphs"][kind]
            path = entry / graph["file"]
            if file_sha256(path) != graph["sha256"]:
                return None
            paths.append(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return paths[0], paths[1]


def _export(weights: Path, lookahead: int, out: Path) -> tuple[Path, Path]:
    model, _ = load_checkpoint(weights)
    log.info("exporting %s to ONNX for onnxruntime (lookahead %d)", weights, lookahead)
    result = export_onnx(model.float().eval(), out, lookahead=lookahead,
                         flow=trained_flow(weights))
    return result.encoder_path, result.head_path


def cached_onnx(weights: str | os.PathLike[str], lookahead: int, scratch: Path) -> tuple[Path, Path]:
    """``(encoder.onnx, head_w{L+1}.onnx)`` of the checkpoint ``weights``: from the cache when it
    holds a sound entry, else exported (into the cache, or into ``scratch`` when the cache is off
    or cannot be written)."""
    weights = Path(weights)
    root = cache_root()
    if root is None:
        return _export(weights, lookahead, scratch)
    entry = root / cache_key(weights, lookahead)
    found = _entry_paths(entry)
    if found is not None:
        log.debug("ONNX graphs of %s from the cache %s", weights, entry)
        return found
    try:
        return _export_into(weights, lookahead, root, entry)
    except OSError as exc:
        log.info("ONNX cache %s not usable (%s): exporting for this run only", root,
                 exc.strerror or exc)
        return _export(weights, lookahead, scratch)


def _export_into(weights: Path, lookahead: int, root: Path, entry: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
    try:
        _export(weights, lookahead, tmp)
        if entry.exists() and _entry_paths(entry) is None:  # a damaged entry
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            if _entry_paths(entry) is None:  # not just another process finishing first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    found = _entry_paths(entry)
    if found is None:
        raise OSError(f"entry {entry} failed its check right after it was written")
    return found
