#!/usr/bin/env bash
# The project's tests: the Swift package (real FFmpeg decoding, the real detector, the model),
# the training code's tests (skipped, with a message, where PyTorch is not installed), then every
# fuzz target for $FER_FUZZ_SECONDS seconds each (default 30; 0 skips it), where a finding fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
# Optimised (-O) though a debug build: the tests run the real detector and network on real
# frames, minutes slower unoptimised. (Package.swift sets no flags, so that the package can be a
# dependency; plain `swift test` works too, only slower.)
swift build --build-tests -Xswiftc -O
swift test --skip-build
# The documentation against the binary just built: every option of every command's --help in
# docs/usage.md, the README's commands parse, every relative link resolves.
scripts/check-docs.sh "$(swift build --show-bin-path -Xswiftc -O)/fer-stream"
# The library as another package uses it: Examples/LabelVideo, built against this checkout, on a generated clip.
scripts/example.sh
if python3 -c "import torch" 2>/dev/null; then
  python3 -m pytest -q training/tests
else
  echo "training tests skipped: PyTorch is not installed (pip install -r training/requirements.txt)" >&2
fi
# Last, so that a finding does not hide the other results. Two sanitizer builds (.build-fuzz,
# .build-asan, debug: about a minute) plus 30 s per target: about 5 minutes on 2 cores.
fuzz_seconds=${FER_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
else
  echo "fuzzing skipped: FER_FUZZ_SECONDS=0" >&2
fi
