#!/usr/bin/env python3
"""What changes for a user when the default network changes: two models on the same clips.

Runs `fer-stream` (default options, files) once per clip and model, or reads NDJSON already made,
and joins the two runs' faces by (frame, track) — detection and tracking do not depend on the
network, so both runs see the same faces. Prints per clip and overall:
- the share of face-frames whose reported label differs,
- label switches per minute of video (changes of a track's label, as ../shared/tools/clip-report.py
  counts them) for each model, on the clips of one held expression and on all,
- a confusion table of old (rows) vs new (columns) labels over all face-frames.

usage: benchmarks/model_change.py --old Models/vgg19-fer2013.safetensors --new Models/vgg19-ferplus.safetensors \\
           [--binary .build/release/fer-stream] [--held s18,s20,s29,s32] [--out DIR] CLIPS...
"""
import argparse, collections, json, os, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def run(binary, model, clip, out):
    if not os.path.exists(out):
        subprocess.run([binary, "--model", model, "--no-progress", "-o", out + ".tmp", clip], check=True,
                       stderr=subprocess.DEVNULL)
        os.replace(out + ".tmp", out)
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def labels(lines):
    """{(frame, track): label} and the clip's length in seconds."""
    out, t = {}, 0.0
    for line in lines:
        t = max(t, line.get("t", 0.0))
        for face in line.get("faces", []):
            out[(line["frame"], face["track"])] = face["label"]
    return out, t


def switches(lab):
    by_track = collections.defaultdict(list)
    for (frame, track), label in sorted(lab.items()):
        by_track[track].append(label)
    return sum(sum(1 for a, b in zip(seq, seq[1:]) if a != b) for seq in by_track.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "fer-stream"))
    ap.add_argument("--held", default="s18,s20,s29,s32", help="clips of one held expression (name contains)")
    ap.add_argument("--out", default="/tmp/model-change", help="where the NDJSON goes (reused when present)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    held = [h for h in a.held.split(",") if h]
    tot = collections.Counter()
    confusion = collections.Counter()
    names = []
    print(f"{'clip':44} {'faces':>6} {'changed':>8} {'sw/min old':>10} {'sw/min new':>10}")
    for clip in a.clips:
        base = os.path.basename(clip)
        old, t = labels(run(a.binary, a.old, clip, os.path.join(a.out, base + ".old.ndjson")))
        new, _ = labels(run(a.binary, a.new, clip, os.path.join(a.out, base + ".new.ndjson")))
        keys = old.keys() & new.keys()
        if len(keys) != len(old) or len(keys) != len(new):
            print(f"warning: {base}: the runs' faces differ ({len(old)} vs {len(new)})", file=sys.stderr)
        changed = sum(old[k] != new[k] for k in keys)
        for k in keys:
            confusion[(old[k], new[k])] += 1
            for n in (old[k], new[k]):
                if n not in names:
                    names.append(n)
        minutes = max(t, 1e-9) / 60
        so, sn = switches(old) / minutes, switches(new) / minutes
        group = "held" if any(h in base for h in held) else "other"
        for g in (group, "all"):
            tot[g + "_faces"] += len(keys)
            tot[g + "_changed"] += changed
            tot[g + "_min"] += minutes
            tot[g + "_sw_old"] += switches(old)
            tot[g + "_sw_new"] += switches(new)
        print(f"{base:44} {len(keys):6d} {changed / max(len(keys), 1):8.1%} {so:10.1f} {sn:10.1f}")
    for g in ("held", "all"):
        if tot[g + "_faces"]:
            m = tot[g + "_min"]
            print(f"{g + ' clips':44} {tot[g + '_faces']:6d} {tot[g + '_changed'] / tot[g + '_faces']:8.1%} "
                  f"{tot[g + '_sw_old'] / m:10.1f} {tot[g + '_sw_new'] / m:10.1f}")
    order = [n for n in ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"] if n in names] + \
            [n for n in names if n not in ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]]
    print("\nface-frames, old label (rows) vs new label (columns):")
    print("| old \\ new | " + " | ".join(order) + " | all |")
    print("|---" * (len(order) + 2) + "|")
    for o in order:
        row = [confusion[(o, n)] for n in order]
        print(f"| {o} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |")
    print("| all | " + " | ".join(str(sum(confusion[(o, n)] for o in order)) for n in order)
          + f" | {sum(confusion.values())} |")


if __name__ == "__main__":
    main()
