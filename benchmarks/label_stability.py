#!/usr/bin/env python3
"""Label changes per minute and lag after a real change, for smoothing and label-rule candidates.

The network runs once per clip (`fer-stream --smooth none --hold 0 --margin 0`, which keeps every
frame's own probabilities as `raw`); each candidate then re-labels those lines with
`fer-stream resmooth` (the same code the stream runs), so all candidates see the same faces.

- switches/min: changes of a track's reported label per minute of video (as
  ../shared/tools/clip-report.py counts them), on the clips of one held expression and on all.
- lag: step clips made from two held-expression clips whose labels differ (the last 3 s of one
  face's raw probabilities, then the first 4 s of the other's, as one track at the first clip's
  frame spacing); the lag is the time from the step to the first frame showing the second clip's
  label (its most common raw argmax), "never" if it does not within 4 s.

usage: benchmarks/label_stability.py RAW_DIR [--binary B] [--held s18,s20,s29,s32]
       where RAW_DIR holds NAME.ndjson files, e.g. made by
       for c in ../shared/devset/*.*; do fer-stream --tta center --smooth none --hold 0 --margin 0 \\
           -o RAW_DIR/$(basename $c).ndjson $c; done
"""
import argparse, collections, glob, json, os, statistics, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CANDIDATES = [  # (name, resmooth args)
    ("ema:0.3 (before)", ["--smooth", "ema:0.3", "--hold", "0", "--margin", "0"]),
    ("tau:0.25", ["--smooth", "tau:0.25", "--hold", "0", "--margin", "0"]),
    ("tau:0.5", ["--smooth", "tau:0.5", "--hold", "0", "--margin", "0"]),
    ("tau:1", ["--smooth", "tau:1", "--hold", "0", "--margin", "0"]),
    ("tau:0.25 hold 0.3 margin 0.1", ["--smooth", "tau:0.25", "--hold", "0.3", "--margin", "0.1"]),
    ("tau:0.5 hold 0.3 margin 0.1", ["--smooth", "tau:0.5", "--hold", "0.3", "--margin", "0.1"]),
    ("tau:0.5 hold 0.5 margin 0.1", ["--smooth", "tau:0.5", "--hold", "0.5", "--margin", "0.1"]),
    ("tau:0.5 hold 0.3 margin 0.2", ["--smooth", "tau:0.5", "--hold", "0.3", "--margin", "0.2"]),
    ("tau:1 hold 0.3 margin 0.1", ["--smooth", "tau:1", "--hold", "0.3", "--margin", "0.1"]),
]
NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def resmooth(binary, lines, args):
    p = subprocess.run([binary, "resmooth", *args, "-"], input="\n".join(json.dumps(l) for l in lines) + "\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"label_stability: resmooth failed: {p.stderr.strip()}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def switches_per_minute(rows):
    last, n = {}, 0
    for r in rows:
        for f in r["faces"]:
            if f["track"] in last and last[f["track"]] != f["label"]:
                n += 1
            last[f["track"]] = f["label"]
    minutes = (rows[-1]["t"] - rows[0]["t"]) / 60 if len(rows) > 1 else 0
    return n / minutes if minutes else 0.0


def main_track(rows):
    counts = collections.Counter(f["track"] for r in rows for f in r["faces"])
    track = counts.most_common(1)[0][0]
    return [(r["t"], f["raw"]) for r in rows for f in r["faces"] if f["track"] == track]


def dominant(samples):
    return collections.Counter(max(raw, key=raw.get) for _, raw in samples).most_common(1)[0][0]


def step_clip(a, b):
    """The last 3 s of `a` then the first 4 s of `b`, as one track; returns lines and the step time."""
    a = [s for s in a if s[0] >= a[-1][0] - 3]
    b = [s for s in b if s[0] <= b[0][0] + 4]
    dt = (a[-1][0] - a[0][0]) / max(1, len(a) - 1)
    samples = [raw for _, raw in a] + [raw for _, raw in b]
    lines = [{"frame": i, "t": round(i * dt, 6), "faces": [{"track": 1, "box": [0, 0, 10, 10], "raw": raw}]}
             for i, raw in enumerate(samples)]
    return lines, len(a) * dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw_dir")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "fer-stream"))
    ap.add_argument("--held", default="s18,s20,s29,s32")
    a = ap.parse_args()
    clips = {os.path.basename(p)[:-len(".ndjson")]: [json.loads(l) for l in open(p) if l.strip()]
             for p in sorted(glob.glob(os.path.join(a.raw_dir, "*.ndjson")))}
    clips = {k: v for k, v in clips.items() if v}
    held = [k for k in clips if any(f"_{h}." in k for h in a.held.split(","))]
    tracks = {k: main_track(clips[k]) for k in held}
    steps = [(x, y) for x in held for y in held if dominant(tracks[x]) != dominant(tracks[y])]
    print(f"{len(clips)} clips; held expression: {', '.join(held)}; {len(steps)} step clips\n")
    print("| smoothing and label rule | switches/min, held clips (each) | switches/min, all clips: median / mean | lag after a step: median [max] |")
    print("|---|---|---|---|")
    for name, args in CANDIDATES:
        per = {k: switches_per_minute(resmooth(a.binary, rows, args)) for k, rows in clips.items()}
        lags = []
        for x, y in steps:
            lines, at = step_clip(tracks[x], tracks[y])
            out = resmooth(a.binary, lines, args)
            want = dominant(tracks[y])
            hit = next((r["t"] for r in out if r["t"] >= at - 1e-9 and r["faces"][0]["label"] == want), None)
            lags.append(hit - at if hit is not None else float("inf"))
        lag = statistics.median(lags)
        fmt = lambda v: "never" if v == float("inf") else f"{v:.2f} s"
        print(f"| {name} | {' / '.join(f'{per[k]:.0f}' for k in held)} | {statistics.median(per.values()):.1f} / "
              f"{statistics.mean(per.values()):.1f} | {fmt(lag)} [{fmt(max(lags))}] |")


if __name__ == "__main__":
    main()
