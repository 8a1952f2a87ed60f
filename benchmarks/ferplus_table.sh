#!/usr/bin/env bash
# Networks measured against people and against FER2013's labels, as fer-stream itself runs them:
# one markdown row per model × split × precision: FER+ top-vote accuracy, cross-entropy against
# the votes, ECE, and FER2013-label accuracy (10-crop).
#   benchmarks/ferplus_table.sh [--splits "PublicTest PrivateTest"] [--precisions "int8 f32"] MODEL...
# Needs ../shared/data/fer2013.csv.gz and ../shared/data/ferplus/fer2013plus.csv (or $FER2013_CSV, $FERPLUS_CSV).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FER_STREAM:-$root/.build/release/fer-stream}
fer=${FER2013_CSV:-$root/../shared/data/fer2013.csv.gz}
votes=${FERPLUS_CSV:-$root/../shared/data/ferplus/fer2013plus.csv}
splits="PublicTest PrivateTest"; precisions="int8"
while [ $# -gt 0 ]; do
  case "$1" in
    --splits) splits=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    *) break ;;
  esac
done
echo "| model | split | precision | FER+ majority | cross-entropy | ECE (FER+) | FER2013 label | ECE (FER2013) |"
echo "|---|---|---|---|---|---|---|---|"
for split in $splits; do
  for p in $precisions; do
    for m in "$@"; do
      fp=$("$bin" eval --model "$m" --precision "$p" --ferplus "$votes" --fer2013 "$fer" --split "$split" --format json)
      f=$("$bin" eval --model "$m" --precision "$p" --fer2013 "$fer" --split "$split" --format json)
      python3 - "$m" "$split" "$p" "$fp" "$f" <<'PY'
import json, os, sys
m, split, p, fp, f = sys.argv[1:]
fp, f = json.loads(fp), json.loads(f)
pct = lambda v: f"{100 * v:.2f}%"
print(f"| {os.path.basename(m)} | {split} | {p} | {pct(fp['accuracy'])} of {fp['n']} | {fp['cross_entropy']:.4f} | "
      f"{fp['ece']:.4f} | {pct(f['accuracy'])} of {f['n']} | {f['ece']:.4f} |")
PY
    done
  done
done
