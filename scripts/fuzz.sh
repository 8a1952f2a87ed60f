#!/usr/bin/env bash
# Fuzzes what reads bytes from outside, SECONDS per target (default 60):
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]     TARGETs: safetensors cascade csv imagefolder writers media
#
# - safetensors, cascade, csv, imagefolder, writers: libFuzzer targets (Sources/fer-stream-fuzz),
#   built with `-sanitize=fuzzer,address` in .build-fuzz/, started from seed corpora this script
#   generates (nothing from any data set); the writers' target also checks that NDJSON and CSV
#   read back to the values written.
# - media: scripts/fuzz-media.py, mutated mp4/mkv/webm/avi/MPEG-TS clips through fer-stream built
#   with `-sanitize=address` in .build-asan/.
#
# Prints one line per target (executions, seconds, findings) and exits 1 if this run found anything;
# crashing inputs are kept in .fuzz/findings/<target>/ (replay one: .build/debug/fer-stream-fuzz
# TARGET FILE, after `swift build --product fer-stream-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors cascade csv imagefolder writers media)

fuzz_bin=.build-fuzz/debug/fer-stream-fuzz
asan_bin=.build-asan/debug/fer-stream
needs_fuzzer=0 needs_media=0
for t in "${targets[@]}"; do [ "$t" = media ] && needs_media=1 || needs_fuzzer=1; done
if [ $needs_fuzzer = 1 ]; then
  echo "fuzz: building the libFuzzer targets (.build-fuzz)" >&2
  swift build --product fer-stream-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >&2
fi
if [ $needs_media = 1 ]; then
  echo "fuzz: building fer-stream with AddressSanitizer (.build-asan)" >&2
  swift build --product fer-stream --scratch-path .build-asan -Xswiftc -sanitize=address >&2
fi

work=.fuzz
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/findings"
python3 scripts/fuzz-seeds.py "$work/corpus" >&2

# Findings of earlier runs stay in .fuzz/findings/ (to be turned into tests); only this run's count.
stamp="$work/started"
touch "$stamp"
found=0
for t in "${targets[@]}"; do
  if [ "$t" = media ]; then
    mkdir -p "$work/findings/media"
    python3 scripts/fuzz-media.py --seconds "$seconds" --binary "$asan_bin" --out "$work/findings/media" || found=1
    continue
  fi
  mkdir -p "$work/findings/$t"
  log="$work/$t.log"
  # -rss_limit_mb: a reader that allocates what a hostile length field asks for is a finding too.
  status=0
  FER_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$fuzz_bin" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/findings/$t/" \
    "$work/corpus/$t" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  crashes=$(find "$work/findings/$t" -type f -newer "$stamp" | wc -l)
  echo "$t: ${execs:-?} executions in ${seconds} s, exit $status, $crashes findings"
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    found=1
    grep -m 3 -E 'ERROR|Fatal error|SUMMARY|deadly signal' "$log" | sed 's/^/  /' || true
  fi
done
exit $found
