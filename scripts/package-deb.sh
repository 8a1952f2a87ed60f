#!/usr/bin/env bash
# Builds a Debian package of fer-stream: scripts/install.sh's layout under /usr, with a Depends
# line made from the shared libraries the binary itself names (readelf NEEDED → the Debian package
# that holds each, at the version installed here, as dpkg-shlibdeps would):
#
#   scripts/package-deb.sh [OUTDIR]      OUTDIR default . ; writes fer-stream_VERSION_ARCH.deb
#   sudo apt install ./fer-stream_*.deb
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "${1:-.}" && pwd)
cd "$root"

stage=$(mktemp -d /tmp/fer-stream-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" scripts/install.sh /usr >&2
bin="$stage/usr/bin/fer-stream"
version=$("$bin" --version)
arch=$(dpkg --print-architecture)

# One package per library the binary links directly; ">= the installed upstream version".
depends=()
for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
  [ -n "$path" ] || { echo "package-deb: $lib is not installed here" >&2; exit 1; }
  pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) \
    || pkg=$(dpkg -S "$path" | head -n 1 | cut -d: -f1)
  [ -n "$pkg" ] || { echo "package-deb: no Debian package holds $path" >&2; exit 1; }
  ver=$(dpkg-query -W -f='${Version}' "$pkg" | sed 's/-[^-]*$//')
  depends+=("$pkg (>= $ver)")
done
depends_line=$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<EOF
Package: fer-stream
Version: $version
Architecture: $arch
Maintainer: the fer-stream developers <fer-stream@localhost>
Depends: $depends_line
Recommends: opencv-data
Section: video
Priority: optional
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Description: per-face emotion labels from live or recorded video
 Decodes video with FFmpeg, finds and tracks faces (YuNet), classifies each
 into angry, disgust, fear, happy, sad, surprise or neutral with a VGG19
 trained on FER2013 (oneDNN, int8 where the CPU allows), and streams one
 NDJSON or CSV line per frame. opencv-data holds the Haar cascade of
 --detector haar.
EOF
deb="$out/fer-stream_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >&2
echo "$deb"
echo "Depends: $depends_line" >&2
