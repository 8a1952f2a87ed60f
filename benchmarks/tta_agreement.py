#!/usr/bin/env python3
"""How far the default (test-time crops spread over frames) strays from 10-crop on every frame.

Runs fer-stream twice on each clip, from the file (not real time), with the same smoothing and
label rule: the default (`--crops-per-face auto`: 2 crops a face-frame, a new face its whole set)
and `--crops-per-face 10` (the whole set on every frame, the default before). Face-frames are
matched by frame index and box (detection and tracking do not depend on the crops, so the boxes
are the same); per clip it prints the share of matched face-frames whose reported label agrees,
the share whose raw argmax agrees, label switches per minute of each, and the crops each run
scored; then the totals.

    python3 benchmarks/tta_agreement.py [CLIP ...]   (default: ../shared/devset/*, all 20 clips)
            [--binary .build/release/fer-stream] [--args "--precision f32"] [--other "--crops-per-face 4"]
            [--cache DIR]   (keep each clip's 10-crop run there and reuse it: it does not change
                             with the contender, so comparing several contenders runs it once)
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(binary, args, clip, cache=None):
    stored = cache and os.path.join(cache, os.path.basename(clip) + "." + "_".join(args).replace("/", "_") + ".json")
    if stored and os.path.exists(stored):
        with open(stored) as f:
            return tuple(json.load(f))
    p = subprocess.run([binary, "--stats", "--no-progress", *args, clip], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{clip}: exit {p.returncode}: {p.stderr.strip()}")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    result = lines, json.loads(p.stderr.strip().splitlines()[-1])
    if stored:
        os.makedirs(cache, exist_ok=True)
        with open(stored, "w") as f:
            json.dump(result, f)
    return result


def argmax(d):
    return max(d, key=d.get)


def switches_per_min(lines):
    last, n = {}, 0
    for r in lines:
        for f in r["faces"]:
            if f["track"] in last and last[f["track"]] != f["label"]:
                n += 1
            last[f["track"]] = f["label"]
    minutes = (lines[-1]["t"] - lines[0]["t"]) / 60 if len(lines) > 1 else 0
    return n / minutes if minutes > 0 else 0, n, minutes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--args", default="", help="arguments for both runs")
    ap.add_argument("--other", default="--crops-per-face auto", help="the contender's arguments (default: the default)")
    ap.add_argument("--cache", help="a folder to keep (and reuse) the 10-crop runs in")
    ap.add_argument("--reference-binary", help="the binary of the 10-crop runs (default: --binary)")
    a = ap.parse_args()
    clips = a.clips or sorted(p for p in glob.glob(os.path.join(ROOT, "..", "shared", "devset", "*")) if not p.endswith(".md"))
    if not clips:
        sys.exit("tta_agreement: no clips (../shared/devset is absent; name clips on the command line)")
    total = {"n": 0, "label": 0, "raw": 0, "sw_new": 0, "sw_ref": 0, "min": 0.0, "crops_new": 0, "crops_ref": 0}
    print(f"{'clip':46} {'face-frames':>11} {'label agree':>11} {'raw agree':>9} {'sw/min new':>10} {'sw/min 10crop':>13} {'crops new/10crop':>16}")
    for clip in clips:
        new, sn = run(a.binary, a.args.split() + a.other.split(), clip)
        ref, sr = run(a.reference_binary or a.binary, a.args.split() + ["--crops-per-face", "10"], clip, a.cache)
        n = lab = raw = 0
        for x, y in zip(new, ref):
            assert x["frame"] == y["frame"], clip
            boxes = {tuple(f["box"]): f for f in y["faces"]}
            for f in x["faces"]:
                g = boxes.get(tuple(f["box"]))
                if g is None:
                    continue
                n += 1
                lab += f["label"] == g["label"]
                raw += argmax(f["raw"]) == argmax(g["raw"])
        swn, kn, minutes = switches_per_min(new)
        swr, kr, _ = switches_per_min(ref)
        total["n"] += n; total["label"] += lab; total["raw"] += raw
        total["sw_new"] += kn; total["sw_ref"] += kr; total["min"] += minutes
        total["crops_new"] += sn["crops"]; total["crops_ref"] += sr["crops"]
        pct = lambda k: 100 * k / n if n else float("nan")  # noqa: E731
        print(f"{os.path.basename(clip):46} {n:11d} {pct(lab):10.1f}% {pct(raw):8.1f}% {swn:10.1f} {swr:13.1f} "
              f"{sn['crops']:>7}/{sr['crops']:<8}")
    n = total["n"]
    print(f"{'all':46} {n:11d} {100 * total['label'] / n:10.2f}% {100 * total['raw'] / n:8.2f}% "
          f"{total['sw_new'] / total['min']:10.1f} {total['sw_ref'] / total['min']:13.1f} "
          f"{total['crops_new']:>7}/{total['crops_ref']:<8} ({total['crops_ref'] / max(1, total['crops_new']):.1f}× fewer)")
    print(f"contender: {a.other} {a.args}; reference: --crops-per-face 10 {a.args}; binary {a.binary}")


if __name__ == "__main__":
    main()
