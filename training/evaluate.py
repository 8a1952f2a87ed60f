"""Evaluate a checkpoint or exported model on a FER2013 split: centre-crop and 10-crop accuracy,
per-class accuracy and a 7x7 confusion matrix (rows = true class)."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
from model import CLASSES, INPUT_SIZE, build, load_safetensors, normalize  # noqa: E402

S = INPUT_SIZE


def crop_offsets(size: int = 48, crop: int = S):
    """(top, left) of the 4 corner crops and the centre crop."""
    m = size - crop
    c = m // 2
    return [(0, 0), (0, m), (m, 0), (m, m), (c, c)]


def _autocast(device: str, bf16: bool):
    if bf16:
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_probs(model, images: np.ndarray | torch.Tensor, mode: str = "center", batch: int = 256,
                  device: str = "cpu", bf16: bool = True) -> torch.Tensor:
    """images: uint8/float pixels (N,48,48) in 0..255. mode 'center' (softmax of the centre crop)
    or '10crop' (mean softmax over 4 corners + centre, each also mirrored). Returns (N,7) f32 probs."""
    model.eval()
    x_all = torch.as_tensor(images)
    n = x_all.shape[0]
    offs = [crop_offsets(x_all.shape[-1])[4]] if mode == "center" else crop_offsets(x_all.shape[-1])
    out = torch.empty(n, len(CLASSES))
    for i in range(0, n, batch):
        xb = normalize(x_all[i:i + batch]).unsqueeze(1)
        views = []
        for t, l in offs:
            v = xb[:, :, t:t + S, l:l + S]
            views.append(v)
            if mode != "center":
                views.append(v.flip(-1))
        v = torch.cat(views).to(device).contiguous(memory_format=torch.channels_last)
        with _autocast(device, bf16):
            logits = model(v)
        p = F.softmax(logits.float(), dim=1).view(len(views), -1, len(CLASSES)).mean(0)
        out[i:i + batch] = p.cpu()
    return out


def metrics(probs: torch.Tensor, labels) -> dict:
    y = torch.as_tensor(labels)
    pred = probs.argmax(1)
    k = len(CLASSES)
    cm = torch.bincount(y * k + pred, minlength=k * k).view(k, k)
    per_class = {c: (cm[i, i].item() / max(cm[i].sum().item(), 1)) for i, c in enumerate(CLASSES)}
    return {"accuracy": (pred == y).float().mean().item(), "n": int(y.numel()),
            "per_class": per_class, "confusion": cm.tolist()}


def evaluate(model, images, labels, tencrop: bool = True, **kw) -> dict:
    res = {"center": metrics(predict_probs(model, images, "center", **kw), labels)}
    if tencrop:
        res["10crop"] = metrics(predict_probs(model, images, "10crop", **kw), labels)
    return res


def load_any(path: str, device: str = "cpu", weights: str = "ema"):
    """A training checkpoint (.pt: its EMA weights, with weights="raw" the optimised weights of
    last.pt, with weights="swa" average.py's averaged weights) or an exported .safetensors."""
    p = Path(path)
    if p.suffix == ".safetensors":
        m, meta = load_safetensors(p, device)
        info = {"source": str(p), "epoch": meta.get("epoch")}
        if meta.get("averaged_from"):
            info["averaged_from"] = meta["averaged_from"].split("; ")
        return m, info
    ck = torch.load(p, map_location="cpu", weights_only=False)
    m = build(ck.get("args", {}).get("arch", "vgg19"))
    m.load_state_dict(checkpoint_weights(ck, weights, p))
    info = {"source": f"{p} ({weights})", "epoch": ck.get("epoch")}
    if weights == "swa" and ck.get("sources"):
        info["averaged_from"] = list(ck["sources"])
    return m.to(device), info


def checkpoint_weights(ck: dict, weights: str, path) -> dict:
    key = {"ema": "ema", "raw": "model", "swa": "swa"}[weights]
    if key not in ck:
        raise SystemExit(f"{path}: no {weights} weights in this checkpoint (keys: {', '.join(ck)})")
    return ck[key]


def format_table(name: str, res: dict) -> str:
    lines = [f"== {name}"]
    for mode, r in res.items():
        lines.append(f"{mode:>7}: accuracy {100 * r['accuracy']:.2f}%  (n={r['n']})")
    r = res.get("10crop", res["center"])
    lines.append("per-class (" + ("10crop" if "10crop" in res else "center") + "):  "
                 + "  ".join(f"{c} {100 * a:.1f}" for c, a in r["per_class"].items()))
    lines.append("confusion (rows = true, cols = predicted):")
    lines.append(" " * 10 + "".join(f"{c[:8]:>9}" for c in CLASSES))
    for c, row in zip(CLASSES, r["confusion"]):
        lines.append(f"{c:>10}" + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", nargs="?", default=str(Path.home() / ".cache/fer-stream/train/main/best.pt"),
                    help="best.pt / last.pt or an exported .safetensors")
    ap.add_argument("--data", default=None)
    ap.add_argument("--split", default="PublicTest", choices=fer2013.SPLITS)
    ap.add_argument("--no-10crop", action="store_true")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast (slower)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="ema", choices=["ema", "raw", "swa"],
                    help="of a .pt checkpoint: the EMA (default), the optimised weights (last.pt only) "
                         "or the averaged weights (average.py's output)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="write results as JSON here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, info = load_any(a.checkpoint, a.device, a.weights)
    x, y = fer2013.load(a.data)[a.split]
    res = evaluate(model, x, y, tencrop=not a.no_10crop, device=a.device, bf16=not a.fp32)
    print(format_table(f"{a.split} — {info['source']} (epoch {info['epoch']})", res))
    if a.json:
        Path(a.json).write_text(json.dumps({"split": a.split, **info, **res}, indent=1))


if __name__ == "__main__":
    main()
