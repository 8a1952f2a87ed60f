#!/usr/bin/env bash
# Installs fer-stream so that it runs from any directory, without the Swift toolchain:
#
#   scripts/install.sh [PREFIX]        PREFIX default /usr/local
#
#   PREFIX/bin/fer-stream                                 release build, Swift runtime linked statically
#   PREFIX/share/fer-stream/*.safetensors                 the bundled models (found beside bin/ at run time)
#   PREFIX/share/man/man1/fer-stream*.1                   manual pages (swift-argument-parser's generate-manual)
#   PREFIX/share/bash-completion/completions/fer-stream   shell completions
#   PREFIX/share/zsh/site-functions/_fer-stream
#   PREFIX/share/fish/vendor_completions.d/fer-stream.fish
#
# The binary still needs the Debian runtime libraries FFmpeg and oneDNN come in (libavformat59,
# libdnnl2, …: scripts/install-deps.sh, or the .deb of scripts/package-deb.sh, which names them).
# DESTDIR is honoured (files go to DESTDIR/PREFIX/…), as packagers expect.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prefix=${1:-/usr/local}
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
dest="${DESTDIR:-}$prefix"

scripts/install-deps.sh

# The manual plugin builds every product in release mode and writes its pages into the plugin's
# work directory; it runs first, because it links fer-stream against the shared Swift runtime.
outputs=.build/plugins/GenerateManual/outputs
rm -rf "$outputs"
swift package generate-manual --multi-page --authors "the fer-stream developers" >&2
pages=$(find "$outputs" -name '*.1' | sort)
[ -n "$pages" ] || { echo "install: the manual plugin wrote no page in $outputs" >&2; exit 1; }

swift build -c release --product fer-stream --static-swift-stdlib
bin=.build/release/fer-stream
if ldd "$bin" | grep -q 'libswift\|libFoundation'; then
  echo "install: $bin still links the Swift runtime dynamically" >&2
  exit 1
fi

install -d "$dest/bin" "$dest/share/fer-stream" "$dest/share/man/man1" \
  "$dest/share/bash-completion/completions" "$dest/share/zsh/site-functions" \
  "$dest/share/fish/vendor_completions.d"
install -m 755 "$bin" "$dest/bin/fer-stream"
# The shipped networks; golden files are test data and stay in the checkout.
for model in Models/*.safetensors; do
  case "$model" in *.golden.safetensors) continue ;; esac
  install -m 644 "$model" "$dest/share/fer-stream/"
done
install -m 644 Models/README.md "$dest/share/fer-stream/MODELS.md"
for page in $pages; do install -m 644 "$page" "$dest/share/man/man1/"; done
"$bin" --generate-completion-script bash > "$dest/share/bash-completion/completions/fer-stream"
"$bin" --generate-completion-script zsh > "$dest/share/zsh/site-functions/_fer-stream"
"$bin" --generate-completion-script fish > "$dest/share/fish/vendor_completions.d/fer-stream.fish"

echo "installed fer-stream in $dest:" >&2
(cd "$dest" && find bin/fer-stream share/fer-stream share/man/man1 -type f | sort | sed 's/^/  /') >&2
