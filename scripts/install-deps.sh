#!/usr/bin/env bash
# Installs the Debian 12 packages fer-stream builds and runs with. Idempotent: does nothing
# (and needs no network) when they are all present.
set -euo pipefail
packages=(
  pkg-config ffmpeg                                  # the ffmpeg CLI makes samples and test inputs
  libavformat-dev libavcodec-dev libavdevice-dev libswscale-dev libavutil-dev
  libdnnl-dev                                        # oneDNN, the fast recognizer backend
  opencv-data                                        # Haar cascades for face detection
  python3-skimage                                    # a public-domain portrait for the sample video
  jq
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good   # RTSP test server (scripts/rtsp-test-server.py)
  libmosquitto-dev mosquitto mosquitto-clients       # MQTT publishing; the broker and mosquitto_sub for its tests
  libhiredis-dev redis-server                        # Redis publishing; the server for its tests
  slurm-wlm munge                                    # Slurm batch runs; a one-node cluster for their tests
  libturbojpeg0-dev                                  # --serve: JPEG frames for the live view
  chromium                                           # --serve: the live view's test in a real browser
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
