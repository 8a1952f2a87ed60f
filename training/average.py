"""Average the weights of several snapshots of one training lineage (SWA over the ends of SGDR
cycles), then recalibrate BatchNorm on clean Training crops.

Why the recalibration: during training the BN running statistics follow heavily augmented batches
(rotation, scale, random erasing) with momentum 0.1, while the model is tested on clean crops; and
the statistics of an average of weights are not the average of their statistics. So every BN layer
gets the exact mean and variance of its input over Training crops (random 44×44 crop and mirror,
no other augmentation), computed with the averaged weights.

    python3 training/average.py A.safetensors B.pt:raw C.pt:ema --out ~/.cache/fer-stream/swa.pt
    python3 training/average.py Models/vgg19-fer2013.safetensors run/snapshot-e*.pt --weights raw --out swa.pt
    python3 training/export.py --checkpoint ~/.cache/fer-stream/swa.pt --weights swa

Sources: exported .safetensors, or training checkpoints with `:ema` (default), `:raw` (last.pt's
optimised weights) or `:swa` (this script's output). The output is a checkpoint whose `swa` entry holds the weights.

A source that is itself such a mean (an export or checkpoint of this script, which lists what it
averaged) weighs as many snapshots as it averaged, so averaging the shipped file with new snapshots
gives the running mean SWA would have computed over all of them, without the old snapshots at hand.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
from evaluate import load_any  # noqa: E402
from model import VGG19FER  # noqa: E402
from train import AUGMENTS, atomic_save, augment  # noqa: E402


def parse_source(spec: str, default: str = "ema") -> tuple[str, str]:
    """'path[:ema|raw|swa]' -> (path, weights); `default` where the spec names none."""
    path, sep, weights = spec.rpartition(":")
    if sep and weights in ("ema", "raw", "swa"):
        return path, weights
    return spec, default


def average_state_dicts(sds: list[dict], counts: list[int] | None = None) -> dict:
    """Mean of every floating tensor, each state dict weighted by its count of snapshots (1 each by
    default); integer buffers (num_batches_tracked) from the first."""
    if not sds:
        raise ValueError("nothing to average")
    counts = counts or [1] * len(sds)
    if len(counts) != len(sds) or min(counts) < 1:
        raise ValueError(f"need one positive count per state dict, got {counts}")
    keys = set(sds[0])
    for sd in sds[1:]:
        if set(sd) != keys:
            raise ValueError(f"state dicts differ in keys: {sorted(keys ^ set(sd))[:4]}")
    w = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    return {k: ((torch.stack([sd[k].double() for sd in sds]) * w.view(-1, *[1] * sds[0][k].dim())).sum(0).float()
                if sds[0][k].is_floating_point() else sds[0][k].clone()) for k in sds[0]}


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, pixels: np.ndarray, batch: int = 256, seed: int = 0) -> None:
    """Replace each BN layer's running mean/var with the cumulative average over `pixels` (N,48,48
    uint8), each image randomly cropped to 44×44 and mirrored as in training, nothing else. f32, no grad."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: each batch weighs the same
    gen = torch.Generator().manual_seed(seed)  # crops drawn on the CPU wherever the model is
    dev = next(model.parameters()).device
    model.train()
    try:
        x = torch.as_tensor(pixels)
        for i in range(0, len(x), batch):
            v = augment(x[i:i + batch], gen, **AUGMENTS["light"])
            model(v.to(dev).contiguous(memory_format=torch.channels_last))
    finally:
        model.eval()
        for m, mom in zip(bns, momenta):
            m.momentum = mom


@dataclass
class Source:
    """One averaging input: its weights, epoch, and the snapshots it stands for (itself, or all
    those a mean lists)."""
    state_dict: dict
    epoch: int
    snapshots: list[str]


def load_source(spec: str, default_weights: str = "ema") -> Source:
    path, weights = parse_source(spec, default_weights)
    m, info = load_any(path, "cpu", weights)
    # No user's home in metadata.
    snaps = info.get("averaged_from") or [info["source"].replace(str(Path.home()), "~")]
    print(f"source: {info['source']} (epoch {info['epoch']}"
          + (f", a mean of {len(snaps)} snapshots" if len(snaps) > 1 else "") + ")", file=sys.stderr, flush=True)
    return Source(m.state_dict(), int(info["epoch"]) if info.get("epoch") is not None else 0, snaps)


def add_weights_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--weights", default="ema", choices=["ema", "raw", "swa"],
                    help="which weights of a .pt source that names none (snapshot-e*.pt hold raw weights only)")


def bn_sample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """A seeded sample of `rows` Training images for the recalibration (all of them for rows = 0)."""
    if 0 < rows < len(x):
        return x[np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))]
    return x


def swa_model(sources: list[Source], bn_pixels: np.ndarray, seed: int = 0) -> VGG19FER:
    """The snapshot-weighted mean of `sources` with BatchNorm recalibrated on `bn_pixels`."""
    model = VGG19FER()
    model.load_state_dict(average_state_dicts([s.state_dict for s in sources], [len(s.snapshots) for s in sources]))
    recalibrate_bn(model, bn_pixels, seed=seed)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", help="path.safetensors or path.pt[:ema|raw|swa]")
    ap.add_argument("--out", required=True, help="checkpoint to write (weights under 'swa')")
    add_weights_option(ap)
    ap.add_argument("--data", default=None)
    ap.add_argument("--bn-rows", type=int, default=10000,
                    help="Training rows for the BN recalibration (a seeded sample; 0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    sources = [load_source(spec, a.weights) for spec in a.sources]
    pixels = bn_sample(fer2013.load(a.data)["Training"][0], a.bn_rows, a.seed)
    model = swa_model(sources, pixels, a.seed)
    names = [n for s in sources for n in s.snapshots]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({"swa": model.state_dict(), "epoch": max(s.epoch for s in sources), "sources": names,
                 "bn_rows": len(pixels)}, out)
    print(f"wrote {out}: mean of {len(names)} snapshots, BN recalibrated on {len(pixels)} Training rows")


if __name__ == "__main__":
    main()
