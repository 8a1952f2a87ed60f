#!/usr/bin/env bash
# Makes samples/astronaut.mp4: a 6 s, 25 fps H.264 clip with a slow zoom and pan over the
# public-domain portrait of Eileen Collins that Debian's python3-skimage ships.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
out="$root/samples/astronaut.mp4"
[ -f "$src" ] || { echo "make-sample: $src is missing (apt-get install python3-skimage)" >&2; exit 1; }
mkdir -p "$root/samples"
[ -s "$out" ] && exit 0
ffmpeg -v error -y -loop 1 -framerate 25 -i "$src" \
  -vf "scale=1024:1024,zoompan=z='1+0.0025*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s=640x640:fps=25,format=yuv420p" \
  -frames:v 150 -c:v libx264 -preset veryfast -crf 20 "$out"
echo "made $out" >&2
