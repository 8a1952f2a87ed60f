#!/usr/bin/env bash
# Builds Examples/LabelVideo (a package of its own that depends on this checkout) and runs it on a
# generated clip: one NDJSON line per frame, each one parsing, the face found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/Examples/LabelVideo"
swift build -Xswiftc -O
bin=$(swift build -Xswiftc -O --show-bin-path)/label-video
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clip="$tmp/face.mp4"
src=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
ffmpeg -v error -y -loop 1 -framerate 10 -i "$src" -vf "scale=320:320,format=yuv420p" -frames:v 20 -c:v libx264 "$clip"
"$bin" "$clip" > "$tmp/out.ndjson" 2> "$tmp/err"
lines=$(wc -l < "$tmp/out.ndjson")
[ "$lines" -eq 20 ] || { echo "example: expected 20 lines, got $lines" >&2; cat "$tmp/err" >&2; exit 1; }
jq -e -s 'length == 20 and (map(.frame) == [range(20)]) and (map(.faces | length) | add) >= 15' "$tmp/out.ndjson" >/dev/null \
  || { echo "example: the lines are not one per frame with the face found:" >&2; head -3 "$tmp/out.ndjson" >&2; exit 1; }
# A missing file: one line on stderr naming it, exit 1.
if "$bin" "$tmp/missing.mp4" 2> "$tmp/err2"; then echo "example: a missing file did not fail" >&2; exit 1; fi
grep -q "missing.mp4" "$tmp/err2" && [ "$(wc -l < "$tmp/err2")" -eq 1 ] \
  || { echo "example: the error is not one line naming the file:" >&2; cat "$tmp/err2" >&2; exit 1; }
echo "example: label-video wrote 20 lines, one per frame, $(jq -s 'map(.faces | length) | add' "$tmp/out.ndjson") faces; $(cat "$tmp/err")"
