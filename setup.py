"""Install rt-saliency: ``pip install -e .[dev]`` (after ``scripts/setup.sh`` installed the
system libraries and the CPU build of torch; see README.md)."""

from __future__ import annotations

from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

#: the Debian package each C extension builds against
DEV_PACKAGES = {"_x264": "libx264-dev", "_x265": "libx265-dev"}


class BuildExt(build_ext):
    """Build the C extensions; fail loudly, with the fix, when a -dev package is missing."""

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError / LinkError: say what to install
            short = ext.name.rsplit(".", 1)[-1]
            if short in DEV_PACKAGES:
                raise SystemExit(
                    f"error: building {ext.name} needs {short[1:]}'s headers and library "
                    f"(Debian: {DEV_PACKAGES[short]}, pkg-config, build-essential); run "
                    f"scripts/setup.sh\n({exc})") from exc
            raise

HERE = Path(__file__).parent


def _version() -> str:
    for line in (HERE / "rt_saliency" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no __version__ in rt_saliency/__init__.py")


setup(
    name="rt-saliency",
    version=_version(),
    description="Real-time video saliency (TP-CMRNet) to per-macroblock QP offsets",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["rt_saliency", "rt_saliency.*"]),
    package_data={"rt_saliency": ["py.typed", "assets/*"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "torch>=2.1",
        "opencv-python-headless>=4.8,<5",  # 5.x ships no CascadeClassifier: the prior's face term
        "av>=14",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "tqdm>=4.60",
        "matplotlib>=3.7",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout>=2.1"],
        "trt": ["tensorrt>=10", "cuda-python>=12"],
        "gpu": ["onnxruntime-gpu>=1.17"],
        "openvino": ["openvino>=2024.0"],
    },
    ext_modules=[
        Extension(
            "rt_saliency.encode._x264",
            sources=["rt_saliency/encode/_x264module.c"],
            libraries=["x264"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
        ),
        Extension(
            "rt_saliency.encode._x265",
            sources=["rt_saliency/encode/_x265module.c"],
            libraries=["x265"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
        ),
    ],
    cmdclass={"build_ext": BuildExt},
    entry_points={"console_scripts": ["rt-saliency=rt_saliency.cli:main"]},
    zip_safe=False,
)
