"""CK+ 10-fold cross-validation of the VGG19 (or the ResNet18) on CK+48 (981 grey 48x48 faces, 7 classes, 118 subjects),
scored with 10-crop (4 corners + centre of the 48x48, each mirrored, mean softmax; evaluate.predict_probs).

Protocols (--protocol):
  reference  the reference work's folds (WuJie1010/Facial-Expression-Recognition.Pytorch, CK.py): within
             each class the images, sorted by file name, are cut into 10 contiguous ranges
             (numpy.array_split: the first n mod 10 ranges are one image longer); fold k tests the k-th
             range of every class and trains on the rest. Consecutive frames of one sequence, hence one
             subject, fall on both sides: this measures recognition of people already seen.
  subject    subject-independent folds: the subjects (file name prefix, S010_006_00000013.png -> S010)
             are dealt to 10 folds largest first (by image count, ties by subject id), each to the fold
             with the fewest images so far (ties: lowest fold), so no subject is in train and test.

Initialisation (--init; default: scratch for reference, fer2013 for subject):
  scratch         the reference's recipe: VGG19 from random weights, 60 epochs, SGD momentum 0.9, weight
                  decay 5e-4 on every parameter, lr 0.01, x0.8 per epoch after epoch 20, batch 128, each
                  gradient element clamped to +-0.1 (the reference's utils.clip_gradient), cross-entropy,
                  random 44x44 crop + mirror (train.AUGMENTS["light"]). --from-scratch = --init scratch.
  fer2013         fine-tune of Models/vgg19-fer2013.safetensors (or the network --weights names, e.g.
                  Models/resnet18-fer2013.safetensors) with a fresh 7-way classifier (CK+ has contempt and
                  no neutral): 15 epochs, SGD nesterov, lr 0.005 cosine to 0 per step, weight
                  decay 5e-4 on weights only, label smoothing 0.1, full augmentation (train.py's).
  fer2013-frozen  (--head-only) the FER2013 features frozen (eval mode); only a fresh Linear 512->7 is
                  trained, with dropout 0.5 before it as in the network, on the features of the 10 test-time
                  crops of the training images (computed once for all folds and cached): 30 epochs over
                  (image, crop) pairs, SGD nesterov, lr 0.01 cosine, weight decay 5e-4, batch 128.
The scores are those of the weights at the end of training (the reference reports each fold's best test
epoch, which selects on the test set).

Per-fold resume: each finished fold is stored as <cache>/<run>/fold-K.json (default run name
<protocol>-<init>); rerunning the same command skips them. --out (default Models/ckplus-10fold.json)
gets this protocol+init's entry merged in (other entries kept); "mean" only once all 10 folds are done.
--export-fold K writes fold K's model as an f16 safetensors file like export.py's, with metadata
classes=anger,contempt,disgust,fear,happy,sadness,surprise and int8 ranges from the fold's training images.
"""
from __future__ import annotations

import os

# A polite default on a shared machine (train.py/export.py pick "active" for a dedicated one).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import copy
import hashlib
import json
import math
import shlex
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import crop_offsets, predict_probs  # noqa: E402
from export import activation_maxima, export_model, sha256_file  # noqa: E402
from model import CROP_FROM, INPUT_SIZE, arch_of, build, load_safetensors, normalize  # noqa: E402
from train import AUGMENTS, augment, lr_at, seed_all, train_step  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ckplus48"
DEFAULT_OUT = REPO_ROOT / "Models" / "ckplus-10fold.json"
DEFAULT_WEIGHTS = REPO_ROOT / "Models" / "vgg19-fer2013.safetensors"
CACHE_ROOT = Path.home() / ".cache" / "fer-stream" / "ckplus"

# The class folders, alphabetical: the order of the outputs of every CK+ model written here.
# (The reference's h5 holds anger, disgust, fear, happy, sadness, surprise, contempt; its class order
# does not change a fold here, as folds are cut within each class.)
CLASSES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
K_FOLDS = 10
PROTOCOLS = ("reference", "subject")
INITS = ("scratch", "fer2013", "fer2013-frozen")

