#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a result: installs the system packages, builds
# fer-stream in release mode, makes a sample face video and runs fer-stream on it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
swift build -c release --product fer-stream
scripts/make-sample.sh
echo "fer-stream samples/astronaut.mp4 (first lines, then a count of labels):" >&2
.build/release/fer-stream --stats --output samples/astronaut.ndjson samples/astronaut.mp4
head -n 3 samples/astronaut.ndjson
jq -r '.faces[] | .label' samples/astronaut.ndjson | sort | uniq -c | sort -rn
