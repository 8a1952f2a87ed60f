#!/usr/bin/env bash
# The per-frame NDJSON writer (hand-written) against JSONEncoder on FrameRecord: lines per second
# of the same 5000 two-face frames, interleaved rounds, printed side by side. Builds optimised.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests -Xswiftc -O >/dev/null
FER_STREAM_BENCH_RECORDS=1 swift test --skip-build --filter RecordWriterBenchmark 2>&1 | grep -E "^NDJSON lines/s|error"
