"""Shared test fixtures: paths to real data, markers' skip rules, small deterministic inputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: the read-only shared folder laid beside the checkout (override with RT_SALIENCY_SHARED)
SHARED = Path(os.environ.get("RT_SALIENCY_SHARED", REPO.parent / "shared"))
VIDEO_DIR = REPO / "tests" / "data" / "video"


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


@pytest.fixture(scope="session")
def mit1003_dir() -> Path:
    """The real MIT1003 sample (stimulus, fixations, GT map) from ../shared/fixtures."""
    path = SHARED / "fixtures" / "mit1003-i210"
    if not path.is_dir():
        pytest.fail(f"shared fixtures missing at {path} (set RT_SALIENCY_SHARED)")
    return path


@pytest.fixture(scope="session")
def vtest_avi() -> Path:
    """A real video: OpenCV's vtest.avi (768x576, 10 fps, 795 frames), fetched by setup.sh."""
    path = VIDEO_DIR / "vtest.avi"
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/setup.sh")
    return path


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
