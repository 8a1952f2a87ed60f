#!/usr/bin/env bash
# Chooses the framing of aligned face crops by measurement: FER2013 faces, enlarged and pasted on a
# grey canvas, go through the whole face path (YuNet → landmarks → aligned 48×48 crop → VGG19),
# once per framing, on PublicTest only; the box-based crop (as before alignment) and the direct
# 48×48 accuracy are the baselines. Prints a Markdown table.
#
# usage: benchmarks/framing.sh [LIMIT] [TTA] [FRAMING ...]   (defaults: 1200 faces, center crop)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-1200}; tta=${2:-center}; shift $(( $# > 2 ? 2 : $# ))
framings=("$@")
[ ${#framings[@]} -gt 0 ] || framings=(box 2.67,0.31 2.4,0.31 2.9,0.31 2.67,0.2 2.67,0.42 2.4,0.2 2.9,0.42)
bin=.build/release/fer-stream
[ -x "$bin" ] || swift build -c release --product fer-stream
acc() { jq -r "$1" ; }
direct=$($bin eval --split PublicTest --limit "$limit" --tta "$tta" --format json | jq -r '.accuracy')
echo "| framing (scale, centre) | faces found | accuracy of found | accuracy of all | direct 48×48 |"
echo "|---|---|---|---|---|"
for f in "${framings[@]}"; do
  out=$($bin eval --split PublicTest --limit "$limit" --tta "$tta" --paste 3 --framing "$f" --format json)
  n=$(echo "$out" | jq -r '.found.n'); missed=$(echo "$out" | jq -r '.missed')
  printf '| %s | %d of %d | %.2f%% | %.2f%% | %.2f%% |\n' "$f" "$n" $((n + missed)) \
    "$(echo "$out" | jq -r '.found.accuracy * 100')" "$(echo "$out" | jq -r '.accuracy_all * 100')" "$(echo "$direct * 100" | bc -l)"
done
