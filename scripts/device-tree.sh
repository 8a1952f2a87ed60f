#!/usr/bin/env bash
# Get the working tree ready for a training call of the device tool (a lent GPU machine), and back.
#
#   scripts/device-tree.sh prepare   # pack the data into .device/, take the large model files out of what travels
#   ...one `run` of the device tool (training/README.md, "Training on a lent GPU")...
#   scripts/device-tree.sh restore   # put the model files back in the index
#
# Why: a call takes at most 64 MiB (working tree + carried paths). The packed Training+PublicTest
# data is 51 MB and the shipped networks 106 MB, so they (which a from-scratch run does not need)
# must not travel. `prepare` unstages every model file over 1 MB (git rm --cached) and ignores it in
# .git/info/exclude, so it is neither tracked nor untracked-and-unignored; the files stay where they are.
set -euo pipefail
cd "$(dirname "$0")/.."

PACK=.device/fer2013-tp.ferpack
VOTES=.device/fer2013plus.csv   # the FER+ votes (1.8 MB), for a run on them
VOTES_SRC=${FERPLUS_CSV:-../shared/data/ferplus/fer2013plus.csv}
EXCLUDE=.git/info/exclude
LIMIT=$((64 * 1024 * 1024))

case "${1:-}" in
prepare)
    mkdir -p .device
    if [ ! -s "$PACK" ]; then
        echo "packing Training+PublicTest into $PACK (about 90 s)..." >&2
        python3 training/fer2013.py --write-packed "$PACK" >/dev/null
    fi
    if [ ! -s "$VOTES" ] && [ -s "$VOTES_SRC" ]; then
        cp "$VOTES_SRC" "$VOTES"
    fi
    for model in $(git ls-files 'Models/*.safetensors'); do
        [ "$(stat -c %s "$model")" -gt 1000000 ] || continue
        git rm -q --cached "$model"
        grep -qxF "/$model" "$EXCLUDE" 2>/dev/null || echo "/$model" >>"$EXCLUDE"
    done
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
on the FER+ votes (chosen on the PublicTest top vote), add: --ferplus .device/fer2013plus.csv
then, here: scripts/device-tree.sh restore
EOF2
    ;;
restore)
    models=$(grep -x '/Models/.*\.safetensors' "$EXCLUDE" 2>/dev/null | sed 's|^/||' || true)
    if [ -f "$EXCLUDE" ]; then
        grep -vx '/Models/.*\.safetensors' "$EXCLUDE" >"$EXCLUDE.tmp" || true
        mv "$EXCLUDE.tmp" "$EXCLUDE"
    fi
    for model in $models; do
        git reset -q -- "$model"
        git ls-files --error-unmatch "$model" >/dev/null
        git diff --quiet HEAD -- "$model" || echo "device-tree: note: $model differs from HEAD" >&2
        echo "restored: $model is tracked again" >&2
    done
    ;;
*)
    echo "usage: scripts/device-tree.sh prepare|restore" >&2
    exit 2
    ;;
esac
