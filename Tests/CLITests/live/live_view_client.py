#!/usr/bin/env python3
"""Clients of fer-stream's live view (--serve) for its tests and benchmarks.

  browser URL --tiles N --ndjson FILE [--screenshot PNG] [--seconds S]
      A real headless Chromium (Debian's `chromium`, driven over its DevTools protocol) opens the
      page and checks: N tiles; every tile's frames advance; the overlay draws, for the frame it
      shows, each face's box where that frame's NDJSON line has it and the line's label text and
      score (read back from the drawing and from the overlay canvas's pixels). Prints a JSON summary
      (painted frames, record-to-paint latencies). Exit 0 pass, 1 a check failed, 2 Chromium did not start.
  stall URL --seconds S [--viewers K]
      K WebSocket viewers that ask for every input and then never read (a tiny receive buffer).
  metrics FILE
      Parses FILE as Prometheus text (prometheus_client's parser); prints the families as JSON.
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

def fail(msg, code=1):
    print("live_view_client: " + msg, file=sys.stderr)
    sys.exit(code)

def need_websocket():
    try:
        import websocket  # websocket-client (benchmarks/requirements.txt, scripts/test-requirements.txt)
        return websocket
    except ImportError:
        fail("the Python package websocket-client is missing: pip install -r scripts/test-requirements.txt", 2)

class Chromium:
    """Headless Chromium with its DevTools protocol on a WebSocket."""
    def __init__(self, width=1400, height=1300):
        websocket = need_websocket()
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            fail("chromium is not installed (scripts/install-deps.sh installs Debian's chromium)", 2)
        self.profile = tempfile.mkdtemp(prefix="fer-live-chromium-")
        self.proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                      "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
                                      "--remote-allow-origins=*", "--user-data-dir=" + self.profile,
                                      "--window-size=%d,%d" % (width, height), "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline, port = time.time() + 60, None
        while time.time() < deadline and port is None:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        if port is None:
            self.close()
            fail("chromium did not start (no DevTools port within 60 s; exit %s)" % self.proc.poll(), 2)
        pages = []
        for _ in range(100):
            try:
                pages = [t for t in json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port)) if t["type"] == "page"]
            except OSError:
                pages = []
            if pages:
                break
            time.sleep(0.1)
        if not pages:
            self.close()
            fail("chromium started but shows no page", 2)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

# What the page painted, with the overlay's pixels at the middle of each box's left edge, read in one go.
SAMPLE = r"""(() => {
  const out = { tiles: document.querySelectorAll('.tile').length, painted: ferLive.painted, frames: ferLive.frames,
                latencies: ferLive.latencies.slice(), overlays: {}, badges: [...document.querySelectorAll('.tile .badge')].map(b => b.textContent) };
  for (const [id, o] of Object.entries(ferLive.overlays)) {
    const t = ferLive.tiles.get(+id), c = t.overlay.getContext('2d');
    out.overlays[id] = { frame: o.frame, width: o.width, height: o.height, frameWidth: o.frameWidth, frameHeight: o.frameHeight, record: ferLive.records[id],
      faces: o.faces.map(f => { const x = Math.round(f.rect[0]), y = Math.round(f.rect[1] + f.rect[3] / 2);
        return Object.assign({}, f, { pixel: Array.from(c.getImageData(x, y, 1, 1).data),
                                      inside: Array.from(c.getImageData(Math.round(f.rect[0] + f.rect[2] / 2), y, 1, 1).data) }); }) };
  }
  return out;
})()"""

def hex_rgb(c):
    return [int(c[i:i + 2], 16) for i in (1, 3, 5)]

def browser(args):
    lines = []
    w, h = (int(x) for x in args.window.split("x"))
    chrome = Chromium(w, h)
    samples = []
    try:
        chrome.call("Page.navigate", url=args.url)
        deadline = time.time() + 30
        while time.time() < deadline:
            s = chrome.eval("typeof ferLive === 'undefined' ? null : Object.keys(ferLive.painted).length")
            if s is not None and s >= args.tiles:
                break
            time.sleep(0.25)
        if not chrome.eval("typeof ferLive !== 'undefined'"):
            fail("the page at %s did not load in Chromium" % args.url)
        start = time.time()
        while time.time() - start < args.seconds:
            samples.append(chrome.eval(SAMPLE))
            time.sleep(0.5)
        if args.screenshot:
            shot = chrome.call("Page.captureScreenshot", format="png")["data"]
            import base64
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot))
    finally:
        chrome.close()
    if not samples:
        fail("no sample of the page")
    first, last = samples[0], samples[-1]
    problems = []
    if last["tiles"] != args.tiles:
        problems.append("%d tiles, expected %d" % (last["tiles"], args.tiles))
    for i in range(args.tiles):
        k = str(i)
        p0, p1 = first["painted"].get(k, 0), last["painted"].get(k, 0)
        f0, f1 = first["frames"].get(k, -1), last["frames"].get(k, -1)
        if not (p1 > p0 and f1 > f0):
            problems.append("tile %d did not advance: painted %s→%s, frame %s→%s over %.1f s" % (i, p0, p1, f0, f1, args.seconds))
    # The overlay against the NDJSON: every sample's drawn faces, for every tile that drew one.
    deadline = time.time() + 30
    records = {}
    checked, faces_checked, tiles_with_faces = 0, 0, set()
    for s in samples:
        for k, o in s["overlays"].items():
            rec = o["record"]
            key = (rec.get("source"), rec["frame"])
            while key not in records and time.time() < deadline:
                records.clear()
                with open(args.ndjson) as f:
                    for line in f:
                        if line.strip():
                            r = json.loads(line)
                            records[(r.get("source"), r["frame"])] = r
                if key not in records:
                    time.sleep(0.5)
            if key not in records:
                problems.append("tile %s shows frame %s of %s, which the NDJSON does not have" % (k, key[1], key[0]))
                continue
            line = records[key]
            if line != rec:
                problems.append("tile %s: the page's record of frame %s is not the NDJSON line" % (k, key[1]))
            checked += 1
            if len(o["faces"]) != len(line["faces"]):
                problems.append("tile %s frame %s: %d boxes drawn, the NDJSON has %d faces" % (k, key[1], len(o["faces"]), len(line["faces"])))
                continue
            sx, sy = o["width"] / o["frameWidth"], o["height"] / o["frameHeight"]
            for d, face in zip(o["faces"], line["faces"]):
                faces_checked += 1
                tiles_with_faces.add(k)
                text = "#%d %s %s" % (face["track"], face["label"], "–" if face["score"] is None else "%.2f" % face["score"])
                if d["label"] != face["label"] or d["track"] != face["track"] or d["text"] != text:
                    problems.append("tile %s frame %s: drew '%s', the NDJSON says '%s'" % (k, key[1], d["text"], text))
                bx, by, bw, bh = face["box"]
                want = [bx * sx, by * sy, bw * sx, bh * sy]
                if any(abs(a - b) > 1.5 for a, b in zip(d["rect"], want)):
                    problems.append("tile %s frame %s: box drawn at %s, the NDJSON's %s scaled is %s" % (k, key[1], d["rect"], face["box"], want))
                # The box's edge is painted in the label's colour; its inside is left clear.
                px, colour = d["pixel"], hex_rgb(d["colour"]) if d["colour"].startswith("#") else None
                if px[3] < 200 or (colour and max(abs(a - b) for a, b in zip(px[:3], colour)) > 40):
                    problems.append("tile %s frame %s: no %s box edge on the overlay at the box (pixel %s)" % (k, key[1], d["colour"], px))
                if d["inside"][3] != 0:
                    problems.append("tile %s frame %s: the overlay covers the face's middle" % (k, key[1]))
    if len(tiles_with_faces) < args.tiles:
        problems.append("only tiles %s ever drew a face (the clips all have one)" % sorted(tiles_with_faces))
    lat = sorted(x for s in samples[-1:] for x in s["latencies"])
    summary = {"tiles": last["tiles"], "painted": last["painted"], "frames": last["frames"], "records_checked": checked,
               "faces_checked": faces_checked, "latency_ms": {"n": len(lat), "p50": pct(lat, 50), "p95": pct(lat, 95), "max": lat[-1] if lat else None},
               "badges": last["badges"]}
    print(json.dumps(summary))
    if problems:
        for p in problems[:20]:
            print("live_view_client: " + p, file=sys.stderr)
        sys.exit(1)

def pct(xs, p):
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def stall(args):
    websocket = need_websocket()
    socks = []
    for _ in range(args.viewers):
        ws = websocket.create_connection(args.url, timeout=10, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),),
                                         origin=None, suppress_origin=True)
        ws.send(json.dumps({"watch": "all"}))
        socks.append(ws)
    if args.mjpeg:
        # An MJPEG client that sends its request and never reads the answer.
        from urllib.parse import urlparse
        u = urlparse(args.mjpeg)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((u.hostname, u.port or 80))
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (u.path, u.netloc)).encode())
        socks.append(s)
    print("stalled %d" % len(socks), flush=True)
    time.sleep(args.seconds)  # never reading
    for ws in socks:
        (ws.sock if hasattr(ws, "sock") else ws).close()

def oversize(args):
    """Sends a 64 KiB text message (the page's own are a few bytes): the server must close this viewer."""
    websocket = need_websocket()
    ws = websocket.create_connection(args.url, timeout=10, suppress_origin=True)
    ws.send("x" * 65536)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            op, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            print("closed"); return
        except (OSError, websocket.WebSocketException):
            print("closed"); return
        if op == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            print("closed %s" % code); return
    fail("the server kept a viewer that sent a 64 KiB message")

def metrics(args):
    from prometheus_client.parser import text_string_to_metric_families
    with open(args.file) as f:
        text = f.read()
    out = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
    print(json.dumps(out))

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("browser"); b.add_argument("url"); b.add_argument("--tiles", type=int, required=True)
    b.add_argument("--ndjson", required=True); b.add_argument("--screenshot"); b.add_argument("--seconds", type=float, default=4)
    b.add_argument("--window", default="1400x1300", help="the browser window, WxH")
    s = sub.add_parser("stall"); s.add_argument("url"); s.add_argument("--seconds", type=float, default=30); s.add_argument("--viewers", type=int, default=1)
    s.add_argument("--mjpeg", help="also an MJPEG client of this URL that never reads")
    m = sub.add_parser("metrics"); m.add_argument("file")
    o = sub.add_parser("oversize"); o.add_argument("url")
    args = ap.parse_args()
    {"browser": browser, "stall": stall, "metrics": metrics, "oversize": oversize}[args.cmd](args)

if __name__ == "__main__":
    main()
