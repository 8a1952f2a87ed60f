"""Average the weights of several snapshots of one training lineage (SWA over the ends of SGDR
cycles), then recalibrate BatchNorm on clean Training crops.

Why the recalibration: during training the BN running statistics follow heavily augmented batches
(rotation, scale, random erasing) with momentum 0.1, while the model is tested on clean crops; and
the statistics of an average of weights are not the average of their statistics. So every BN layer
gets the exact mean and variance of its input over Training crops (random 44×44 crop and mirror,
no other augmentation), computed with the averaged weights.

    python3 training/average.py A.safetensors B.pt:raw C.pt:ema --out ~/.cache/fer-stream/swa.pt
    python3 training/export.py --checkpoint ~/.cache/fer-stream/swa.pt --weights swa

Sources: exported .safetensors, or training checkpoints with `:ema` (default) or `:raw` (last.pt's
optimised weights). The output is a checkpoint whose `swa` entry holds the weights.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
from evaluate import load_any  # noqa: E402
from model import CROP_FROM, INPUT_SIZE, VGG19FER, normalize  # noqa: E402
from train import atomic_save  # noqa: E402


def parse_source(spec: str) -> tuple[str, str]:
    """'path[:ema|raw]' -> (path, weights)."""
    path, sep, weights = spec.rpartition(":")
    if sep and weights in ("ema", "raw"):
        return path, weights
    return spec, "ema"


def average_state_dicts(sds: list[dict]) -> dict:
    """Uniform mean of every floating tensor; integer buffers (num_batches_tracked) from the first."""
    if not sds:
        raise ValueError("nothing to average")
    keys = set(sds[0])
    for sd in sds[1:]:
        if set(sd) != keys:
            raise ValueError(f"state dicts differ in keys: {sorted(keys ^ set(sd))[:4]}")
    return {k: (torch.stack([sd[k].float() for sd in sds]).mean(0) if sds[0][k].is_floating_point()
                else sds[0][k].clone()) for k in sds[0]}


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, pixels: np.ndarray, batch: int = 256, seed: int = 0) -> None:
    """Replace each BN layer's running mean/var with the cumulative average over `pixels` (N,48,48
    uint8), fed in batches with one random 44×44 crop offset and mirror per batch. f32, no grad."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: each batch weighs the same
    gen = torch.Generator().manual_seed(seed)
    model.train()
    try:
        x = torch.as_tensor(pixels)
        for i in range(0, len(x), batch):
            xb = normalize(x[i:i + batch]).unsqueeze(1)
            t, l = torch.randint(0, CROP_FROM - INPUT_SIZE + 1, (2,), generator=gen).tolist()
            v = xb[:, :, t:t + INPUT_SIZE, l:l + INPUT_SIZE]
            if torch.rand(1, generator=gen).item() < 0.5:
                v = v.flip(-1)
            model(v.contiguous(memory_format=torch.channels_last))
    finally:
        model.eval()
        for m, mom in zip(bns, momenta):
            m.momentum = mom


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", help="path.safetensors or path.pt[:ema|raw]")
    ap.add_argument("--out", required=True, help="checkpoint to write (weights under 'swa')")
    ap.add_argument("--data", default=None)
    ap.add_argument("--bn-rows", type=int, default=10000,
                    help="Training rows for the BN recalibration (a seeded sample; 0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    sds, epochs, names = [], [], []
    for spec in a.sources:
        path, weights = parse_source(spec)
        m, info = load_any(path, "cpu", weights)
        sds.append(m.state_dict())
        epochs.append(int(info["epoch"]) if info.get("epoch") is not None else 0)
        names.append(info["source"].replace(str(Path.home()), "~"))  # no user's home in metadata
        print(f"source: {info['source']} (epoch {info['epoch']})", flush=True)
    model = VGG19FER()
    model.load_state_dict(average_state_dicts(sds))

    x, _ = fer2013.load(a.data)["Training"]
    rows = np.arange(len(x))
    if 0 < a.bn_rows < len(x):
        rows = np.sort(np.random.default_rng(a.seed).choice(len(x), a.bn_rows, replace=False))
    recalibrate_bn(model, x[rows], seed=a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({"swa": model.state_dict(), "epoch": max(epochs), "sources": names, "bn_rows": len(rows)}, out)
    print(f"wrote {out}: mean of {len(sds)} snapshots, BN recalibrated on {len(rows)} Training rows")


if __name__ == "__main__":
    main()
