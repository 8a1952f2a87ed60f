#!/usr/bin/env bash
# The project's tests: the Swift package (real FFmpeg decoding, the real detector, the model),
# then the training code's tests (skipped, with a message, where PyTorch is not installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
swift build --build-tests
swift test
if python3 -c "import torch" 2>/dev/null; then
  python3 -m pytest -q training/tests
else
  echo "training tests skipped: PyTorch is not installed (pip install -r training/requirements.txt)" >&2
fi