RECIPES = {
    "scratch": {"epochs": 60, "lr": 0.01, "schedule": "step", "decay_start": 20, "decay_rate": 0.8,
                "nesterov": False, "wd": 5e-4, "wd_on_bias_bn": True, "augment": "light",
                "label_smoothing": 0.0, "grad_clip": 0.1, "batch": 128},
    "fer2013": {"epochs": 15, "lr": 0.005, "schedule": "cosine", "nesterov": True, "wd": 5e-4,
                "wd_on_bias_bn": False, "augment": "full", "label_smoothing": 0.1, "grad_clip": 0.0,
                "batch": 128},
    "fer2013-frozen": {"epochs": 30, "lr": 0.01, "schedule": "cosine", "nesterov": True, "wd": 5e-4,
                       "dropout": 0.5, "batch": 128, "train_views": "the 10 test crops"},
}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ---------------------------------------------------------------- PNG (grey 8-bit; no PIL needed)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit only)


def _unfilter(raw: bytes, w: int, h: int, bpp: int) -> np.ndarray:
    stride = w * bpp
    buf = np.frombuffer(raw, np.uint8)
    if buf.size != h * (stride + 1):
        raise ValueError(f"PNG data of {buf.size} bytes, expected {h * (stride + 1)}")
    rows = buf.reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for r in range(h):
        ft, line = int(rows[r, 0]), rows[r, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 1:  # Sub: running sum along the row, per channel
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 255
        elif ft == 2:  # Up
            cur = (line + prev) & 255
        elif ft in (3, 4):  # Average, Paeth: sequential
            cur = np.zeros(stride, np.int32)
            lv, pv = line.tolist(), prev.tolist()
            cv = [0] * stride
            for i in range(stride):
                a = cv[i - bpp] if i >= bpp else 0
                b = pv[i]
                if ft == 3:
                    cv[i] = (lv[i] + ((a + b) >> 1)) & 255
                else:
                    c = pv[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                    cv[i] = (lv[i] + pred) & 255
            cur = np.array(cv, np.int32)
        else:
            raise ValueError(f"unknown PNG filter type {ft}")
        out[r] = cur
        prev = cur.astype(np.int32)
    return out


def read_png_grey(path) -> np.ndarray:
    """An 8-bit, non-interlaced PNG as uint8 (H, W) grey (colour converted as PIL's "L" does)."""
    data = Path(path).read_bytes()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, typ = struct.unpack(">I", data[pos:pos + 4])[0], data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
    if ihdr is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in _CHANNELS or interlace:
        raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = _CHANNELS[ctype]
    px = _unfilter(zlib.decompress(b"".join(idat)), w, h, bpp).reshape(h, w, bpp)
    if bpp <= 2:
        return np.ascontiguousarray(px[:, :, 0])
    rgb = px[:, :, :3].astype(np.int64)
    return ((rgb[:, :, 0] * 299 + rgb[:, :, 1] * 587 + rgb[:, :, 2] * 114) // 1000).astype(np.uint8)


def write_png_grey(path, pixels: np.ndarray) -> None:
    """uint8 (H, W) -> an 8-bit grey PNG (filter 0); for tests."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    h, w = pixels.shape

    def chunk(typ: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + typ + body + struct.pack(">I", zlib.crc32(typ + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))
    Path(path).write_bytes(PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _imread(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        return read_png_grey(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), np.uint8)


# ---------------------------------------------------------------- data and folds

@dataclass
class CKData:
    x: np.ndarray        # uint8 (N, 48, 48)
    y: np.ndarray        # int64 (N,), index into CLASSES
    names: list          # "class/file.png", sorted by class, then file name
    subjects: list       # "S010" per image
    root: Path

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update("\n".join(self.names).encode())
        h.update(self.x.tobytes())
        return h.hexdigest()[:16]


def subject_of(filename: str) -> str:
    return Path(filename).name.split("_")[0]


def load_ckplus(root=None) -> CKData:
    root = Path(root) if root else DEFAULT_DATA
    if not root.is_dir():
        raise SystemExit(f"ckplus: no CK+ data at {root} (expected class folders {', '.join(CLASSES)} "
                         f"of 48x48 grey PNGs); pass --data DIR")
    missing = [c for c in CLASSES if not (root / c).is_dir()]
    if missing:
        raise SystemExit(f"ckplus: {root} lacks the class folder(s) {', '.join(missing)}")
    xs, ys, names = [], [], []
    for ci, c in enumerate(CLASSES):
        for f in sorted(p.name for p in (root / c).iterdir() if p.suffix.lower() == ".png"):
            img = _imread(root / c / f)
            if img.shape != (CROP_FROM, CROP_FROM):
                raise SystemExit(f"ckplus: {root / c / f} is {img.shape[1]}x{img.shape[0]}, not {CROP_FROM}x{CROP_FROM}")
            xs.append(img)
            ys.append(ci)
            names.append(f"{c}/{f}")
    if not xs:
        raise SystemExit(f"ckplus: no PNG files under {root}")
    return CKData(np.stack(xs), np.array(ys, np.int64), names, [subject_of(n) for n in names], root)


def reference_folds(y: np.ndarray, k: int = K_FOLDS) -> list[np.ndarray]:
    """Test indices of each fold: the k-th of k contiguous ranges of every class (images in file-name
    order within a class), so every image is tested exactly once."""
    folds = [[] for _ in range(k)]
    for c in np.unique(y):
        for f, part in enumerate(np.array_split(np.flatnonzero(y == c), k)):
            folds[f].extend(part.tolist())
    return [np.array(sorted(f), np.int64) for f in folds]


def subject_assignment(subjects: list, k: int = K_FOLDS) -> list[list[str]]:
    """Subjects of each fold: largest subject first (ties by id), each to the fold with the fewest
    images so far (ties: the lowest fold)."""
    counts = Counter(subjects)
    load, members = [0] * k, [[] for _ in range(k)]
    for s in sorted(counts, key=lambda s: (-counts[s], s)):
        f = min(range(k), key=lambda i: (load[i], i))
        members[f].append(s)
        load[f] += counts[s]
    return [sorted(m) for m in members]


def subject_folds(subjects: list, k: int = K_FOLDS) -> list[np.ndarray]:
    fold_of = {s: f for f, m in enumerate(subject_assignment(subjects, k)) for s in m}
    folds = [[] for _ in range(k)]
    for i, s in enumerate(subjects):
        folds[fold_of[s]].append(i)
    return [np.array(f, np.int64) for f in folds]


def make_folds(protocol: str, data: CKData, k: int = K_FOLDS) -> list[np.ndarray]:
    return reference_folds(data.y, k) if protocol == "reference" else subject_folds(data.subjects, k)


def train_indices(test: np.ndarray, n: int) -> np.ndarray:
    mask = np.ones(n, bool)
    mask[test] = False
    return np.flatnonzero(mask)


# ---------------------------------------------------------------- models

def fer2013_model(base: nn.Module, seed: int) -> nn.Module:
    """A copy of the loaded FER2013 network (VGG19 or ResNet18) with a fresh 7-way classifier for
    CK+'s classes; `base` stays untouched for the next fold."""
    m = copy.deepcopy(base)
    torch.manual_seed(seed)
    m.classifier = nn.Linear(m.classifier.in_features, len(CLASSES))
    return m


def tencrop_probs(model: nn.Module, pixels: np.ndarray, bf16: bool = False) -> torch.Tensor:
    """(N, 7) mean softmax over the 10 crops (evaluate.predict_probs)."""
    return predict_probs(model, pixels, "10crop", batch=100, bf16=bf16)


def confusion(pred: torch.Tensor, y: np.ndarray) -> list[list[int]]:
    k = len(CLASSES)
    return torch.bincount(torch.as_tensor(y) * k + pred, minlength=k * k).view(k, k).tolist()


def train_network(model: nn.Module, x: np.ndarray, y: np.ndarray, recipe: dict, epochs: int, gen: torch.Generator,
                  bf16: bool, max_steps: int = 0) -> int:
    """Trains `model` in place on uint8 (N,48,48) faces; returns the number of steps."""
    model.train()
    model.to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or recipe["wd_on_bias_bn"] else no_decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": recipe["wd"]},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=recipe["lr"], momentum=0.9, nesterov=recipe["nesterov"])
    hooks = []
    if recipe.get("grad_clip"):
        c = recipe["grad_clip"]
        hooks = [p.register_hook(lambda g, c=c: g.clamp(-c, c)) for p in model.parameters()]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n, b = len(yt), recipe["batch"]
    steps_per_epoch = math.ceil(n / b)
    step, lr = 0, recipe["lr"]
    try:
        for epoch in range(epochs):
            if recipe["schedule"] == "step":  # the reference: lr * rate^(epoch - start) after `start`
                e_lr = recipe["lr"] * recipe["decay_rate"] ** max(epoch - recipe["decay_start"], 0)
            perm = torch.randperm(n, generator=gen)
            t0, tot_loss, correct, seen = time.time(), 0.0, 0, 0
            for i in range(steps_per_epoch):
                idx = perm[i * b:(i + 1) * b]
                if len(idx) < 2:  # BatchNorm needs two
                    continue
                lr = e_lr if recipe["schedule"] == "step" else lr_at(step, steps_per_epoch, epochs, recipe["lr"], 0.0)
                for g in opt.param_groups:
                    g["lr"] = lr
                xb = augment(xt[idx], gen, **AUGMENTS[recipe["augment"]]).contiguous(memory_format=torch.channels_last)
                loss, logits = train_step(model, opt, xb, yt[idx], bf16, recipe["label_smoothing"])
                step += 1
                tot_loss += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yt[idx]).sum())
                seen += len(idx)
                if max_steps and step >= max_steps:
                    break
            log(f"  epoch {epoch + 1}/{epochs} loss {tot_loss / max(seen, 1):.4f} acc {correct / max(seen, 1):.4f} "
                f"lr {lr:.5f} {seen / (time.time() - t0):.1f} img/s")
            if max_steps and step >= max_steps:
                break
    finally:
        for h in hooks:
            h.remove()
    model.eval()
    return step


# ---------------------------------------------------------------- frozen features (--head-only)

@torch.no_grad()
def crop_features(backbone: nn.Module, pixels: np.ndarray, bf16: bool = False, batch: int = 100) -> torch.Tensor:
    """(N, 10, 512) features of the 10 crops in evaluate.predict_probs's order (each offset, then its
    mirror): the network up to its classifier, eval mode."""
    net = copy.deepcopy(backbone).eval()
    net.classifier = nn.Identity()
    net.to(memory_format=torch.channels_last)
    x_all = torch.as_tensor(pixels)
    offs = crop_offsets(x_all.shape[-1])
    out = []
    s = INPUT_SIZE
    for i in range(0, len(x_all), batch):
        xb = normalize(x_all[i:i + batch]).unsqueeze(1)
        views = []
        for t, l in offs:
            v = xb[:, :, t:t + s, l:l + s]
            views += [v, v.flip(-1)]
        v = torch.cat(views).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            f = net(v).float()
        out.append(f.view(len(views), -1, f.shape[-1]).transpose(0, 1))
    return torch.cat(out)


def head_probs(head: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """(N, 10, D) crop features -> (N, 7) mean softmax over the crops."""
    head.eval()
    with torch.no_grad():
        return F.softmax(head(feats), dim=-1).mean(1)


def train_head(feats: torch.Tensor, y: np.ndarray, recipe: dict, epochs: int, gen: torch.Generator,
               max_steps: int = 0) -> tuple[nn.Module, int]:
    """A fresh Linear D->7 (dropout before it) on every (image, crop) pair of the training images."""
    n, v, d = feats.shape
    xs = feats.reshape(n * v, d)
    ys = torch.from_numpy(y).repeat_interleave(v)
    head = nn.Linear(d, len(CLASSES))
    opt = torch.optim.SGD([{"params": [head.weight], "weight_decay": recipe["wd"]},
                           {"params": [head.bias], "weight_decay": 0.0}],
                          lr=recipe["lr"], momentum=0.9, nesterov=recipe["nesterov"])
    b = recipe["batch"]
    steps_per_epoch = math.ceil(len(ys) / b)
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(len(ys), generator=gen)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * b:(i + 1) * b]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps_per_epoch, epochs, recipe["lr"], 0.0)
            keep = (torch.rand(len(idx), d, generator=gen) >= recipe["dropout"]).float() / (1 - recipe["dropout"])
            loss = F.cross_entropy(head(xs[idx] * keep), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            step += 1
            if max_steps and step >= max_steps:
                break
        if epoch == 0 or (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            log(f"  head epoch {epoch + 1}/{epochs} loss {tot / len(ys):.4f}")
        if max_steps and step >= max_steps:
            break
    return head.eval(), step


def features_for(weights: Path, model: nn.Module, data: CKData, bf16: bool,
                 cache_root: Path) -> tuple[torch.Tensor, float]:
    """The crop features of every image by `model` (loaded from `weights`), cached per (weights, data,
    precision)."""
    key = f"{sha256_file(weights)[:16]}-{data.fingerprint()}-{'bf16' if bf16 else 'f32'}"
    path = cache_root / f"features-{key}.pt"
    if path.exists():
        d = torch.load(path, map_location="cpu")
        log(f"crop features from {path}")
        return d["feats"], d["seconds"]
    t0 = time.time()
    log(f"computing the 10-crop features of {len(data.y)} images with {weights} ...")
    feats = crop_features(model, data.x, bf16)
    secs = time.time() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"feats": feats, "seconds": secs, "weights": str(weights)}, tmp)
    os.replace(tmp, path)
    log(f"features {tuple(feats.shape)} in {secs:.1f} s -> {path}")
    return feats, secs


