#!/usr/bin/env bash
# Get the working tree ready for a training call of the device tool (a lent GPU machine), and back.
#
#   scripts/device-tree.sh prepare   # pack the data into .device/, take the model file out of what travels
#   ...one `run` of the device tool (training/README.md, "Training on a lent GPU")...
#   scripts/device-tree.sh restore   # put the model file back in the index
#
# Why: a call takes at most 64 MiB (working tree + carried paths). The packed Training+PublicTest
# data is 51 MB and the shipped model 40 MB, so the model (which a from-scratch run does not need)
# must not travel. `prepare` unstages it (git rm --cached) and ignores it in .git/info/exclude, so it
# is neither tracked nor untracked-and-unignored; the file itself stays where it is.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=Models/vgg19-fer2013.safetensors
PACK=.device/fer2013-tp.ferpack
EXCLUDE=.git/info/exclude
LIMIT=$((64 * 1024 * 1024))

case "${1:-}" in
prepare)
    mkdir -p .device
    if [ ! -s "$PACK" ]; then
        echo "packing Training+PublicTest into $PACK (about 90 s)..." >&2
        python3 training/fer2013.py --write-packed "$PACK" >/dev/null
    fi
    if git ls-files --error-unmatch "$MODEL" >/dev/null 2>&1; then
        git rm -q --cached "$MODEL"
    fi
    grep -qxF "/$MODEL" "$EXCLUDE" 2>/dev/null || echo "/$MODEL" >>"$EXCLUDE"
    # What would travel: tracked + untracked-not-ignored files that exist, plus the carried .device/.
    tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
    carry=$(du -sb .device | cut -f1)
    total=$((tree + carry))
    awk -v t="$tree" -v c="$carry" -v l="$LIMIT" 'BEGIN {
        printf "travels: tree %.1f MB + .device %.1f MB = %.1f MB of %.1f MB allowed\n", t/1e6, c/1e6, (t+c)/1e6, l/1e6 }'
    if [ "$total" -gt "$LIMIT" ]; then
        echo "device-tree: $total bytes would travel, over the device tool's 64 MiB; remove untracked files first" >&2
        exit 1
    fi
    cat >&2 <<'EOF2'
ready. The device tool's run, with carry [".device"] and timeout_s 580:
  set -o pipefail; PYTHONUNBUFFERED=1 python3 training/device_run.py --data .device/fer2013-tp.ferpack --out $OUT --budget 450 2>&1 | tee $OUT/device.log
then, here: scripts/device-tree.sh restore
EOF2
    ;;
restore)
    if [ -f "$EXCLUDE" ]; then
        grep -vxF "/$MODEL" "$EXCLUDE" >"$EXCLUDE.tmp" || true
        mv "$EXCLUDE.tmp" "$EXCLUDE"
    fi
    git reset -q -- "$MODEL"
    git ls-files --error-unmatch "$MODEL" >/dev/null
    git diff --quiet HEAD -- "$MODEL" || echo "device-tree: note: $MODEL differs from HEAD" >&2
    echo "restored: $MODEL is tracked again" >&2
    ;;
*)
    echo "usage: scripts/device-tree.sh prepare|restore" >&2
    exit 2
    ;;
esac
