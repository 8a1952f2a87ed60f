#!/usr/bin/env bash
# Generates the benchmark clips under benchmarks/clips/: H.264, 30 fps, 10 s, with 1, 2 or 3
# copies of a real face (Debian's public-domain astronaut portrait) drifting over a grey
# background. Usage: benchmarks/make-clips.sh [seconds] [name...]   (names such as 1080p-1face:
# only those clips)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
shift || true
only=("$@")
src=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
out="$root/benchmarks/clips"
mkdir -p "$out"
clip() {  # clip WIDTH HEIGHT FACES FACE_SIZE
  local w=$1 h=$2 n=$3 fs=$4 name="$out/${2}p-${3}face-${secs}s.mp4"
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" ${2}p-${3}face "* ]]; then return; fi
  [ -s "$name" ] && { echo "$name"; return; }
  local graph="[1:v]crop=200:240:140:40,scale=${fs}:-2,split=${n}"
  local labels="" chain="[0:v]"
  for i in $(seq 1 "$n"); do labels+="[f$i]"; done
  graph+="$labels"
  for i in $(seq 1 "$n"); do
    local x="($w*($i-0.5)/$n-overlay_w/2)+($w/(8*$n))*sin(t*0.7+$i)"
    local y="(main_h-overlay_h)/2+($h/10)*cos(t*0.5+$i)"
    local next="[v$i]"; [ "$i" -eq "$n" ] && next="[v]"
    graph+=";${chain}[f$i]overlay=x='$x':y='$y'$next"
    chain="[v$i]"
  done
  ffmpeg -v error -y -f lavfi -i "color=c=0x707070:s=${w}x${h}:r=30:d=${secs}" -loop 1 -framerate 30 -i "$src" \
    -filter_complex "$graph" -map "[v]" -t "$secs" -pix_fmt yuv420p -c:v libx264 -preset veryfast -crf 20 "$name"
  echo "$name"
}
clip 640 480 1 150
clip 640 480 2 150
clip 640 480 3 130
clip 1280 720 1 240
clip 1920 1080 1 360
clip 1920 1080 3 320
