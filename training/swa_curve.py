#!/usr/bin/env python3
"""The learning curve of snapshot averaging: PublicTest accuracy of the running mean as snapshots
are added, so the model card can show whether more of them still help.

    python3 training/swa_curve.py Models/vgg19-fer2013.safetensors ~/.cache/fer-stream/train/r75/snapshot-e*.pt \\
        --weights raw --at 0,2,4,8,16

Row k is the mean of the base source (weighing as many snapshots as it averaged; see average.py) and
the first k snapshots in epoch order, BatchNorm recalibrated as average.py does, then scored on
PublicTest (centre crop, f32; `--10crop` adds 10-crop). PublicTest only, by design: it is the split
models are chosen on; PrivateTest is reported once, for the model chosen.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
from average import add_weights_option, bn_sample, load_source, swa_model  # noqa: E402
from evaluate import metrics, predict_probs  # noqa: E402


def epoch_order(spec: str) -> tuple[int, str]:
    """Sort key: the epoch in a snapshot-e<N>.pt name (a shell glob sorts e100 before e99)."""
    m = re.search(r"snapshot-e(\d+)\.pt", spec)
    return (int(m.group(1)) if m else -1, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the mean (or single snapshot) to start from")
    ap.add_argument("snapshots", nargs="*", help="path.pt[:raw|ema] or .safetensors, added in epoch order "
                    "(none: the base alone, recalibrated)")
    add_weights_option(ap)
    ap.add_argument("--at", default="", help="comma-separated numbers of added snapshots (default: every one)")
    ap.add_argument("--10crop", dest="tencrop", action="store_true", help="also score 10-crop (10× slower)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--bn-rows", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    specs = sorted(a.snapshots, key=epoch_order)
    ks = sorted({int(k) for k in a.at.split(",") if k.strip()}) if a.at else list(range(len(specs) + 1))
    if not ks or ks[0] < 0 or ks[-1] > len(specs):
        raise SystemExit(f"--at must lie in 0..{len(specs)} (the number of snapshots given)")
    data = fer2013.load(a.data)
    pixels = bn_sample(data["Training"][0], a.bn_rows, a.seed)
    x_pub, y_pub = data["PublicTest"]
    base = load_source(a.base, a.weights)
    added = [load_source(s, a.weights) for s in specs[:ks[-1]]]
    head = "| snapshots averaged | last epoch | PublicTest centre (f32) |" + (" PublicTest 10-crop (f32) |" if a.tencrop else "")
    rows = [head, "|---|---|---|" + ("---|" if a.tencrop else "")]
    for k in ks:
        t0 = time.time()
        srcs = [base] + added[:k]
        model = swa_model(srcs, pixels, a.seed)
        scores = [metrics(predict_probs(model, x_pub, mode, bf16=False), y_pub)["accuracy"]
                  for mode in (["center", "10crop"] if a.tencrop else ["center"])]
        row = (f"| {sum(len(s.snapshots) for s in srcs)} | {max(s.epoch for s in srcs)} | "
               + "".join(f"{100 * v:.2f}% | " for v in scores).rstrip())
        rows.append(row)
        print(row, f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
