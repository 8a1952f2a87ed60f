"""Fit a network's softmax temperature on PublicTest and store it in the model file's metadata.

fer-stream applies `temperature` per crop (softmax(logits / T), then the mean over the test-time
crops), so T is fitted the same way: the 10-crop mean's negative log-likelihood of the PublicTest
labels (FER2013's, or with --ferplus the annotators' top vote), minimised over T by golden-section
search. PrivateTest is never read. Prints the expected calibration error (15 bins of the top
probability) before and after. Tensors are left untouched; only the metadata changes.

    python3 training/calibrate.py Models/vgg19-ferplus.safetensors --ferplus
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
import ferplus  # noqa: E402
from evaluate import S, crop_offsets  # noqa: E402
from model import load_safetensors, normalize  # noqa: E402


@torch.no_grad()
def tencrop_logits(model, images: np.ndarray, batch: int = 128) -> torch.Tensor:
    """(10, N, C) logits: the 5 crops, then the same mirrored (as predict_probs orders them)."""
    model.eval()
    out = []
    x_all = torch.as_tensor(images)
    for i in range(0, len(x_all), batch):
        xb = normalize(x_all[i:i + batch]).unsqueeze(1)
        views = [xb[:, :, t:t + S, l:l + S] for t, l in crop_offsets(x_all.shape[-1])]
        views = views + [v.flip(-1) for v in views]
        v = torch.cat(views).contiguous(memory_format=torch.channels_last)
        logits = model(v).float()
        out.append(logits.view(len(views), -1, logits.shape[1]))
    return torch.cat(out, 1)


def mean_probs(logits: torch.Tensor, t: float) -> torch.Tensor:
    return F.softmax(logits / t, dim=2).mean(0)


def nll(logits: torch.Tensor, y: torch.Tensor, t: float) -> float:
    p = mean_probs(logits, t)
    return -torch.log(p[torch.arange(len(y)), y].clamp_min(1e-12)).mean().item()


def ece(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    top, pred = probs.max(1)
    idx = (top * bins).long().clamp(0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.float().mean().item() * abs((pred[m] == y[m]).float().mean().item() - top[m].mean().item())
    return total


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, lo: float = 0.1, hi: float = 10.0, steps: int = 40) -> float:
    """Golden-section search of log T for the lowest NLL (it is unimodal in T for a mean of softmaxes in practice)."""
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, y, math.exp(c)), nll(logits, y, math.exp(d))
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, y, math.exp(d))
    return math.exp((a + b) / 2)


def write_metadata(path: Path, updates: dict[str, str]) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(updates)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="an exported .safetensors (rewritten with the temperature in its metadata)")
    ap.add_argument("--ferplus", nargs="?", const="", default=None,
                    help="fit against the FER+ top vote (optionally the votes file; default ../shared/data/ferplus/)")
    ap.add_argument("--data", default=None, help="FER2013 CSV")
    ap.add_argument("--limit", type=int, default=0, help="only the first N faces (tests)")
    ap.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    path = Path(a.model)
    model, meta = load_safetensors(path)
    x, y = fer2013.load(a.data)["PublicTest"]
    if a.ferplus is not None:
        x, y = ferplus.top_vote_faces(x, ferplus.load(a.ferplus or None)["PublicTest"])
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    y = torch.as_tensor(y)
    # Logits as the file gives them: a temperature already there is undone first.
    t0 = float(meta.get("temperature", "1"))
    logits = tencrop_logits(model, x) * t0
    t = fit_temperature(logits, y)
    before, after = mean_probs(logits, 1.0), mean_probs(logits, t)
    acc = (after.argmax(1) == y).float().mean().item()
    print(f"PublicTest ({len(y)} faces, {'FER+ majority' if a.ferplus is not None else 'FER2013 labels'}, 10-crop): "
          f"accuracy {acc:.4f}; T = {t:.3f}; NLL {nll(logits, y, 1.0):.4f} -> {nll(logits, y, t):.4f}; "
          f"ECE {ece(before, y):.4f} -> {ece(after, y):.4f}")
    if not a.dry_run:
        write_metadata(path, {"temperature": f"{t:.4f}",
                              "temperature_fit": f"10-crop NLL of the PublicTest "
                                                 f"{'FER+ top vote' if a.ferplus is not None else 'FER2013 label'}"})
        print(f"wrote temperature {t:.4f} into {path}")
        golden = path.with_name(path.name.replace(".safetensors", ".golden.safetensors"))
        if golden.exists():
            # The golden outputs are the file's network's: with the temperature now, and its new sha256.
            from export import write_golden
            write_golden(path, golden)
            print(f"rewrote {golden}")
    return t


if __name__ == "__main__":
    main()
