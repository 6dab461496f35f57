"""Thin entry point: ``python export/export_onnx.py --random-init -o export/out`` equals
``rt-saliency export ...`` (see export/README.md)."""

from __future__ import annotations

import sys

from rt_saliency.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
