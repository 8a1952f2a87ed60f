#!/usr/bin/env python3
"""Renders a run's learning curve (`log.jsonl`, one JSON line per epoch from train.py) as the
markdown table that Models/README.md carries, so the model card is built from the log, not by hand.

    python3 training/curve.py ~/.cache/fer-stream/train/<run>/log.jsonl [--from-epoch N]

Columns: epoch, lr at the end of the epoch, train loss and accuracy (augmented crops, label
smoothing), images/s, PublicTest centre-crop accuracy of the EMA weights. If the log holds an epoch
twice (a run resumed from an older checkpoint), the later line wins.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HEADER = ["| epoch | lr (end) | train loss | train acc | img/s | PublicTest centre (EMA) |",
          "|---|---|---|---|---|---|"]
REQUIRED = ("epoch", "lr", "train_loss", "train_acc", "img_per_s")


def read_log(path: Path) -> list[dict]:
    by_epoch: dict[int, dict] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise SystemExit(f"{path}:{n}: not a train.py epoch record ({e})")
        missing = [k for k in REQUIRED if k not in rec] if isinstance(rec, dict) else list(REQUIRED)
        if missing:
            raise SystemExit(f"{path}:{n}: not a train.py epoch record (missing {', '.join(missing)})")
        by_epoch[int(rec["epoch"])] = rec
    return [by_epoch[k] for k in sorted(by_epoch)]


def table(records: list[dict]) -> str:
    rows = list(HEADER)
    for r in records:
        pub = f"{100 * r['public_center']:.2f}%" if "public_center" in r else "–"
        rows.append(f"| {r['epoch']} | {r['lr']:.4f} | {r['train_loss']:.3f} | {100 * r['train_acc']:.1f}% "
                    f"| {r['img_per_s']:.0f} | {pub} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--from-epoch", type=int, default=0, help="leave out epochs before N")
    a = ap.parse_args()
    if not a.log.is_file():
        sys.exit(f"{a.log}: no such log (train.py writes <run dir>/log.jsonl after each epoch)")
    print(table([r for r in read_log(a.log) if r["epoch"] >= a.from_epoch]))


if __name__ == "__main__":
    main()
