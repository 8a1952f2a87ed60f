#!/usr/bin/env bash
# Do two builds write the same bytes? Runs BASE_BINARY and NEW_BINARY over every clip in CLIPS_DIR
# (default /work/shared/devset), at the same (default) settings, as NDJSON and as CSV, one run
# after another (the machine has two cores; parallel runs would only slow each other), and prints
# per format how many outputs differ (cmp) and which. A different exit status counts as a
# difference too. Exit 0: all identical; 1: some differ; 2: bad usage.
#
# usage: benchmarks/identity.sh BASE_BINARY NEW_BINARY [CLIPS_DIR] [-- FER-STREAM OPTIONS…]
#   e.g. benchmarks/identity.sh /tmp/fer-stream-main .build/release/fer-stream ../shared/devset -- --batch 1
# (`--batch 1`: one frame per network call, so neither build's output depends on how frames happen
# to batch, which in the default mode moves the last digits from run to run of the same build.)
set -uo pipefail
options=()
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = -- ]; then options=("${@:i+1}"); set -- "${@:1:i-1}"; break; fi
done
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BASE_BINARY NEW_BINARY [CLIPS_DIR] [-- OPTIONS…]" >&2
  exit 2
fi
base=$1 new=$2 clips=${3:-$(dirname "$0")/../../shared/devset}
for bin in "$base" "$new"; do
  [ -x "$bin" ] || { echo "identity: '$bin' is not an executable file" >&2; exit 2; }
done
[ -d "$clips" ] || { echo "identity: clips folder '$clips': not a directory" >&2; exit 2; }
mapfile -t files < <(find "$clips" -maxdepth 1 -type f ! -name '*.md' ! -name '.*' | sort)
[ ${#files[@]} -gt 0 ] || { echo "identity: no clips in '$clips'" >&2; exit 2; }

work=$(mktemp -d /tmp/fer-identity.XXXXXX)
trap 'rm -rf "$work"' EXIT
any=0
for format in ndjson csv; do
  differ=()
  for clip in "${files[@]}"; do
    name=$(basename "$clip")
    for side in base new; do
      bin=$base; [ "$side" = new ] && bin=$new
      "$bin" --no-progress --format "$format" "${options[@]}" "$clip" > "$work/$side.$format" 2> "$work/$side.err"
      echo $? > "$work/$side.status"
    done
    if ! cmp -s "$work/base.status" "$work/new.status"; then
      differ+=("$name (exit $(cat "$work/base.status") vs $(cat "$work/new.status"))")
    elif ! cmp -s "$work/base.$format" "$work/new.$format"; then
      differ+=("$name ($(cmp "$work/base.$format" "$work/new.$format" 2>&1 | sed -e 's/^.*differ: //' -e "s#$work/##g"))")
    fi
  done
  echo "$format: ${#differ[@]} of ${#files[@]} outputs differ"
  for d in "${differ[@]}"; do echo "  $d"; done
  [ ${#differ[@]} -eq 0 ] || any=1
done
exit $any
