#!/usr/bin/python3
"""A small RTSP server on 127.0.0.1 for fer-stream's live-source tests.

Serves rtsp://127.0.0.1:PORT/live until killed: a generated live picture (a moving test pattern
at --fps, as from a camera) as MJPEG over RTP, over TCP or UDP, one stream shared by all clients.
Uses Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-good (see
scripts/install-deps.sh); hence /usr/bin/python3, not a virtual environment's.

usage: rtsp-test-server.py PORT [--size WxH] [--fps N]
       rtsp-test-server.py --check    (exit 0 when everything it needs is installed)
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int, nargs="?")
    parser.add_argument("--check", action="store_true", help="only check that the GStreamer elements exist")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    missing = [e for e in ("videotestsrc", "jpegenc", "rtpjpegpay") if Gst.ElementFactory.find(e) is None]
    if missing:
        print(f"rtsp-test-server: missing GStreamer elements {', '.join(missing)}: "
              "apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good", file=sys.stderr, flush=True)
        return 2
    if args.check:
        return 0
    if args.port is None:
        parser.error("PORT is required")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # is-live: frames come at the stream's own rate. RTP/JPEG carries 4:2:0 or 4:2:2 only, hence I420.
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,format=I420,width={width},height={height},framerate={args.fps}/1 "
        f"! jpegenc quality=60 ! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print(f"rtsp-test-server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    print(f"rtsp://127.0.0.1:{args.port}/live", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
