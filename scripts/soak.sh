#!/usr/bin/env bash
# Soak test (not run in CI): fer-stream reads a looping live stream for MINUTES minutes while its
# resident memory (VmRSS) is sampled; then it is stopped with SIGINT as a user would.
#
#   scripts/soak.sh [MINUTES] [CLIP]      MINUTES default 10; CLIP default samples/astronaut.mp4,
#                                         else a face clip made here from the skimage portrait
#   FER_STREAM=path/to/fer-stream         default .build/release/fer-stream, else .build/debug
#   SOAK_ARGS="--tta center"              extra fer-stream options (default: none, the product's
#                                         defaults: 10-crop, YuNet, auto precision)
#   SOAK_INTERVAL=5                       seconds between RSS samples
#
# The stream: `ffmpeg -re -stream_loop -1` sends CLIP as MPEG-TS over UDP to 127.0.0.1:PORT (a free
# port), which fer-stream reads as a live source (real time, reconnects). Prints RSS min / median /
# max, first-minute vs last-minute median RSS, lines written, frames skipped and the exit status.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
clip=${2:-}
interval=${SOAK_INTERVAL:-5}
extra=${SOAK_ARGS:-}
bin=${FER_STREAM:-}
if [ -z "$bin" ]; then
  for b in .build/release/fer-stream .build/debug/fer-stream; do [ -x "$b" ] && { bin=$b; break; }; done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "soak: no fer-stream binary (swift build -c release, or set FER_STREAM)" >&2; exit 1; }

work=$(mktemp -d /tmp/fer-soak.XXXXXX)
publisher="" reader=""
cleanup() {
  # Only the processes this script started, by their ids.
  [ -n "$reader" ] && kill -KILL "$reader" 2>/dev/null || true
  [ -n "$publisher" ] && kill "$publisher" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ -z "$clip" ]; then
  if [ -f samples/astronaut.mp4 ]; then
    clip=samples/astronaut.mp4
  else
    portrait=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
    [ -f "$portrait" ] || { echo "soak: give a CLIP, or apt-get install python3-skimage" >&2; exit 1; }
    clip=$work/face.mp4
    ffmpeg -v error -y -loop 1 -framerate 25 -i "$portrait" -frames:v 250 -c:v libx264 -preset veryfast -g 25 \
      -vf "zoompan=z='1+0.002*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s=480x480:fps=25,format=yuv420p" "$clip"
  fi
fi

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="udp://127.0.0.1:$port"
echo "soak: $minutes min of $clip looped to $url, read by $bin $extra; RSS every ${interval}s" >&2

# shellcheck disable=SC2086  # $extra is a list of options
"$bin" $extra --stats -o "$work/out.ndjson" "$url" 2>"$work/stderr.log" &
reader=$!
ffmpeg -v error -re -stream_loop -1 -i "$clip" -an -c:v copy -f mpegts "$url?pkt_size=1316" 2>"$work/publisher.log" &
publisher=$!

start=$(date +%s)
end=$((start + $(awk -v m="$minutes" 'BEGIN { print int(m * 60) }')))
: >"$work/rss"
while [ "$(date +%s)" -lt "$end" ] && kill -0 "$reader" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$reader/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )) $rss" >>"$work/rss"
  sleep "$interval"
done

# Stop as a user would; give it time to finish the frames in flight.
status=""
if kill -0 "$reader" 2>/dev/null; then
  kill -INT "$reader"
  for _ in $(seq 1 100); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
fi
if kill -0 "$reader" 2>/dev/null; then
  echo "soak: fer-stream did not stop within 10 s of SIGINT" >&2
  kill -KILL "$reader"; wait "$reader" 2>/dev/null || true; status="killed"
else
  set +e; wait "$reader"; status=$?; set -e
fi
reader=""
kill "$publisher" 2>/dev/null || true; wait "$publisher" 2>/dev/null || true; publisher=""

lines=$(wc -l <"$work/out.ndjson")
skipped=$(grep -o '"skipped":[0-9]*' "$work/out.ndjson" | awk -F: '{s += $2} END {print s + 0}')
last_frame=$(tail -n 1 "$work/out.ndjson" | grep -o '^{"frame":[0-9]*' | grep -o '[0-9]*$' || echo none)
elapsed=$(( $(date +%s) - start ))
awk -v last="$elapsed" '
  function median(a, n,   i, j, t) {  # insertion sort; n is small
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { n++; all[n] = $2; if ($1 < 60) first[++nf] = $2; if ($1 >= last - 60) lastm[++nl] = $2 }
  END {
    if (n == 0) { print "RSS: no samples"; exit }
    printf "RSS samples: %d over %d s\n", n, last
    printf "RSS MiB: min %.1f  median %.1f  max %.1f\n", min(all, n) / 1024, median(all, n) / 1024, max(all, n) / 1024
    printf "RSS MiB: first minute median %.1f, last minute median %.1f\n", median(first, nf) / 1024, median(lastm, nl) / 1024
  }
  function min(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
  function max(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
' "$work/rss"
echo "lines written: $lines (last frame index $last_frame, frames skipped $skipped)"
echo "reconnects logged: $(grep -c 'reconnected' "$work/stderr.log" || true)"
echo "final stats: $(grep '^{"frames_decoded"' "$work/stderr.log" | tail -n 1)"
echo "fer-stream exit status: $status"
echo "files kept in $work (out.ndjson, stderr.log, rss)"
[ "$status" = "0" ]