# ---------------------------------------------------------------- results

def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def dumps(obj, indent: int = 0) -> str:
    """JSON with lists of scalars on one line (confusion rows, subject lists)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return json.dumps(obj)
        return "[\n" + ",\n".join(inner + dumps(v, indent + 2) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def merge_entry(out: Path, entry: dict) -> dict:
    """Put `entry` into out's "protocols", replacing the one with the same protocol and init."""
    doc = {"protocols": []}
    if out.exists():
        try:
            doc = json.loads(out.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"ckplus: {out} is not valid JSON ({e}); not overwriting it")
    # Entries without "network" are the VGG19's (written before other networks could be scored).
    def key(e: dict) -> tuple:
        return e.get("network", "vgg19"), e.get("protocol"), e.get("init")
    kept = [e for e in doc.get("protocols", []) if key(e) != key(entry)]
    order = {(p, i): n for n, (p, i) in enumerate((p, i) for p in PROTOCOLS for i in INITS)}
    doc["protocols"] = sorted(kept + [entry], key=lambda e: (e.get("network", "vgg19") != "vgg19", e.get("network", "vgg19"),
                                                             order.get((e.get("protocol"), e.get("init")), 99)))
    atomic_write_text(out, dumps(doc) + "\n")
    return doc


def build_entry(protocol: str, init: str, results: list[dict], config: dict, command: str,
                extra_seconds: float) -> dict:
    results = sorted(results, key=lambda r: r["fold"])
    done = {r["fold"] for r in results}
    complete = done == set(range(K_FOLDS))
    cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    for r in results:
        cm += np.array(r["confusion"], np.int64)
    n = sum(r["n"] for r in results)
    correct = sum(r["correct"] for r in results)
    entry = {"protocol": protocol, "init": init, "complete": complete}
    if config.get("network", "vgg19") != "vgg19":
        entry["network"] = config["network"]
    if complete:
        accs = [r["accuracy"] for r in results]
        entry["mean"] = round(float(np.mean(accs)), 4)
        entry["std"] = round(float(np.std(accs)), 4)
    entry.update({
        "pooled_accuracy": round(correct / n, 4) if n else None,
        "mean_center_crop": round(float(np.mean([r["accuracy_center"] for r in results])), 4) if complete else None,
        "folds_done": len(results),
        "n": n,
        "classes": list(CLASSES),
        "confusion": cm.tolist(),
        "folds": [{k: r[k] for k in ("fold", "n", "accuracy", "accuracy_center", "test_subjects",
                                     "test_subjects_also_in_train", "seconds") if k in r} for r in results],
        "fold_scheme": config["fold_scheme"],
        "epochs": config["epochs"],
        "recipe": config["recipe"],
        "precision": config["precision"],
        "command": command,
        "wall_seconds": round(sum(r["seconds"] for r in results) + extra_seconds, 1),
        "threads": config["threads"],
        "data": config["data"],
    })
    if entry["mean_center_crop"] is None:
        del entry["mean_center_crop"]
    if config.get("init_weights"):
        entry["init_weights"] = config["init_weights"]
    if config.get("max_steps"):
        entry["max_steps"] = config["max_steps"]
    if extra_seconds:
        entry["feature_seconds"] = round(extra_seconds, 1)
    return entry


