#!/usr/bin/env bash
# Real clips for the benchmarks that must not be measured on the clip they were tuned on
# (benchmarks/rate_neutrality.py): Megamind.avi, tree.avi, box.mp4 and cup.mp4 from Debian's
# opencv-doc package (the package vtest.avi comes from, scripts/setup.sh), into
# benchmarks/data/clips/ (git-ignored; not needed by the tests).  Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/data/clips
want=(Megamind.avi tree.avi box.mp4 cup.mp4)
have=0
for f in "${want[@]}"; do [ -s "$OUT/$f" ] && have=$((have + 1)); done
[ "$have" -eq "${#want[@]}" ] && exit 0
tmp=$(mktemp -d) && chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1) \
  || { apt-get update -q && (cd "$tmp" && apt-get download -q opencv-doc >/dev/null); }
mkdir -p "$OUT" "$tmp/x"
dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$tmp/x" \
  ./usr/share/doc/opencv-doc/examples/data/Megamind.avi \
  ./usr/share/doc/opencv-doc/examples/data/tree.avi \
  ./usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz \
  ./usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz
cp "$tmp"/x/usr/share/doc/opencv-doc/examples/data/{Megamind,tree}.avi "$OUT/"
for f in box cup; do
  gunzip -c "$tmp/x/usr/share/doc/opencv-doc/opencv4/html/$f.mp4.gz" > "$OUT/$f.mp4.part"
  mv "$OUT/$f.mp4.part" "$OUT/$f.mp4"
done
echo "fetch_bench_clips: ${want[*]} in $OUT"
