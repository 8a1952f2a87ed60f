#!/usr/bin/env bash
# libturbojpeg against libavcodec's MJPEG encoder on the same YUV 4:2:0 frames (benchmarks/jpeg_encoders.c).
#   benchmarks/jpeg_encoders.sh [WIDTHxHEIGHT] [FRAMES]      e.g. 640x480 200
set -euo pipefail
size=${1:-640x480}; frames=${2:-200}
w=${size%x*}; h=${size#*x}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
ffmpeg -v error -loop 1 -framerate 25 -i /usr/lib/python3/dist-packages/skimage/data/astronaut.png \
  -vf "zoompan=z='1+0.002*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s=${w}x${h}:fps=25,format=yuv420p" \
  -frames:v "$frames" -f rawvideo "$dir/frames.yuv"
cc -O2 -o "$dir/jpeg_encoders" "$(dirname "$0")/jpeg_encoders.c" $(pkg-config --cflags --libs libavcodec libavutil libturbojpeg)
"$dir/jpeg_encoders" "$dir/frames.yuv" "$w" "$h"
