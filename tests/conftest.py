"""Shared test fixtures: paths to real data, markers' skip rules, small deterministic inputs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "tests" / "data"
VIDEO_DIR = DATA_DIR / "video"


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs an NVIDIA GPU; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export cache for the session (inherited by the CLI subprocesses): the shipped
    weights are exported once per run, and nothing is written to the user's ~/.cache."""
    root = tmp_path_factory.mktemp("onnx-cache")
    previous = os.environ.get("RT_SALIENCY_CACHE")
    os.environ["RT_SALIENCY_CACHE"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("RT_SALIENCY_CACHE", None)
    else:
        os.environ["RT_SALIENCY_CACHE"] = previous


@pytest.fixture(scope="session")
def mit1003_dir() -> Path:
    """The real MIT1003 sample (stimulus, fixations, GT map), copied into tests/data."""
    return DATA_DIR / "mit1003-i210"


@pytest.fixture(scope="session")
def gaze_mini() -> Path:
    """Five real images with fixations from each gaze-images set (tests/data/gaze-mini)."""
    return DATA_DIR / "gaze-mini"


def _fetched_video(name: str) -> Path:
    path = VIDEO_DIR / name
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/setup.sh")
    return path


@pytest.fixture(scope="session")
def vtest_avi() -> Path:
    """A real video: OpenCV's vtest.avi (768x576, 10 fps, 795 frames), fetched by setup.sh."""
    return _fetched_video("vtest.avi")


@pytest.fixture(scope="session")
def megamind_avi() -> Path:
    """OpenCV's Megamind.avi (720x528 MPEG-4 with packed B-frames, 270 frames), by setup.sh."""
    return _fetched_video("Megamind.avi")


@pytest.fixture(scope="session")
def ffmpeg_bin() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg missing: run scripts/setup.sh")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 1 MiB tmpfs (a disk that fills up for real); skipped where mounting is not allowed."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)
