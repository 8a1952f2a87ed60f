#!/usr/bin/env python3
"""The shipped networks side by side, as fer-stream itself runs them: accuracy against the FER+
annotators' top vote and against FER2013's labels (1 crop and 10 crops, f32 and int8), the
expected calibration error, multiply-adds a crop, and crops/s at batch 1 and 10.

Speeds come from `fer-stream bench`, the networks taking turns (--rounds rounds, the order rotated
each round) so that a slow spell of the machine hits them alike; each figure is the median over the
rounds, and the ratio column divides by the first model's figure from the same rounds.

    python3 benchmarks/networks.py [--split PrivateTest] [--rounds 3] [--skip-accuracy] MODEL...
    python3 benchmarks/networks.py Models/vgg19-ferplus.safetensors Models/student-ferplus.safetensors

Needs ../shared/data/fer2013.csv.gz and ../shared/data/ferplus/fer2013plus.csv (or $FER2013_CSV,
$FERPLUS_CSV) for the accuracy rows, and a release build (.build/release/fer-stream, or $FER_STREAM).
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("FER_STREAM", os.path.join(ROOT, ".build", "release", "fer-stream"))
FER = os.environ.get("FER2013_CSV", os.path.join(ROOT, "..", "shared", "data", "fer2013.csv.gz"))
VOTES = os.environ.get("FERPLUS_CSV", os.path.join(ROOT, "..", "shared", "data", "ferplus", "fer2013plus.csv"))


def run_json(args):
    out = subprocess.run([BIN] + args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def accuracy_rows(models, split):
    print(f"| network | precision | crops | FER+ top vote ({split}) | ECE (FER+) | FER2013 label | ECE (FER2013) |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        for precision in ("int8", "f32"):
            for tta, crops in (("center", 1), ("10crop", 10)):
                common = ["--model", m, "--precision", precision, "--tta", tta, "--fer2013", FER,
                          "--split", split, "--format", "json"]
                fp = run_json(["eval", "--ferplus", VOTES] + common)
                f = run_json(["eval"] + common)
                print(f"| {os.path.basename(m)} | {precision} | {crops} | {100 * fp['accuracy']:.2f}% of {fp['n']} "
                      f"| {fp['ece']:.4f} | {100 * f['accuracy']:.2f}% of {f['n']} | {f['ece']:.4f} |", flush=True)


def speed_rows(models, rounds, seconds):
    rates = {(m, b): [] for m in models for b in (1, 10)}
    flops = {}
    for r in range(rounds):
        order = models[r % len(models):] + models[:r % len(models)]
        for b in (1, 10):
            for m in order:
                rec = run_json(["bench", "--model", m, "--batch", str(b), "--seconds", str(seconds)])
                rates[(m, b)].append(rec["crops_per_s"])
                flops[m] = rec["gflop_per_crop"]
    print()
    print("| network | multiply-adds a crop | crops/s, batch 1 | crops/s, batch 10 | × the first, batch 1 | × the first, batch 10 |")
    print("|---|---|---|---|---|---|")
    first = models[0]
    for m in models:
        cells = []
        for b in (1, 10):
            v = rates[(m, b)]
            cells.append(f"{statistics.median(v):.0f} [{min(v):.0f}–{max(v):.0f}]")
        ratios = [statistics.median([x / y for x, y in zip(rates[(m, b)], rates[(first, b)])]) for b in (1, 10)]
        print(f"| {os.path.basename(m)} | {flops[m] / 2 * 1000:.1f} M | {cells[0]} | {cells[1]} "
              f"| ×{ratios[0]:.2f} | ×{ratios[1]:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--split", default="PrivateTest")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    a = ap.parse_args()
    if not a.skip_accuracy:
        accuracy_rows(a.models, a.split)
    if not a.skip_speed:
        speed_rows(a.models, a.rounds, a.seconds)


if __name__ == "__main__":
    main()
