"""Thin entry point: ``python engines/build_engine.py export/out -o engines/ --precision fp32 fp16``
equals ``rt-saliency build-engine ...`` (see engines/README.md)."""

from __future__ import annotations

import sys

from rt_saliency.cli import main

if __name__ == "__main__":
    sys.exit(main(["build-engine", *sys.argv[1:]]))
