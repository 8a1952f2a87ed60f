#!/usr/bin/env python3
"""The live view's cost (--serve), interleaved, on this machine, over a generated clip of a real face
(Debian's public-domain astronaut portrait, zooming: no dev-set frames).

Throughput: one 640×480 25 fps clip of N seconds analysed as fast as possible from stdin (so that
the viewers are connected before the first frame), modes rotated in every round:
  none     fer-stream --stats -                          (no live view: no colour kept)
  serve-0  fer-stream --stats --serve 127.0.0.1:P -      (the view up, nobody watching)
  serve-4  the same, 4 WebSocket viewers reading every frame as fast as they come
  stalled  the same, 1 WebSocket viewer that never reads (a 4 KiB receive buffer)
  frames analysed per second = frames_analysed / wall_s of the --stats line; ratios against
  serve-0 per round (paired), then the median over rounds.
Page latency: 4 inputs with --realtime --serve, the page open in headless Chromium for S seconds;
  from each frame's record time (the sink got it) to the frame painted (the page's
  requestAnimationFrame after drawing), loopback: p50, p95 over every painted frame.
  Also the process's CPU ms per analysed frame (user + system, from wait4): on this shared machine
  other programs' load moves frames/s by ±30 % from run to run; CPU per frame is what the view adds.
Memory: peak RSS (VmHWM) of 4 --realtime inputs with 0 and with 16 reading viewers.

    python3 benchmarks/live_view.py [--rounds 3] [--seconds 12] [--binary .build/debug/fer-stream]
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "CLITests", "live"))
import live_view_client as client  # noqa: E402

PORTRAIT = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"


def make_clip(path, seconds, w=640, h=480):
    if os.path.exists(path):
        return path
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", PORTRAIT, "-vf",
                    f"zoompan=z='1+0.002*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s={w}x{h}:fps=25,format=yuv420p",
                    "-frames:v", str(seconds * 25), "-c:v", "libx264", "-preset", "veryfast", path], check=True)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_healthz(port, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("live view did not start: " + (proc.stderr.read() if proc.poll() is not None else ""))


class Readers:
    """K WebSocket viewers that read every message (like pages that keep up)."""
    def __init__(self, port, k):
        websocket = client.need_websocket()
        self.socks = [websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=5, suppress_origin=True) for _ in range(k)]
        self.stop = False
        self.frames = [0] * k
        self.threads = []
        for i, ws in enumerate(self.socks):
            ws.send(json.dumps({"watch": "all"}))
            t = threading.Thread(target=self.read, args=(i, ws), daemon=True)
            t.start()
            self.threads.append(t)

    def read(self, i, ws):
        while not self.stop:
            try:
                op, data = ws.recv_data()
            except Exception:
                return
            if op == 2:
                self.frames[i] += 1

    def close(self):
        self.stop = True
        for ws in self.socks:
            try:
                ws.sock.close()
            except Exception:
                pass


class Stalled:
    def __init__(self, port, k=1):
        websocket = client.need_websocket()
        self.socks = []
        for _ in range(k):
            ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=5, suppress_origin=True,
                                             sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
            ws.send(json.dumps({"watch": "all"}))
            self.socks.append(ws)

    def close(self):
        for ws in self.socks:
            ws.sock.close()


def throughput(binary, clip, mode):
    port = free_port()
    args = [binary, "--no-progress", "--stats", "-o", "/dev/null"]
    if mode != "none":
        args += ["--serve", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(args + ["-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False)
    viewers = None
    if mode != "none":
        wait_healthz(port, proc)
        viewers = Readers(port, 4) if mode == "serve-4" else Stalled(port) if mode == "stalled" else None
        time.sleep(0.3)
    with open(clip, "rb") as f:
        proc.stdin.write(f.read())
    proc.stdin.close()
    err = proc.stderr.read().decode()
    # The process's own CPU seconds (user + system): what the view costs, apart from the other
    # programs on this shared machine (and from the viewers' clients, which are separate processes).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    received = sum(viewers.frames) if isinstance(viewers, Readers) else None
    if viewers:
        viewers.close()
    stats = [json.loads(l) for l in err.splitlines() if l.startswith("{") and "frames_analysed" in l][-1]
    return {"fps": stats["frames_analysed"] / stats["wall_s"], "analysed": stats["frames_analysed"], "wall_s": stats["wall_s"],
            "cpu_ms_per_frame": (usage.ru_utime + usage.ru_stime) * 1000 / stats["frames_analysed"],
            "dropped": stats.get("dropped"), "frames_to_viewers": received}


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def live_run(binary, clips, viewers, seconds, browser=False):
    port = free_port()
    proc = subprocess.Popen([binary, "--no-progress", "--realtime", "--files-at-once", str(len(clips)), "--serve", f"127.0.0.1:{port}",
                             "--serve-viewers", "32", "-o", "/dev/null"] + clips, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_healthz(port, proc)
    readers = Readers(port, viewers) if viewers else None
    result = {}
    if browser:
        chrome = client.Chromium()
        try:
            chrome.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            time.sleep(seconds)
            lat = sorted(chrome.eval("ferLive.latencies"))
            painted = chrome.eval("ferLive.painted")
        finally:
            chrome.close()
        lat = lat[len(lat) // 10:]  # the first second's (page and decoder warming up) left out
        result = {"painted": painted, "n": len(lat), "p50_ms": client.pct(lat, 50), "p95_ms": client.pct(lat, 95), "max_ms": lat[-1] if lat else None}
    else:
        time.sleep(seconds)
    result["peak_rss_mib"] = peak_rss(proc.pid)
    if readers:
        result["frames_to_viewers"] = sum(readers.frames)
        readers.close()
    proc.terminate()
    proc.wait()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "fer-stream"))
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out: throughput,latency,memory")
    args = ap.parse_args()
    skip = set(args.skip.split(",")) if args.skip else set()
    work = tempfile.mkdtemp(prefix="fer-live-bench-")
    clip = make_clip(os.path.join(work, "face.mkv"), args.seconds)
    report = {"machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start", "seconds": args.seconds}
    if "throughput" not in skip:
        modes = ["none", "serve-0", "serve-4", "stalled"]
        runs = {m: [] for m in modes}
        for r in range(args.rounds):
            order = modes[r % len(modes):] + modes[:r % len(modes)]
            for m in order:
                runs[m].append(throughput(args.binary, clip, m))
                print(f"round {r + 1} {m}: {runs[m][-1]}", file=sys.stderr)
        med = {m: statistics.median(x["fps"] for x in runs[m]) for m in modes}
        ratios = {m: statistics.median(runs[m][i]["fps"] / runs["serve-0"][i]["fps"] for i in range(args.rounds)) for m in modes}
        cpu = {m: statistics.median(x["cpu_ms_per_frame"] for x in runs[m]) for m in modes}
        cpu_ratios = {m: statistics.median(runs[m][i]["cpu_ms_per_frame"] / runs["serve-0"][i]["cpu_ms_per_frame"] for i in range(args.rounds))
                      for m in modes}
        spread = {m: [round(min(x["fps"] for x in runs[m]), 1), round(max(x["fps"] for x in runs[m]), 1)] for m in modes}
        report["throughput"] = {"frames_analysed_per_s_median": med, "frames_analysed_per_s_min_max": spread,
                                "ratio_to_serve_0_median_of_paired": ratios,
                                "cpu_ms_per_frame_median": cpu, "cpu_ratio_to_serve_0_median_of_paired": cpu_ratios, "runs": runs}
    if "latency" not in skip:
        clips = [make_clip(os.path.join(work, f"live-{i}.mp4"), 30) for i in range(1)]
        clips = [clips[0]] + [os.path.join(work, f"live-{i}.mp4") for i in range(1, 4)]
        for c in clips[1:]:
            if not os.path.exists(c):
                os.link(clips[0], c)
        report["page_latency_4_inputs"] = live_run(args.binary, clips, 0, min(20, 25), browser=True)
    if "memory" not in skip:
        clips = [os.path.join(work, f"live-{i}.mp4") for i in range(4)]
        if not os.path.exists(clips[0]):
            make_clip(clips[0], 30)
            for c in clips[1:]:
                os.link(clips[0], c)
        report["memory_4_inputs_0_viewers"] = live_run(args.binary, clips, 0, 15)
        report["memory_4_inputs_16_viewers"] = live_run(args.binary, clips, 16, 15)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
