"""Export a training checkpoint to Models/<arch>-fer2013.safetensors (f16, BN not folded) and write the
golden parity file Models/<arch>-fer2013.golden.safetensors (f32) for the Swift implementation.
The architecture (VGG19 or ResNet18) is the checkpoint's (`--arch` in train.py)."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
from evaluate import checkpoint_weights, metrics, predict_probs  # noqa: E402
from model import (BN_EPS, CHANNELS, CLASSES, STUDENT_CHANNELS, CROP_FROM, FORMATS, INPUT_SIZE, NORM_MEAN, NORM_STD,  # noqa: E402
                   RESNET_BLOCKS, RESNET_POOL, RESNET_STAGES, VGG19FER, arch_of, build, load_safetensors,
                   normalize, stored_outputs)

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = REPO_ROOT / "Models"
DEFAULT_CKPT = Path.home() / ".cache" / "fer-stream" / "train" / "main" / "best.pt"
FORMAT = FORMATS["vgg19"]


def tensor_names(num_convs: int = 16, arch: str = "vgg19") -> list[str]:
    if arch != "vgg19":
        return [k for k in build(arch).state_dict() if not k.endswith("num_batches_tracked")]
    names = []
    for i in range(num_convs):
        names += [f"conv{i}.weight", f"conv{i}.bias", f"bn{i}.weight", f"bn{i}.bias",
                  f"bn{i}.running_mean", f"bn{i}.running_var"]
    return names + ["classifier.weight", "classifier.bias"]


def base_metadata(arch: str = "vgg19") -> dict[str, str]:
    meta = {
        "format": FORMATS[arch],
        "architecture": arch,
        "classes": ",".join(CLASSES),
        "input_size": str(INPUT_SIZE),
        "crop_from": str(CROP_FROM),
        "norm_mean": str(NORM_MEAN),
        "norm_std": str(NORM_STD),
        "bn_eps": "1e-05" if BN_EPS == 1e-5 else repr(BN_EPS),
    }
    if arch in ("vgg19", "vgg"):
        meta["channels"] = ",".join(str(c) for c in (CHANNELS if arch == "vgg19" else STUDENT_CHANNELS))
    else:
        meta["stages"] = ",".join(f"{c}:{s}" for c, s in RESNET_STAGES)
        meta["blocks"] = str(RESNET_BLOCKS)
        meta["pool"] = f"topleft{RESNET_POOL}"
    return meta


def export_model(state_dict: dict, out: Path, extra_meta: dict | None = None, arch: str = "vgg19") -> None:
    """Write the f16 model file with exactly the documented tensor names."""
    tensors = {k: state_dict[k].detach().to("cpu", torch.float16).contiguous() for k in tensor_names(arch=arch)}
    meta = base_metadata(arch)
    meta.update({k: str(v) for k, v in (extra_meta or {}).items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out)


@torch.no_grad()
def activation_maxima(model, pixels: np.ndarray, batch: int = 256) -> list[float]:
    """Largest magnitude of every map the Swift engines keep (model.stored_outputs: after BN and
    ReLU; a projection shortcut's has no ReLU) over the centre crops of `pixels` and their
    mirrors, in f32: the activation ranges the Swift int8 engine quantises with."""
    model = model.eval()
    maxima = None
    c = (CROP_FROM - INPUT_SIZE) // 2
    for s in range(0, len(pixels), batch):
        x = torch.from_numpy(np.asarray(pixels[s:s + batch]))[:, None, c:c + INPUT_SIZE, c:c + INPUT_SIZE]
        outs = stored_outputs(model, normalize(torch.cat([x, x.flip(3)])))
        if maxima is None:
            maxima = [0.0] * len(outs)
        maxima = [max(m, float(o.abs().max())) for m, o in zip(maxima, outs)]
    return maxima


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    """Seeded synthetic grey images (not FER2013): low-frequency noise upsampled + a little pixel
    noise, integer-valued 0..255, f32 (n, size, size)."""
    g = torch.Generator().manual_seed(seed)
    imgs = []
    for _ in range(n):
        k = int(torch.randint(3, 8, (1,), generator=g))
        low = torch.rand(1, 1, k, k, generator=g) * 255
        up = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)[0, 0]
        up = up + torch.randn(size, size, generator=g) * 6
        imgs.append(up.round().clamp(0, 255))
    return torch.stack(imgs).float()


@torch.no_grad()
def golden_logits44(model, inputs44: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(normalize(inputs44).unsqueeze(1)).float()


def write_golden(model_path: Path, out: Path, seed: int = 2013) -> dict[str, torch.Tensor]:
    """Golden outputs from the model AS EXPORTED (f16 weights back to f32), f32 eval mode, no autocast."""
    model, _ = load_safetensors(model_path)
    model.eval()
    inputs44 = smooth_images(8, INPUT_SIZE, seed)
    faces48 = smooth_images(4, CROP_FROM, seed + 1)
    tensors = {
        "inputs44": inputs44.contiguous(),
        "logits44": golden_logits44(model, inputs44).contiguous(),
        "faces48": faces48.contiguous(),
        "probs10crop": predict_probs(model, faces48, "10crop", bf16=False).contiguous(),
    }
    meta = {"format": FORMATS[arch_of(model)] + "-golden", "model_sha256": sha256_file(model_path),
            "model_file": model_path.name, "seed": str(seed)}
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out)
    return tensors


def load_checkpoint(path: Path, weights: str = "ema") -> tuple[dict, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    sd = checkpoint_weights(ck, weights, path)
    info = {"epoch": ck.get("epoch"), "weights": weights, "arch": ck.get("args", {}).get("arch", "vgg19")}
    if "sources" in ck:  # average.py's output
        info["averaged_from"] = "; ".join(ck["sources"])
        info["bn_recalibration_rows"] = str(ck["bn_rows"])
    if weights != "ema":
        return sd, info  # the accuracies a checkpoint records are its EMA's
    if "public_center" in ck:
        info["public_test_center"] = ck["public_center"]
    elif "best" in ck and ck["best"].get("epoch") == ck.get("epoch"):
        info["public_test_center"] = ck["best"]["acc"]
    return sd, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CKPT), help="best.pt (EMA weights) or last.pt")
    ap.add_argument("--weights", default="ema", choices=["ema", "raw", "swa"],
                    help="the EMA (default), the optimised weights (raw: last.pt only) or "
                         "average.py's averaged weights (swa)")
    ap.add_argument("--out", default=None, help="default: Models/<arch>-fer2013.safetensors")
    ap.add_argument("--golden", default=None, help="default: <out stem>.golden.safetensors")
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-10crop", action="store_true", help="skip the (slow) 10-crop figures")
    ap.add_argument("--no-eval", action="store_true", help="no evaluation at all (metadata from checkpoint)")
    ap.add_argument("--no-calibration", action="store_true", help="skip the int8 activation ranges")
    ap.add_argument("--calibration-rows", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    sd, info = load_checkpoint(Path(a.checkpoint), a.weights)
    arch = info["arch"]
    out = Path(a.out) if a.out else MODELS / f"{arch}-fer2013.safetensors"
    golden = Path(a.golden) if a.golden else out.with_name(out.name.replace(".safetensors", ".golden.safetensors"))
    meta = {"epoch": info["epoch"], "weights": info["weights"]}
    meta.update({k: info[k] for k in ("averaged_from", "bn_recalibration_rows") if k in info})
    if not a.no_eval:
        # Evaluate the weights as exported (f16 round trip), with bf16 autocast for speed.
        m = build(arch)
        m.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in sd.items()})
        data = fer2013.load(a.data)
        for split, key in (("PublicTest", "public_test"), ("PrivateTest", "private_test")):
            if split not in data:
                continue
            x, y = data[split]
            meta[f"{key}_center"] = f"{metrics(predict_probs(m, x, 'center'), y)['accuracy']:.4f}"
            if not a.no_10crop:
                meta[f"{key}_10crop"] = f"{metrics(predict_probs(m, x, '10crop'), y)['accuracy']:.4f}"
            print(split, {k: v for k, v in meta.items() if k.startswith(key)}, flush=True)
    elif "public_test_center" in info:
        meta["public_test_center"] = f"{info['public_test_center']:.4f}"
    if not a.no_calibration:
        # int8 activation ranges from Training rows only (never the test splits).
        m = build(arch)
        m.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in sd.items()})
        x, _ = fer2013.load(a.data)["Training"]
        rows = np.random.default_rng(0).choice(len(x), size=min(a.calibration_rows, len(x)), replace=False)
        meta["int8_act_max"] = ",".join(f"{v:.5g}" for v in activation_maxima(m, x[np.sort(rows)]))
        meta["int8_calibration"] = f"max of each conv output over {len(rows)} Training rows (centre crop and mirror)"
    export_model(sd, out, meta, arch=arch)
    g = write_golden(out, golden)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {sha256_file(out)})")
    print(f"wrote {golden}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in g.items()))
    print("metadata:", meta)


if __name__ == "__main__":
    main()
