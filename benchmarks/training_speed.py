#!/usr/bin/env python3
"""Training throughput of VGG19-FER on this CPU: f32 against bf16 autocast, in the same run.

One training step = augmented batch of random pixels → forward → cross-entropy → backward → SGD
step, channels_last, as training/train.py does it. The two precisions are measured in interleaved
rounds (a VM's speed drifts over tens of seconds) and the medians compared. Reports whether the CPU
exposes AMX, since that decides which precision wins (training/train.py --precision auto).

    python3 benchmarks/training_speed.py [--batch 128] [--rounds 3] [--steps 3]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from model import VGG19FER  # noqa: E402
from train import augment, cpu_has_amx, train_step  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per precision per round")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (a.batch, 48, 48), dtype=torch.uint8)
    labels = torch.randint(0, 7, (a.batch,))

    setups = {}
    for name in ("f32", "bf16"):
        m = VGG19FER().to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        setups[name] = (m, opt, name == "bf16")

    def step(name: str) -> None:
        m, opt, bf16 = setups[name]
        xb = augment(pixels, gen).contiguous(memory_format=torch.channels_last)
        train_step(m, opt, xb, labels, bf16)

    for name in setups:  # warm-up: oneDNN creates its primitives on the first step
        step(name)
    rates = {name: [] for name in setups}
    for r in range(a.rounds):
        for name in setups:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            rates[name].append(a.batch * a.steps / (time.perf_counter() - t0))
        print(f"round {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:.1f} img/s" for n in setups), flush=True)

    med = {n: statistics.median(v) for n, v in rates.items()}
    print(f"torch {torch.__version__}, {a.threads} threads, batch {a.batch}, AMX: {'yes' if cpu_has_amx() else 'no'}")
    for n in setups:
        print(f"{n:5s} median {med[n]:6.1f} img/s  ({28709 / med[n] / 60:.1f} min per FER2013 epoch)")
    print(f"f32 / bf16 = {med['f32'] / med['bf16']:.2f}")


if __name__ == "__main__":
    main()
