#!/usr/bin/env python3
"""Many inputs in one process against one process per input, interleaved, on this machine.

Live: four one-face 640×480 30 fps clips read with `--realtime` (at their own pace, as if live)
  A  one process:    fer-stream --realtime --stats -o /dev/null c1 c2 c3 c4
  B  four processes: fer-stream --realtime --stats -o /dev/null cN, all at once
  Per stream: frames analysed / decoded, latency p95 (from each stream's --stats line); peak
  RSS: the process's (A) against the sum of the four (B), from wait4's ru_maxrss.
Files: eight clips analysed as fast as possible
  C  one process:       fer-stream --output-dir D c1 … c8
  D  one after another: fer-stream -o D/cN.ndjson cN, eight times
  Wall seconds each.
Rounds alternate A, B (and C, D), so that both see the same machine; medians are printed.
Clips are made under benchmarks/clips/ from ../shared/devset (skipped, with a message, if absent).

    python3 benchmarks/many_streams.py [--rounds 3] [--seconds 20] [--binary .build/release/fer-stream]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVSET = os.path.join(ROOT, "..", "shared", "devset")
CLIPS = os.path.join(ROOT, "benchmarks", "clips")
SOURCES = ["liveportrait_d19", "liveportrait_d14", "liveportrait_d9", "liveportrait_d20",
           "liveportrait_d11", "liveportrait_d12", "liveportrait_s20", "liveportrait_s29"]


def make_clip(name, seconds):
    """One face, padded to 640×480, 30 fps, looped to `seconds`."""
    path = os.path.join(CLIPS, f"mc-{name}-{seconds}s.mp4")
    if not os.path.exists(path):
        os.makedirs(CLIPS, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", os.path.join(DEVSET, name + ".mp4"),
                        "-t", str(seconds), "-vf", "fps=30,scale=-2:480,pad=640:480:(ow-iw)/2:0:color=0x606060,setsar=1",
                        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", path], check=True)
    return path


def spawn(cmd):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def reap(proc):
    """(stderr text, peak RSS in MB) of a finished child."""
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"many_streams: {' '.join(proc.args)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return err, usage.ru_maxrss / 1024


def stats_lines(err):
    out = []
    for line in err.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return [s for s in out if "frames_analysed" in s]


def per_stream(records):
    return [(s["frames_analysed"] / max(1, s["frames_decoded"]) * 100, s["latency_ms"]["p95"]) for s in records]


def live_one_process(binary, clips):
    proc = spawn([binary, "--realtime", "--stats", "--no-progress", "-o", "/dev/null", *clips])
    err, rss = reap(proc)
    records = [s for s in stats_lines(err) if s.get("source")]
    return per_stream(records), rss


def live_four_processes(binary, clips):
    procs = [spawn([binary, "--realtime", "--stats", "--no-progress", "-o", "/dev/null", c]) for c in clips]
    results = [reap(p) for p in procs]
    records = [stats_lines(err)[-1] for err, _ in results]
    return per_stream(records), sum(rss for _, rss in results)


def files_one_process(binary, clips, scratch):
    out = tempfile.mkdtemp(dir=scratch)
    t0 = time.monotonic()
    reap(spawn([binary, "--no-progress", "--output-dir", out, *clips]))
    return time.monotonic() - t0


def files_one_after_another(binary, clips, scratch):
    out = tempfile.mkdtemp(dir=scratch)
    t0 = time.monotonic()
    for c in clips:
        reap(spawn([binary, "--no-progress", "-o", os.path.join(out, os.path.basename(c) + ".ndjson"), c]))
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20, help="length of each live clip")
    ap.add_argument("--file-seconds", type=int, default=8, help="length of each file clip")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--skip-files", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(DEVSET):
        print(f"many_streams: skipped: {DEVSET} is absent", file=sys.stderr)
        return
    live = [make_clip(n, args.seconds) for n in SOURCES[:4]]
    files = [make_clip(n, args.file_seconds) for n in SOURCES]
    scratch = tempfile.mkdtemp(prefix="many-streams-")
    a, b, c, d = [], [], [], []
    try:
        for r in range(args.rounds):
            a.append(live_one_process(args.binary, live))
            b.append(live_four_processes(args.binary, live))
            if not args.skip_files:
                c.append(files_one_process(args.binary, files, scratch))
                d.append(files_one_after_another(args.binary, files, scratch))
            print(f"round {r + 1}: one process {[f'{x:.1f}%/{y:.0f}ms' for x, y in a[-1][0]]} {a[-1][1]:.0f} MB; "
                  f"four processes {[f'{x:.1f}%/{y:.0f}ms' for x, y in b[-1][0]]} {b[-1][1]:.0f} MB"
                  + (f"; files {c[-1]:.1f} s vs {d[-1]:.1f} s" if c else ""), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def med(runs, k):  # median per stream over rounds
        return [statistics.median(run[0][i][k] for run in runs) for i in range(len(runs[0][0]))]

    print("\n4 live 640×480 30 fps one-face inputs (--realtime), medians of", args.rounds, "rounds, interleaved")
    print("| | analysed per stream | p95 latency per stream (ms) | peak RSS (MB) |")
    print("|---|---|---|---|")
    for name, runs in (("one process", a), ("four processes", b)):
        print(f"| {name} | {', '.join(f'{x:.1f}%' for x in med(runs, 0))} | {', '.join(f'{x:.0f}' for x in med(runs, 1))} "
              f"| {statistics.median(r[1] for r in runs):.0f} |")
    ratio = statistics.median(r[1] for r in a) / statistics.median(r[1] for r in b)
    print(f"RSS one process / four processes: {ratio:.2f}")
    if c:
        print(f"\n8 files of {args.file_seconds} s, one face, 640×480 30 fps: wall seconds, medians")
        print("| one process (--output-dir) | one after another | ratio |")
        print("|---|---|---|")
        print(f"| {statistics.median(c):.1f} | {statistics.median(d):.1f} | {statistics.median(d) / statistics.median(c):.2f}× |")


if __name__ == "__main__":
    main()
