"""The layer check (tools/layers.py) passes on the package and catches each kind of violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "layers.py"


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), str(root)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    """A copy of the package's sources to break on purpose."""
    root = tmp_path / "rt_saliency"
    shutil.copytree(REPO / "rt_saliency", root, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return root


def test_the_package_obeys_its_layers() -> None:
    out = _check(REPO / "rt_saliency")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "back-arrows: 0" in out.stdout and "import cycles: 0" in out.stdout
    assert out.stdout.rstrip().endswith("OK")


def test_a_back_import_fails(package: Path) -> None:
    qp = package / "qp" / "mapping.py"
    qp.write_text(qp.read_text() + "\nfrom rt_saliency.stream.pipeline import Pipeline  # noqa\n")
    out = _check(package)
    assert out.returncode == 1
    assert "back-arrows: 1" in out.stdout
    assert "rt_saliency.qp.mapping (layer 1 'qp') imports rt_saliency.stream.pipeline" in out.stdout


def test_an_import_cycle_fails(package: Path) -> None:
    # same layer, so no back-arrow: only the cycle check can catch it
    (package / "metrics.py").write_text((package / "metrics.py").read_text()
                                       + "\nfrom rt_saliency import loss  # noqa\n")
    (package / "loss.py").write_text((package / "loss.py").read_text()
                                    + "\nfrom rt_saliency import metrics  # noqa\n")
    out = _check(package)
    assert out.returncode == 1 and "back-arrows: 0" in out.stdout
    assert "rt_saliency.loss <-> rt_saliency.metrics" in out.stdout


def test_an_own_import_inside_a_function_fails(package: Path) -> None:
    target = package / "atomic.py"
    target.write_text(target.read_text() + "\n\ndef _late():\n    from rt_saliency import spec\n"
                      "    return spec\n")
    out = _check(package)
    assert out.returncode == 1
    assert "own-module imports inside functions: 1" in out.stdout


def test_a_library_imported_inside_a_function_fails(package: Path) -> None:
    target = package / "atomic.py"
    target.write_text(target.read_text() + "\n\ndef _late():\n    import json\n    return json\n")
    out = _check(package)
    assert out.returncode == 1
    assert "other imports inside functions: 1" in out.stdout and "imports json inside" in out.stdout


def test_a_module_outside_every_layer_fails(package: Path) -> None:
    (package / "newthing.py").write_text("from rt_saliency import errors  # noqa\n")
    out = _check(package)
    assert out.returncode == 1 and "component 'newthing' is in no layer" in out.stdout
