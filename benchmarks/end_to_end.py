#!/usr/bin/env python3
"""End-to-end speed: fer-stream against the Python baseline (OpenCV + PyTorch bf16) on the same
generated clips, in the same run, with 10-crop test-time augmentation.

For each clip it reports frames/s, the real-time factor (seconds of video per second of work;
≥ 1 keeps up with the source), peak RSS, fer-stream's busy seconds per stage, and the ratio of
fer-stream's frames/s to the baseline's.

    benchmarks/make-clips.sh 10 && python3 benchmarks/end_to_end.py [--seconds 10] [--no-baseline]

With --versus ARGS it instead compares fer-stream's defaults against fer-stream with ARGS (e.g.
--versus "--detector haar") on the one-face clips, the two interleaved over --rounds runs, and
prints the median frames/s of each and their ratio. With --against BINARY it compares --binary
against another build (e.g. the previous commit's) at the same settings on every clip, the same way.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_rss(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.strip()}")
    return err, wall, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="clip length (made by make-clips.sh)")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--args", default="", help="extra fer-stream arguments, e.g. '--precision bf16'")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--versus", help="compare the defaults against fer-stream with these arguments instead")
    ap.add_argument("--against", help="compare --binary against this other build instead, at the same settings")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.versus or a.against:
        return versus(a)
    subprocess.run([os.path.join(ROOT, "benchmarks/make-clips.sh"), str(a.seconds)], check=True, stdout=subprocess.DEVNULL)
    clips = sorted(glob.glob(os.path.join(ROOT, f"benchmarks/clips/*-{a.seconds}s.mp4")))
    rows = []
    for clip in clips:
        err, wall, rss = run_rss([a.binary, "--stats", "--output", "/dev/null", *a.args.split(), clip])
        stats = json.loads(err.strip().splitlines()[-1])
        fps = stats["frames_decoded"] / wall
        row = {"clip": os.path.basename(clip), "frames": stats["frames_decoded"], "faces": stats["faces"],
               "fps": fps, "rtf": fps / 30, "rss_mb": rss, "busy": stats["busy_s"]}
        if not a.no_baseline:
            berr, bwall, brss = run_rss([sys.executable, os.path.join(ROOT, "benchmarks/baseline_pipeline.py"), clip])
            row.update(base_fps=stats["frames_decoded"] / bwall, base_rss_mb=brss)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    print("| clip | frames | faces found | fer-stream frames/s | real-time factor | peak RSS MB | busy s: decode / detect / recognise / write |"
          + (" baseline frames/s | baseline RSS MB | speed-up |" if not a.no_baseline else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|---|" if not a.no_baseline else ""))
    for r in rows:
        b = r["busy"]
        line = (f"| {r['clip']} | {r['frames']} | {r['faces']} | {r['fps']:.1f} | {r['rtf']:.2f}× | {r['rss_mb']:.0f} | "
                f"{b['decode']:.1f} / {b['detect']:.1f} / {b['recognise']:.1f} / {b['write']:.1f} |")
        if "base_fps" in r:
            line += f" {r['base_fps']:.1f} | {r['base_rss_mb']:.0f} | ×{r['fps'] / r['base_fps']:.2f} |"
        print(line)


def versus(a):
    subprocess.run([os.path.join(ROOT, "benchmarks/make-clips.sh"), str(a.seconds)], check=True, stdout=subprocess.DEVNULL)
    pattern = f"*-{a.seconds}s.mp4" if a.against else f"*-1face-{a.seconds}s.mp4"
    clips = sorted(glob.glob(os.path.join(ROOT, "benchmarks/clips", pattern)))
    other = a.against or a.versus
    print(f"| clip | {a.binary if a.against else 'defaults'}{' ' + a.args if a.args else ''}: frames/s, faces, detect busy s "
          f"| {other}: frames/s, faces, detect busy s | ratio |")
    print("|---|---|---|---|")
    for clip in clips:
        runs = {"new": [], "old": []}
        for _ in range(a.rounds):
            for key, binary, extra in (("new", a.binary, []), ("old", a.against or a.binary, [] if a.against else a.versus.split())):
                err, wall, _ = run_rss([binary, "--stats", "--no-progress", "--output", "/dev/null", *a.args.split(), *extra, clip])
                stats = json.loads(err.strip().splitlines()[-1])
                runs[key].append((stats["frames_decoded"] / wall, stats["faces"], stats["busy_s"]["detect"]))
        med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
        print(f"| {os.path.basename(clip)} | {med['new'][0]:.1f}, {med['new'][1]}, {med['new'][2]:.2f} | "
              f"{med['old'][0]:.1f}, {med['old'][1]}, {med['old'][2]:.2f} | ×{med['new'][0] / med['old'][0]:.2f} |")


if __name__ == "__main__":
    main()
