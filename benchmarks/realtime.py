#!/usr/bin/env python3
"""Real time on this machine: fer-stream's default against the previous default, interleaved.

Each clip is read with `--realtime` (at its own frame rate, as if live) and `--stats`; per clip
and contender it prints the share of frames analysed, latency p50/p95 (reading a frame to writing
its line) and test-time crops per face-frame, the median over --rounds runs, the contenders
interleaved within each round so that both see the same machine.

Clips (made under benchmarks/clips/ on first use):
  1face-480p     ../shared/devset/liveportrait_d19.mp4 as it is (480×480, 30 fps, one face)
  3faces-640x480 three dev-set clips side by side on a 640×480 canvas, 30 fps
  6faces-1080p   six dev-set clips in a 3×2 grid, 1920×1080, 25 fps
  gen-1080p-3    benchmarks/make-clips.sh's generated 1080p clip with three faces (30 fps)
The dev-set ones are skipped, with a message, where ../shared/devset is absent.

    python3 benchmarks/realtime.py [--rounds 3] [--baseline BINARY | --baseline-rev 88afcd1]
                                   [--args "--crops-per-face 10"] [--clips 1face-480p ...]

The baseline binary is built from --baseline-rev in .build-baseline/ (a git worktree) unless
--baseline names one; the contender is .build/release/fer-stream with --args.

    python3 benchmarks/realtime.py --ladder [--rounds 3] [--busy] [--isa AVX2] [--clips 6faces-1080p 3faces-640x480]

--ladder compares the VGG19 alone (`--fast-model none`) with the ladder of two networks (the
default: the student takes over when one VGG19 crop per face does not fit), one binary, under
ONEDNN_MAX_CPU_ISA=--isa, idle or (--busy) beside a one-core busy loop. Besides frames analysed
and p95 latency it prints each network's crops and how often a real-time line's labels agree with
10-crop VGG19 on every frame of the same clip read as a file (`--crops-per-face 10 --fast-model
none`, no --realtime): per face of an analysed frame, matched to the file run's face of that frame
with the most overlap (IoU ≥ 0.5).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVSET = os.path.join(ROOT, "..", "shared", "devset")
CLIPS = os.path.join(ROOT, "benchmarks", "clips")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_clips(names):
    os.makedirs(CLIPS, exist_ok=True)
    d = lambda n: os.path.join(DEVSET, n)  # noqa: E731
    made = {}
    for name in names:
        path = os.path.join(CLIPS, f"rt-{name}.mp4")
        if name == "gen-1080p-3":
            subprocess.run([os.path.join(ROOT, "benchmarks/make-clips.sh"), "10", "1080p-3face"], check=True,
                           stdout=subprocess.DEVNULL)
            made[name] = os.path.join(CLIPS, "1080p-3face-10s.mp4")
            continue
        if not os.path.isdir(DEVSET):
            print(f"realtime: {name} skipped: {DEVSET} is absent", file=sys.stderr)
            continue
        if name == "1face-480p":
            made[name] = d("liveportrait_d19.mp4")
            continue
        if not os.path.exists(path):
            if name == "3faces-640x480":
                srcs = ["liveportrait_d19.mp4", "liveportrait_d14.mp4", "liveportrait_d9.mp4"]
                inputs = sum((["-stream_loop", "-1", "-i", d(s)] for s in srcs), [])
                graph = ";".join(f"[{i}:v]fps=30,scale=213:213,setsar=1[v{i}]" for i in range(3))
                graph += ";[v0][v1][v2]hstack=3,pad=640:480:0:133:color=0x606060[v]"
                ffmpeg(*inputs, "-filter_complex", graph, "-map", "[v]", "-t", "8", "-r", "30",
                       "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", path)
            elif name == "6faces-1080p":
                srcs = ["liveportrait_d11.mp4", "liveportrait_d12.mp4", "sadtalker_WDA_KatieHill_000.mp4",
                        "liveportrait_d20.mp4", "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "liveportrait_d14.mp4"]
                inputs = sum((["-stream_loop", "-1", "-i", d(s)] for s in srcs), [])
                graph = ";".join(f"[{i}:v]fps=25,scale=540:540,pad=640:540:50:0:color=0x606060,setsar=1[v{i}]"
                                 for i in range(6))
                graph += ";[v0][v1][v2]hstack=3[top];[v3][v4][v5]hstack=3[bottom];[top][bottom]vstack[v]"
                ffmpeg(*inputs, "-filter_complex", graph, "-map", "[v]", "-t", "7", "-r", "25",
                       "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", path)
        made[name] = path
    return made


def build_baseline(rev):
    tree = os.path.join(ROOT, ".build-baseline")
    binary = os.path.join(tree, ".build/release/fer-stream")
    if not os.path.exists(binary):
        if not os.path.isdir(tree):
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, rev], check=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "fer-stream"], cwd=tree, check=True)
    return binary


def run(binary, args, clip, env=None, lines=None):
    p = subprocess.run([binary, "--realtime", "--stats", "--no-progress", *args, clip],
                       stdout=subprocess.PIPE if lines is not None else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} {clip}: exit {p.returncode}: {p.stderr.strip()}")
    s = json.loads(p.stderr.strip().splitlines()[-1])
    if lines is not None:
        lines += [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    analysed = s["frames_analysed"] / max(1, s["frames_decoded"])
    cpf = s.get("crops_per_face", s["crops"] / s["faces"] if s["faces"] else 0)
    return {"analysed": analysed, "p50": s["latency_ms"]["p50"], "p95": s["latency_ms"]["p95"],
            "faces": s["faces"] / max(1, s["frames_analysed"]), "cpf": cpf, "by": s.get("crops_by_network", {})}


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h) if w * h else 0.0


def agreement(lines, reference):
    """Share of the real-time run's face-frames whose label is 10-crop VGG19's on that frame."""
    frames = {r["frame"]: r["faces"] for r in reference}
    n = agree = 0
    for r in lines:
        for f in r["faces"]:
            best = max(frames.get(r["frame"], []), key=lambda g: iou(f["box"], g["box"]), default=None)
            if best is None or iou(f["box"], best["box"]) < 0.5:
                continue
            n += 1
            agree += f["label"] == best["label"]
    return agree / n if n else float("nan")


def ladder(a, clips):
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=a.isa)
    contenders = [("VGG19 alone", ["--fast-model", "none"]), ("ladder", [])]
    references = {}
    for clip, path in clips.items():
        p = subprocess.run([a.binary, "--no-progress", "--crops-per-face", "10", "--fast-model", "none", path],
                           capture_output=True, text=True, env=env, check=True)
        references[clip] = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.busy else None
    try:
        results = {(c, n): [] for c in clips for n, _ in contenders}
        for _ in range(a.rounds):
            for clip, path in clips.items():
                for name, args in contenders:
                    lines = []
                    r = run(a.binary, args + a.args.split(), path, env=env, lines=lines)
                    r["agree"] = agreement(lines, references[clip])
                    results[(clip, name)].append(r)
    finally:
        if busy:
            busy.kill()
    print(f"{'clip':16} {'contender':12} {'analysed':>9} {'p95 ms':>8} {'label = 10-crop VGG19':>22}  crops by network")
    for clip in clips:
        for name, _ in contenders:
            rs = results[(clip, name)]
            m = {k: statistics.median(x[k] for x in rs) for k in ("analysed", "p95", "agree")}
            by = {k: sum(x["by"].get(k, 0) for x in rs) // len(rs) for x in rs for k in x["by"]}
            print(f"{clip:16} {name:12} {m['analysed'] * 100:8.1f}% {m['p95']:8.1f} {m['agree'] * 100:21.1f}%  {by}")
    print(f"rounds: {a.rounds}; ONEDNN_MAX_CPU_ISA={a.isa}; {'beside a one-core busy loop' if a.busy else 'idle'}; {a.binary} {a.args}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--args", default="", help="the contender's extra arguments")
    ap.add_argument("--baseline", help="the previous default's binary (else built from --baseline-rev)")
    ap.add_argument("--baseline-rev", default="88afcd1")
    ap.add_argument("--baseline-args", default="")
    ap.add_argument("--clips", nargs="*")
    ap.add_argument("--ladder", action="store_true", help="the VGG19 alone against the ladder of two networks")
    ap.add_argument("--busy", action="store_true", help="--ladder: beside a one-core busy loop")
    ap.add_argument("--isa", default="AVX2", help="--ladder: ONEDNN_MAX_CPU_ISA")
    a = ap.parse_args()
    if a.ladder:
        return ladder(a, make_clips(a.clips or ["6faces-1080p", "3faces-640x480"]))
    clips = make_clips(a.clips or ["1face-480p", "3faces-640x480", "6faces-1080p", "gen-1080p-3"])
    base = a.baseline or build_baseline(a.baseline_rev)
    contenders = [("previous default", base, a.baseline_args.split()), ("default", a.binary, a.args.split())]
    results = {(c, n): [] for c in clips for n, _, _ in contenders}
    for r in range(a.rounds):
        for clip, path in clips.items():
            for name, binary, args in contenders:
                results[(clip, name)].append(run(binary, args, path))
    print(f"{'clip':16} {'contender':17} {'analysed':>9} {'p50 ms':>8} {'p95 ms':>8} {'faces':>6} {'crops/face':>10}")
    for clip in clips:
        for name, _, _ in contenders:
            rs = results[(clip, name)]
            m = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
            print(f"{clip:16} {name:17} {m['analysed'] * 100:8.1f}% {m['p50']:8.1f} {m['p95']:8.1f} {m['faces']:6.2f} {m['cpf']:10.2f}")
        old = statistics.median(x["analysed"] for x in results[(clip, contenders[0][0])])
        new = statistics.median(x["analysed"] for x in results[(clip, contenders[1][0])])
        print(f"{clip:16} {'ratio':17} {new / old if old else float('inf'):8.2f}× frames analysed")
    print(f"rounds: {a.rounds}; contender: {a.binary} {a.args}; baseline: {base} {a.baseline_args}")


if __name__ == "__main__":
    main()