FOLD_SCHEMES = {
    "reference": "per class, images sorted by file name, 10 contiguous ranges (numpy.array_split); "
                 "fold k tests range k of every class",
    "subject": "subjects dealt largest first (image count, then id) to the fold with the fewest images "
               "(ties: lowest fold); no subject in both train and test",
}


# ---------------------------------------------------------------- main

def parse_folds(s: str | None) -> list[int]:
    if not s:
        return list(range(K_FOLDS))
    folds = sorted({int(v) for v in s.split(",") if v.strip()})
    if any(f < 0 or f >= K_FOLDS for f in folds):
        raise SystemExit(f"ckplus: --folds takes 0..{K_FOLDS - 1}")
    return folds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="reference", choices=PROTOCOLS)
    ap.add_argument("--init", default=None, choices=INITS,
                    help="default: scratch for --protocol reference, fer2013 for subject")
    ap.add_argument("--from-scratch", action="store_true", help="= --init scratch")
    ap.add_argument("--head-only", action="store_true", help="= --init fer2013-frozen")
    ap.add_argument("--data", default=None, help=f"CK+48 class folders (default {DEFAULT_DATA})")
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="FER2013 model for --init fer2013*")
    ap.add_argument("--folds", default=None, help="comma-separated subset of 0..9 (default all)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's (60 / 15 / 30)")
    ap.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--augment", default=None, choices=list(AUGMENTS), help="default: the recipe's")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=0, help="stop each fold's training after N steps (tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16"],
                    help="bf16 autocast for training and test (f32: the default; faster without AMX)")
    ap.add_argument("--seed", type=int, default=0, help="fold k uses seed+k")
    ap.add_argument("--run", default=None, help="results in <cache>/<run>/ (default <protocol>-<init>)")
    ap.add_argument("--cache-dir", default=str(CACHE_ROOT))
    ap.add_argument("--fresh", action="store_true", help="discard this run's finished folds")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON to merge this protocol's entry into ('' = none)")
    ap.add_argument("--export-fold", type=int, default=None, metavar="K", help="export fold K's trained model")
    ap.add_argument("--export-out", default=None,
                    help="default Models/<network>-ckplus-<protocol>-<init>-fold<K>.safetensors")
    a = ap.parse_args(argv)

    init = a.init or ("scratch" if a.protocol == "reference" else "fer2013")
    if a.from_scratch and a.head_only:
        raise SystemExit("ckplus: --from-scratch and --head-only exclude each other")
    init = "scratch" if a.from_scratch else "fer2013-frozen" if a.head_only else init
    recipe = dict(RECIPES[init])
    for k in ("lr", "augment", "batch"):
        if getattr(a, k) is not None:
            if k not in recipe:
                raise SystemExit(f"ckplus: --{k} does not apply to --init {init}")
            recipe[k] = getattr(a, k)
    epochs = a.epochs if a.epochs is not None else recipe.pop("epochs")
    recipe.pop("epochs", None)
    folds = parse_folds(a.folds)
    if a.export_fold is not None and a.export_fold not in folds:
        raise SystemExit(f"ckplus: --export-fold {a.export_fold} is not among --folds {folds}")
    torch.set_num_threads(a.threads)
    bf16 = a.precision == "bf16"
    command = "python3 training/ckplus.py " + " ".join(shlex.quote(v) for v in (sys.argv[1:] if argv is None else argv))

    t_load = time.time()
    data = load_ckplus(a.data)
    n_all = len(data.y)
    log(f"CK+: {n_all} images, {len(set(data.subjects))} subjects from {data.root} ({time.time() - t_load:.1f} s); "
        f"protocol {a.protocol}, init {init}, {epochs} epochs, folds {folds}, {a.threads} threads, {a.precision}")
    weights = Path(a.weights)
    if init != "scratch" and not weights.exists():
        raise SystemExit(f"ckplus: no FER2013 weights at {weights} (--weights)")
    # Loaded once; every fold starts from a copy. --init scratch is the reference's VGG19 recipe.
    base = load_safetensors(weights)[0] if init != "scratch" else None
    network = arch_of(base) if base is not None else "vgg19"
    config = {"protocol": a.protocol, "init": init, "epochs": epochs, "recipe": recipe, "seed": a.seed,
              "max_steps": a.max_steps, "precision": a.precision, "threads": a.threads,
              "data": str(data.root), "data_fingerprint": data.fingerprint(),
              "fold_scheme": FOLD_SCHEMES[a.protocol]}
    if network != "vgg19":
        config["network"] = network
    if init != "scratch":
        config["init_weights"] = {"path": str(weights), "sha256": sha256_file(weights)}
    same = ("protocol", "init", "epochs", "recipe", "seed", "max_steps", "precision", "data_fingerprint", "init_weights")

    run_dir = Path(a.cache_dir) / (a.run or (f"{a.protocol}-{init}" + ("" if network == "vgg19" else f"-{network}")))
    run_dir.mkdir(parents=True, exist_ok=True)
    if a.fresh:
        for p in run_dir.glob("fold-*"):
            p.unlink()
    test_sets = make_folds(a.protocol, data)
    feats, feat_secs = (None, 0.0)
    if init == "fer2013-frozen":
        feats, feat_secs = features_for(weights, base, data, bf16, Path(a.cache_dir))
    export_out = Path(a.export_out) if a.export_out else (
        REPO_ROOT / "Models" / f"{network}-ckplus-{a.protocol}-{init}-fold{a.export_fold}.safetensors")

    results = {}
    for p in sorted(run_dir.glob("fold-*.json")):
        r = json.loads(p.read_text())
        diff = [k for k in same if r["config"].get(k) != config.get(k)]
        if diff:
            raise SystemExit(f"ckplus: {p} was made with another configuration ({', '.join(diff)} differ); "
                             f"use --run NAME for a new run or --fresh to discard it")
        results[r["fold"]] = r

    for k in folds:
        if k in results:
            log(f"fold {k}: done earlier, accuracy {results[k]['accuracy']:.4f} ({run_dir / f'fold-{k}.json'})")
            if k == a.export_fold:
                if not (run_dir / f"fold-{k}.safetensors").exists():
                    raise SystemExit(f"ckplus: fold {k} finished earlier without keeping its weights; delete "
                                     f"{run_dir / f'fold-{k}.json'} to train it again with --export-fold {k}")
                _copy_export(run_dir / f"fold-{k}.safetensors", export_out)
            continue
        t0 = time.time()
        test = test_sets[k]
        train = train_indices(test, n_all)
        gen = torch.Generator()
        seed_all(a.seed + k, gen, gen)
        test_subj = sorted({data.subjects[i] for i in test})
        train_subj = {data.subjects[i] for i in train}
        log(f"fold {k}: train {len(train)}, test {len(test)} images of {len(test_subj)} subjects")
        if init == "fer2013-frozen":
            head, steps = train_head(feats[train], data.y[train], recipe, epochs, gen, a.max_steps)
            probs = head_probs(head, feats[test])
            center = head_probs(head, feats[test][:, 8:9])  # view 8: the centre crop, unmirrored
            model = None
            if k == a.export_fold:
                model = copy.deepcopy(base)
                model.classifier = head
        else:
            model = build("vgg19", num_classes=len(CLASSES)) if init == "scratch" else fer2013_model(base, a.seed + k)
            steps = train_network(model, data.x[train], data.y[train], recipe, epochs, gen, bf16, a.max_steps)
            probs = tencrop_probs(model, data.x[test], bf16)
            center = predict_probs(model, data.x[test], "center", batch=100, bf16=bf16)
        pred = probs.argmax(1)
        correct = int((pred == torch.from_numpy(data.y[test])).sum())
        r = {"fold": k, "n": len(test), "correct": correct, "accuracy": round(correct / len(test), 4),
             "accuracy_center": round(float((center.argmax(1) == torch.from_numpy(data.y[test])).float().mean()), 4),
             "test_subjects": test_subj,
             "test_subjects_also_in_train": sum(s in train_subj for s in test_subj),
             "confusion": confusion(pred, data.y[test]), "train_images": len(train), "steps": steps,
             "seconds": round(time.time() - t0, 1), "config": config}
        if model is not None and k == a.export_fold:
            path = run_dir / f"fold-{k}.safetensors"
            export_fold_model(model, data.x[train], path, {
                "dataset": "CK+48", "protocol": a.protocol, "init": init, "fold": k, "epochs": epochs,
                "test_subjects": ",".join(test_subj), "ckplus_fold_10crop": f"{r['accuracy']:.4f}"}, arch=network)
            _copy_export(path, export_out)
        atomic_write_text(run_dir / f"fold-{k}.json", json.dumps(r, indent=1) + "\n")
        results[k] = r
        log(f"fold {k}: 10-crop accuracy {r['accuracy']:.4f} ({correct}/{len(test)}), centre {r['accuracy_center']:.4f}, "
            f"{steps} steps, {r['seconds']:.1f} s")

    entry = build_entry(a.protocol, init, list(results.values()), config, command, feat_secs)
    if entry["complete"]:
        log(f"{a.protocol}/{init}: mean {entry['mean']:.4f} (std {entry['std']:.4f}), pooled {entry['pooled_accuracy']:.4f}, "
            f"{entry['wall_seconds']:.0f} s")
    else:
        log(f"{a.protocol}/{init}: {entry['folds_done']}/{K_FOLDS} folds done, pooled {entry['pooled_accuracy']:.4f}")
    if a.out:
        merge_entry(Path(a.out), entry)
        log(f"merged into {a.out}")
    return entry


def export_fold_model(model: nn.Module, train_pixels: np.ndarray, path: Path, meta: dict, arch: str = "vgg19") -> None:
    """export.py's f16 file with CK+'s class list and int8 ranges from the fold's training images."""
    model = model.float().eval()
    meta = dict(meta)
    meta["classes"] = ",".join(CLASSES)
    meta["int8_act_max"] = ",".join(f"{v:.5g}" for v in activation_maxima(model, train_pixels))
    meta["int8_calibration"] = (f"max of each conv output over the fold's {len(train_pixels)} CK+ training "
                                f"images (centre crop and mirror)")
    export_model(model.state_dict(), path, meta, arch=arch)


def _copy_export(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, dst)
    log(f"exported to {dst}")


if __name__ == "__main__":
    main()
