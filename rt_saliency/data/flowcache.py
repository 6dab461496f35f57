"""An on-disk cache of the optical flow of every annotated video, with a manifest.

Training needs, per clip of T frames, the T+S-1 flows F^t..F^{t+T+S-2}; computing them on the fly
costs a few ms each with DIS, which the cache removes.  Layout under a data set root::

    flow_cache/
      manifest.json        fingerprint of the FlowConfig, input size, quantisation, videos
      <video>.npy          int16 (N, 2, H, W): round(F^t * scale), F^0 = 0, t = 0..N-1

The flow is stored *raw* (pixels of the network's H x W grid, before ``flow_to_input``), as
int16 quantised with ``scale`` = 32 (1/32 px steps, +-1024 px range): 4 bytes a pixel,
200 KiB a 224x224 frame, half of FlowNet's float32 ``.flo``.  ``.npy`` files are memory-mapped,
so a clip reads only its frames.  A cache built with another ``FlowConfig`` (method, preset,
parameters) or input size is refused with a :class:`DatasetError` that says how to rebuild it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.data.layout import VideoRecord
from rt_saliency.data.rawflow import compute_raw_flows
from rt_saliency.errors import DatasetError

log = logging.getLogger(__name__)

CACHE_DIR = "flow_cache"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
SCALE = 32.0


def _flow_fingerprint(flow_config: Any) -> str:
    return str(flow_config.fingerprint())


def _file_name(record: VideoRecord) -> str:
    return f"{record.name}.npy"


class FlowCache:
    """Read access to a root's flow cache; build it with :func:`build_flow_cache`."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.dir = Path(root) / CACHE_DIR
        self.manifest = manifest
        self.scale = float(manifest["scale"])
        self.videos: dict[str, int] = {k: int(v) for k, v in manifest["videos"].items()}

    @classmethod
    def open(
        cls, root: str | Path, flow_config: Any, size: tuple[int, int]
    ) -> FlowCache | None:
        """The cache of ``root``, ``None`` when there is none; refuse one built otherwise."""
        path = Path(root) / CACHE_DIR / MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"unreadable flow cache manifest {path}: {exc}") from exc
        want = _flow_fingerprint(flow_config)
        problems = []
        if manifest.get("format") != FORMAT_VERSION:
            problems.append(f"format {manifest.get('format')} (want {FORMAT_VERSION})")
        if manifest.get("fingerprint") != want:
            problems.append(
                f"flow settings {manifest.get('flow_config')} (fingerprint "
                f"{manifest.get('fingerprint')}) but these runs use fingerprint {want}"
            )
        if tuple(manifest.get("size", ())) != tuple(size):
            problems.append(f"size {manifest.get('size')} but the network takes {list(size)}")
        if problems:
            raise DatasetError(
                f"flow cache {path.parent} was built with other settings: "
                + "; ".join(problems)
                + ". Rebuild it with `rt-saliency flow-cache --overwrite` and the same flow "
                "options, or delete the folder to compute flow on the fly."
            )
        return cls(Path(root), manifest)

    def has(self, record: VideoRecord) -> bool:
        return self.videos.get(record.name) == record.num_frames

    def load(self, record: VideoRecord, indices: Iterable[int]) -> np.ndarray:
        """Raw flows F^t for ``indices`` (each in 0..N-1): float32 (len, H, W, 2), pixels."""
        if not self.has(record):
            raise DatasetError(
                f"flow cache {self.dir} has no entry for video {record.name} with "
                f"{record.num_frames} frames; rebuild it with `rt-saliency flow-cache`"
            )
        arr = np.load(self.dir / _file_name(record), mmap_mode="r")
        idx = list(indices)
        out = np.asarray(arr[idx], dtype=np.float32) / self.scale
        return out.transpose(0, 2, 3, 1)


def build_flow_cache(
    root: str | Path,
    records: Iterable[VideoRecord],
    flow_config: Any,
    size: tuple[int, int],
    overwrite: bool = False,
    progress: Callable[[Iterable[VideoRecord]], Iterable[VideoRecord]] | None = None,
) -> Path:
    """Compute and store the flow of every record (one root); return the manifest's path.

    An existing cache with the same settings is extended (videos already there are skipped); one
    with other settings is refused unless ``overwrite``.
    """
    root = Path(root)
    cache_dir = root / CACHE_DIR
    manifest_path = cache_dir / MANIFEST
    fingerprint = _flow_fingerprint(flow_config)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "flow_config": _describe(flow_config),
        "size": list(size),
        "dtype": "int16",
        "scale": SCALE,
        "layout": "(N, 2, H, W) raw flow F^t in pixels of the HxW grid; F^0 = 0",
        "videos": {},
    }
    if manifest_path.is_file():
        if overwrite:
            for f in cache_dir.glob("*.npy"):
                f.unlink()
            manifest_path.unlink()
        else:
            existing = FlowCache.open(root, flow_config, size)  # raises when settings differ
            assert existing is not None
            manifest["videos"] = dict(existing.videos)
    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [r for r in records if manifest["videos"].get(r.name) != r.num_frames]
    iterator = progress(todo) if progress is not None else todo
    for record in iterator:
        flows = compute_raw_flows(record, range(record.num_frames), flow_config, size)
        q = np.clip(np.round(flows * SCALE), -32767, 32767).astype(np.int16)
        tmp = cache_dir / f".{record.name}.tmp.npy"
        np.save(tmp, q.transpose(0, 3, 1, 2))
        os.replace(tmp, cache_dir / _file_name(record))
        manifest["videos"][record.name] = record.num_frames
        _write_manifest(manifest_path, manifest)  # after each video: an interrupted build resumes
    _write_manifest(manifest_path, manifest)
    log.info("flow cache %s: %d videos", cache_dir, len(manifest["videos"]))
    return manifest_path


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _describe(flow_config: Any) -> Any:
    to_dict = getattr(flow_config, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    try:
        return dataclasses.asdict(flow_config)
    except TypeError:
        return repr(flow_config)
