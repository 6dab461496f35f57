#!/usr/bin/env bash
# Install everything rt-saliency needs on a fresh Debian machine: system packages (FFmpeg, libx264,
# libx265, a GStreamer RTSP server for the tests), the CPU build of torch, and the package itself.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ffmpeg libx264-dev libx265-dev pkg-config build-essential
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
# The CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
"$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || "$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e ".[dev]"

# Real video for the tests, from Debian's opencv-doc package: vtest.avi (768x576, 795 frames)
# and Megamind.avi (720x528 MPEG-4 in AVI with DivX "packed" B-frames, whose time stamps the
# demuxer must not invent: tests/test_encode_equivalence.py).
VIDEO_DIR=tests/data/video
if [ ! -s "$VIDEO_DIR/vtest.avi" ] || [ ! -s "$VIDEO_DIR/Megamind.avi" ]; then
  tmp=$(mktemp -d) && chmod 755 "$tmp"
  # the package lists may be missing or stale when every package above was already installed
  (cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1) \
    || { apt-get update -q && (cd "$tmp" && apt-get download -q opencv-doc >/dev/null); }
  mkdir -p "$VIDEO_DIR"
  for clip in vtest.avi Megamind.avi; do
    dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb \
      | tar -x -O "./usr/share/doc/opencv-doc/examples/data/$clip" > "$VIDEO_DIR/$clip.part"
    mv "$VIDEO_DIR/$clip.part" "$VIDEO_DIR/$clip"
  done
  rm -rf "$tmp"
fi
