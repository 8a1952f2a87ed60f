"""Train VGG19-FER (or, with --arch resnet18, ResNet18-FER) on FER2013 Training (eager, channels_last; bf16 autocast where it pays).

Checkpoints every epoch to ~/.cache/fer-stream/train/<run>/last.pt and keeps best.pt (EMA weights
with the best PublicTest centre-crop accuracy). Resumes from last.pt automatically; otherwise
initialises from Models/<arch>-fer2013.safetensors when it exists.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "active")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fer2013  # noqa: E402
import ferplus  # noqa: E402
from evaluate import metrics, predict_probs  # noqa: E402
from model import ARCHS, INPUT_SIZE, NORM_MEAN, NORM_STD, arch_from_metadata, build, load_safetensors  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = REPO_ROOT / "Models"
TRAIN_ROOT = Path.home() / ".cache" / "fer-stream" / "train"


# ---------------------------------------------------------------- augmentation (batched, on tensors)

def augment(pixels: torch.Tensor, gen: torch.Generator, affine: bool = True, erase_p: float = 0.5) -> torch.Tensor:
    """pixels: uint8 (B,48,48). Returns normalised (B,1,44,44) f32.

    Small random affine (rotation ±10°, scale 0.9–1.1) on the 48×48, random 44×44 crop,
    horizontal mirror, then random erasing (p=erase_p, filled with 0 = the normalised mean).
    Runs where `pixels` and `gen` live (both on the GPU for a CUDA run: no per-batch host work)."""
    b, h, w = pixels.shape
    dev = pixels.device
    rand = lambda *size: torch.rand(*size, generator=gen, device=dev)  # noqa: E731
    x = pixels.float().unsqueeze(1)
    if affine:
        ang = (rand(b) * 2 - 1) * math.radians(10)
        scale = 0.9 + 0.2 * rand(b)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    s = INPUT_SIZE
    top = torch.randint(0, h - s + 1, (b,), generator=gen, device=dev)
    left = torch.randint(0, w - s + 1, (b,), generator=gen, device=dev)
    ar = torch.arange(s, device=dev)
    rows = (top[:, None] + ar)[:, :, None]
    cols = (left[:, None] + ar)[:, None, :]
    flip = rand(b) < 0.5
    cols = torch.where(flip[:, None, None], (left[:, None] + (s - 1 - ar))[:, None, :], cols)
    x = x[:, 0][torch.arange(b, device=dev)[:, None, None], rows, cols]  # (B,44,44)
    x = (x / 255.0 - NORM_MEAN) / NORM_STD
    if erase_p > 0:
        area = s * s * (0.02 + (0.33 - 0.02) * rand(b))
        logr = math.log(0.3) + (math.log(3.3) - math.log(0.3)) * rand(b)
        ratio = torch.exp(logr)
        eh = torch.sqrt(area * ratio).round().clamp(1, s - 1).long()
        ew = torch.sqrt(area / ratio).round().clamp(1, s - 1).long()
        et = (rand(b) * (s - eh + 1)).long()
        el = (rand(b) * (s - ew + 1)).long()
        on = rand(b) < erase_p
        r = ar[None, :, None]
        c = ar[None, None, :]
        mask = ((r >= et[:, None, None]) & (r < (et + eh)[:, None, None])
                & (c >= el[:, None, None]) & (c < (el + ew)[:, None, None]) & on[:, None, None])
        x = x.masked_fill(mask, 0.0)
    return x.unsqueeze(1)


# "affine": rotation and scale without random erasing, for short schedules, where erasing
# keeps the network from fitting in the few epochs there are.
AUGMENTS = {"full": {}, "affine": {"erase_p": 0.0}, "light": {"affine": False, "erase_p": 0.0}}


# ---------------------------------------------------------------- precision

def cpu_has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def use_bf16(precision: str, device: str) -> bool:
    # Without AMX, PyTorch's bf16 convolutions (avx512_core_bf16) are slower than f32 on this model:
    # 39.7 vs 55.6 images/s at batch 128 on a 2-core VM whose CPU exposes no AMX
    # (benchmarks/training_speed.py).
    if precision != "auto":
        return precision == "bf16"
    return device == "cuda" or cpu_has_amx()


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
               bf16: bool, label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch; returns (loss, logits). Shared by the training loop and the benchmark."""
    with torch.autocast(device_type=xb.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(xb)
    loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logits


# ---------------------------------------------------------------- schedule / EMA

def lr_at(step: int, steps_per_epoch: int, epochs: int, peak: float, warmup_epochs: float,
          cycle_start: int | None = None, cycle_epochs: int | None = None,
          swa_epoch: int | None = None, swa_lr: float = 0.0) -> float:
    """Linear warm-up, then cosine to 0 at `epochs`. With `cycle_start` (an epoch), a warm restart
    (SGDR): the cosine starts afresh at `peak` on that epoch, with no warm-up, and still ends at `epochs`;
    with `cycle_epochs` too, it restarts every `cycle_epochs` epochs from there (short cycles whose
    ends are snapshots for average.py). With `swa_epoch` (SWA, Izmailov et al. 2018), the cosine
    ends at `swa_lr` on that epoch instead, and the lr stays there to the end."""
    if cycle_start is None:
        origin = warmup_epochs * steps_per_epoch
        if step < origin:
            return peak * (step + 1) / origin
    else:
        origin = cycle_start * steps_per_epoch
    if swa_epoch is not None and cycle_start is None:
        end = swa_epoch * steps_per_epoch
        if step >= end:
            return swa_lr
        t = (step - origin) / max(end - origin, 1)
        return swa_lr + (peak - swa_lr) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
    length = epochs * steps_per_epoch - origin
    if cycle_start is not None and cycle_epochs and step >= origin:
        length = cycle_epochs * steps_per_epoch
        origin += (step - origin) // length * length  # the start of the current short cycle
    t = (step - origin) / max(length, 1)
    return peak * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def ends_cycle(epoch: int, epochs: int, cycle_start: int | None, cycle_epochs: int | None) -> bool:
    """Whether the lr schedule reaches the end of a cycle (lr ~ 0) at the end of `epoch` (1-based)."""
    if epoch == epochs:
        return True
    return cycle_start is not None and bool(cycle_epochs) and (epoch - cycle_start) % cycle_epochs == 0


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    # Early on the average is warmed up (TF-style min(decay, (1+n)/(10+n))) so the EMA is usable
    # after the first epoch; it reaches `decay` after ~9,000 steps.
    d = min(decay, (1 + step) / (10 + step))
    # foreach: a few kernels per step instead of two per tensor (it matters on a GPU)
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1 - d)
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))
    else:  # an older torch than the pinned one (a device image's)
        for be, bm in zip(ema.buffers(), model.buffers()):
            be.copy_(bm)


def swa_start_epoch(epochs: int, fraction: float, warmup_epochs: float) -> int | None:
    """The epoch after which --swa-start's constant-lr phase begins (None: no SWA)."""
    if fraction <= 0:
        return None
    return min(max(int(round(fraction * epochs)), math.ceil(warmup_epochs)), epochs - 1)


@torch.no_grad()
def swa_update(swa: dict | None, n: int, model: torch.nn.Module) -> dict:
    """Running mean of the model's floating tensors over the n snapshots so far plus this one."""
    sd = {k: v.detach().float().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    if swa is None:
        return sd
    for k, v in sd.items():
        swa[k].add_(v - swa[k], alpha=1.0 / (n + 1))
    return swa


def horizon_from_budget(epochs_done: int, cap: int, elapsed_s: float, epoch_s: float, budget_s: float,
                        margin: float = 0.93) -> int:
    """The number of epochs a run of `budget_s` seconds can finish, given that `epochs_done` took it
    to `elapsed_s` and one epoch takes `epoch_s`; at least one more epoch, at most `cap`."""
    more = int(max(budget_s - elapsed_s, 0.0) * margin // max(epoch_s, 1e-9))
    return max(epochs_done + 1, min(cap, epochs_done + more))


# ---------------------------------------------------------------- checkpointing

def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(gen: torch.Generator, aug_gen: torch.Generator) -> dict:
    st = {"torch": torch.get_rng_state(), "gen": gen.get_state(), "numpy": np.random.get_state(),
          "python": random.getstate()}
    if aug_gen is not gen:
        st["aug_gen"] = aug_gen.get_state()
        st["cuda"] = torch.cuda.get_rng_state()  # dropout masks
    return st


def seed_all(seed: int, gen: torch.Generator, aug_gen: torch.Generator) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too
    gen.manual_seed(seed)
    aug_gen.manual_seed(seed)


def set_rng_state(st: dict, gen: torch.Generator, aug_gen: torch.Generator) -> None:
    torch.set_rng_state(st["torch"])
    gen.set_state(st["gen"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if aug_gen is not gen and "aug_gen" in st:
        aug_gen.set_state(st["aug_gen"])
        torch.cuda.set_rng_state(st["cuda"])


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load_teacher(path: str) -> dict[int, np.ndarray]:
    """`fer-stream eval --probabilities` output: {data row: probabilities}."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[0] != "row" or len(header) != 8:
            raise SystemExit(f"{path}: expected a header 'row' and 7 classes, not {header}")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    return {int(r[0]): r[1:].astype(np.float32) for r in table}


def distillation_targets(labels: torch.Tensor, rows: torch.Tensor, teacher: dict[int, np.ndarray],
                         weight: float) -> torch.Tensor:
    """(1-weight) x the labels (class indices, or (N,7) votes) + weight x the teacher's probabilities
    of the same faces: soft cross-entropy against it is the two losses weighted."""
    missing = [int(r) for r in rows if int(r) not in teacher]
    if missing:
        raise SystemExit(f"the teacher has no probabilities for {len(missing)} Training rows (first: {missing[0]})")
    t = torch.from_numpy(np.stack([teacher[int(r)] for r in rows]))
    t = t / t.sum(1, keepdim=True)
    y = labels if labels.ndim == 2 else F.one_hot(labels.long(), t.shape[1]).float()
    return (1 - weight) * y.float() + weight * t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", default="main", help="run name: ~/.cache/fer-stream/train/<run>/")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument("--cycle-start", type=int, default=None,
                    help="warm restart: a fresh cosine from --lr at this epoch (normally the epoch of the "
                         "--init weights) down to 0 at --epochs, without warm-up")
    ap.add_argument("--cycle-epochs", type=int, default=None,
                    help="with --cycle-start: restart the cosine every N epochs (SGDR with a fixed period)")
    ap.add_argument("--snapshots", action="store_true",
                    help="keep the optimised weights at the end of each cycle as <run dir>/snapshot-e<N>.pt "
                         "(inputs for average.py)")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--ema-decay", type=float, default=0.999)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--augment", default="full", choices=list(AUGMENTS),
                    help="full: rotation, scale, crop, mirror, random erasing; light: the reference's "
                         "random crop and mirror only (for fine-tuning on crops like those tested); affine: full "
                         "without random erasing (short schedules)")
    ap.add_argument("--data", default=None, help="FER2013 CSV (plain/gzip) or compact .npz")
    ap.add_argument("--targets", default="fer2013", choices=["fer2013", "ferplus"],
                    help="fer2013: its one label per face; ferplus: the FER+ annotators' vote distribution "
                         "(soft cross-entropy; faces whose top vote is unknown, not-a-face or contempt left "
                         "out), chosen on PublicTest FER+ majority; the schedule starts at epoch 0 from --init")
    ap.add_argument("--freeze-convs", type=int, default=0, metavar="K",
                    help="keep the first K convolutions (and their BatchNorm statistics) as loaded: no "
                         "backward pass through them (VGG19: 8 = stages 1-3, about 1.7x the images/s)")
    ap.add_argument("--ferplus", default=None, help="fer2013plus.csv (default ../shared/data/ferplus/)")
    ap.add_argument("--teacher", default=None, metavar="CSV",
                    help="distillation: a teacher's probabilities on the Training rows, as `fer-stream eval "
                         "--split Training --probabilities CSV` writes them (row, then one column per class); "
                         "the target becomes (1-W) x the labels (or votes) + W x the teacher's")
    ap.add_argument("--teacher-weight", type=float, default=0.7, metavar="W")
    ap.add_argument("--dropout", type=float, default=0.5, help="before the classifier")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16"],
                    help="auto: bf16 autocast on CUDA or a CPU with AMX, else f32 (measured faster there)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="vgg19", choices=list(ARCHS),
                    help="the network: the reference's VGG19 (default) or ResNet18")
    ap.add_argument("--init", default=None,
                    help="exported model to start from when no last.pt exists ('' = none)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N Training rows (tests)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps this session (benchmark/tests)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--ckpt-every", type=int, default=40,
                    help="also checkpoint every N steps inside an epoch (a stopped session loses at most N steps)")
    ap.add_argument("--run-dir", default=None, help="override the run directory")
    ap.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                    help="a from-scratch run that must end within SECONDS of its start: after its first "
                         "epoch the horizon (--epochs, then a cap) is cut to what fits, so the cosine still "
                         "reaches 0; training stops at the deadline whatever happens (a device run: the cut is "
                         "timed on the first epoch's wall clock, so on a machine shared with other work, where that "
                         "epoch runs slow, it cuts far too much; give --epochs instead)")
    ap.add_argument("--swa-start", type=float, default=0.0, metavar="FRACTION",
                    help="SWA: the cosine ends at --swa-lr after FRACTION of the epochs, then the lr stays "
                         "there and the weights at each later epoch end are averaged into last.pt's 'swa' "
                         "(BatchNorm statistics to be recomputed: average.recalibrate_bn)")
    ap.add_argument("--swa-lr", type=float, default=0.002)
    ap.add_argument("--last-every", type=int, default=1,
                    help="write last.pt every N epochs (0: only at the end; a device run, where resuming "
                         "is moot and each 240 MB write costs a fraction of an epoch)")
    a = ap.parse_args(argv)
    if a.init is None:
        a.init = str(MODELS / f"{a.arch}-fer2013.safetensors")

    t_start = time.time()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels once
    run_dir = Path(a.run_dir) if a.run_dir else TRAIN_ROOT / a.run
    run_dir.mkdir(parents=True, exist_ok=True)
    last_p, best_p, log_p = run_dir / "last.pt", run_dir / "best.pt", run_dir / "log.jsonl"

    gen = torch.Generator()  # data order (on the CPU)
    # Augmentations are drawn where they are applied: on a GPU from a generator of its own.
    aug_gen = gen if dev.type == "cpu" else torch.Generator(device=dev)
    seed_all(a.seed, gen, aug_gen)

    data = fer2013.load(a.data)
    x_tr, y_tr = (torch.from_numpy(v) for v in data["Training"])
    x_pub, y_pub = data["PublicTest"]
    train_rows = torch.arange(len(y_tr))  # each face's data row (Training comes first in the file)
    if a.targets == "ferplus":
        # y_tr becomes (N,7) vote distributions: F.cross_entropy takes class probabilities as targets.
        fp = ferplus.load(a.ferplus, {k: len(v[1]) for k, v in data.items()})
        tr, pub = fp["Training"], fp["PublicTest"]
        keep = ferplus.trainable(tr)
        train_rows = torch.from_numpy(tr["index"][keep])
        x_tr = x_tr[train_rows]
        y_tr = torch.from_numpy(tr["targets"][keep])
        x_pub, y_pub = ferplus.top_vote_faces(x_pub, pub)
        a.label_smoothing = 0.0  # the votes are already soft
    if a.teacher:
        y_tr = distillation_targets(y_tr, train_rows, load_teacher(a.teacher), a.teacher_weight)
        a.label_smoothing = 0.0  # the teacher's probabilities are soft already
    if a.limit:
        x_tr, y_tr = x_tr[:a.limit], y_tr[:a.limit]
    x_tr, y_tr = x_tr.to(dev), y_tr.to(dev)  # 66 MB: the whole set stays on the device
    n = x_tr.shape[0]
    steps_per_epoch = n // a.batch  # drop the last partial batch
    bf16 = use_bf16(a.precision, a.device)
    log(f"{a.arch}: Training {n} images, {steps_per_epoch} steps/epoch, PublicTest {len(y_pub)}, "
        f"{'bf16 autocast' if bf16 else 'f32'}; run dir {run_dir}")

    if last_p.exists():
        # A resumed run keeps the network it was started with.
        a.arch = torch.load(last_p, map_location="cpu", weights_only=False)["args"].get("arch", "vgg19")
    model = build(a.arch, dropout=getattr(a, "dropout", 0.5)).to(dev).to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    ema = copy.deepcopy(model)
    start_epoch, step, best = 0, 0, {"acc": -1.0, "epoch": -1}
    partial = None  # position inside an interrupted epoch
    horizon = None  # the number of epochs, once --time-budget has fixed it
    swa, swa_n = None, 0  # running mean of the weights at the epoch ends of the SWA phase

    if last_p.exists():
        ck = torch.load(last_p, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step, best = ck["epoch"], ck["step"], ck["best"]
        set_rng_state(ck["rng"], gen, aug_gen)
        if ck.get("horizon"):
            horizon = a.epochs = ck["horizon"]  # fixed once by --time-budget; a resumed run keeps it
        swa, swa_n = ck.get("swa_state"), ck.get("swa_n", 0)
        if swa is not None:
            swa = {k: v.to(dev) for k, v in swa.items()}
        partial = ck.get("partial")
        if partial:
            log(f"resuming inside epoch {start_epoch + 1} at step {partial['i']}/{steps_per_epoch}")
        log(f"resumed from {last_p} at epoch {start_epoch} (best PublicTest {best['acc']:.4f} @ {best['epoch']})")
    elif a.init and Path(a.init).exists():
        m0, meta = load_safetensors(a.init)
        if arch_from_metadata(meta) != a.arch:
            raise SystemExit(f"--init {a.init} holds a {arch_from_metadata(meta)}, not a {a.arch}")
        model.load_state_dict(m0.state_dict())
        ema.load_state_dict(m0.state_dict())
        # A FER+ run is a new task from these weights: its own schedule from epoch 0.
        start_epoch = 0 if a.targets == "ferplus" else int(meta.get("epoch", 0))
        step = start_epoch * steps_per_epoch
        # A run from weights of epoch E draws its own data order, augmentations and dropout masks;
        # with the plain seed every warm restart would replay the first run's epochs 1, 2, ...
        seed_all(a.seed + 1000 * start_epoch, gen, aug_gen)
        log(f"initialised model and EMA from {a.init}; continuing at epoch {start_epoch}")
    ema.eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    frozen_bns = []
    if a.freeze_convs:
        if a.arch != "vgg19":
            raise SystemExit("--freeze-convs applies to the VGG19")
        for i in range(a.freeze_convs):
            for m in (getattr(model, f"conv{i}"), getattr(model, f"bn{i}")):
                m.requires_grad_(False)
            frozen_bns.append(getattr(model, f"bn{i}"))
        log(f"convolutions 0-{a.freeze_convs - 1} frozen")

    def resume_state(epochs_done: int, **more) -> dict:
        """What last.pt holds: enough to resume the run exactly (inside an epoch with `partial`)."""
        ck = {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
              "epoch": epochs_done, "step": step, "best": best, "rng": rng_state(gen, aug_gen),
              "args": vars(a), "horizon": horizon, **more}
        if swa is not None:
            # 'swa' as average.py writes it (a full state dict, BN statistics still to be recomputed);
            # 'swa_state' is the running mean itself, for resuming.
            ck["swa"] = {**model.state_dict(), **swa}
            ck["swa_state"], ck["swa_n"] = swa, swa_n
        return ck

    stop = False
    epoch = start_epoch
    while epoch < a.epochs and not stop:
        t_epoch = time.time()
        model.train()
        for m in frozen_bns:
            m.eval()  # frozen layers keep their running statistics
        resumed_fraction = 0.0
        if partial:
            perm, first = partial["perm"], partial["i"]
            resumed_fraction = first / steps_per_epoch
            tot_loss, tot_correct, seen = partial["loss"], partial["correct"], partial["seen"]
            t0 = time.time() - partial["elapsed"]
            partial = None
        else:
            perm, first = torch.randperm(n, generator=gen), 0
            tot_loss, tot_correct, seen = 0.0, 0, 0
            t0 = time.time()
        # The order on the device too: a host-to-device copy of each batch's indices would wait for
        # the GPU's queue every step. Likewise the sums are kept there and read at log points only.
        perm_dev = perm.to(dev)
        swa_epoch = swa_start_epoch(a.epochs, a.swa_start, a.warmup_epochs)
        run_loss = torch.zeros((), device=dev)
        run_correct = torch.zeros((), dtype=torch.long, device=dev)

        def flush():
            nonlocal tot_loss, tot_correct, run_loss, run_correct
            tot_loss += run_loss.item()
            tot_correct += run_correct.item()
            run_loss.zero_()
            run_correct.zero_()

        for i in range(first, steps_per_epoch):
            idx = perm_dev[i * a.batch:(i + 1) * a.batch]
            xb = augment(x_tr[idx], aug_gen, **AUGMENTS[a.augment]).contiguous(memory_format=torch.channels_last)
            yb = y_tr[idx]
            lr = lr_at(step, steps_per_epoch, a.epochs, a.lr, a.warmup_epochs, a.cycle_start, a.cycle_epochs,
                       swa_epoch, a.swa_lr)
            for g in opt.param_groups:
                g["lr"] = lr
            loss, logits = train_step(model, opt, xb, yb, bf16, a.label_smoothing)
            ema_update(ema, model, step, a.ema_decay)
            step += 1
            run_loss += loss.detach() * len(yb)
            run_correct += (logits.argmax(1) == (yb.argmax(1) if yb.ndim == 2 else yb)).sum()
            seen += len(yb)
            if (i + 1) % 25 == 0 or i == 0:
                flush()
                log(f"epoch {epoch + 1} step {i + 1}/{steps_per_epoch} loss {tot_loss / seen:.4f} "
                    f"acc {tot_correct / seen:.4f} lr {lr:.5f} {seen / (time.time() - t0):.1f} img/s")
            if a.max_steps and i + 1 >= a.max_steps:
                break
            if a.time_budget and time.time() - t_start > a.time_budget:
                log(f"time budget of {a.time_budget:.0f} s spent at step {i + 1} of epoch {epoch + 1}: stopping")
                stop = True
                break
            if a.ckpt_every and (i + 1) % a.ckpt_every == 0 and i + 1 < steps_per_epoch:
                flush()
                atomic_save(resume_state(epoch, partial={"i": i + 1, "perm": perm, "loss": tot_loss,
                                                         "correct": tot_correct, "seen": seen,
                                                         "elapsed": time.time() - t0}), last_p)
        flush()
        train_time = time.time() - t0
        rec = {"epoch": epoch + 1, "step": step, "lr": lr, "train_loss": tot_loss / seen,
               "train_acc": tot_correct / seen, "img_per_s": seen / train_time, "train_s": round(train_time, 1)}
        if stop:
            rec["stopped_at_step"] = i + 1
        if a.max_steps:
            log(f"stopping after {a.max_steps} steps: {json.dumps(rec)}")
            return rec
        if not a.no_eval:
            t1 = time.time()
            probs = predict_probs(ema, x_pub, "center", device=a.device, bf16=bf16)
            rec["public_center"] = metrics(probs, y_pub)["accuracy"]
            rec["eval_s"] = round(time.time() - t1, 1)
            if rec["public_center"] > best["acc"]:
                best = {"acc": rec["public_center"], "epoch": epoch + 1}
                atomic_save({"ema": ema.state_dict(), "epoch": epoch + 1, "public_center": best["acc"],
                             "args": vars(a)}, best_p)
        rec["best_public_center"], rec["best_epoch"] = best["acc"], best["epoch"]
        epoch += 1
        if a.time_budget and horizon is None and a.cycle_start is None and not stop:
            # The warm-up (epochs 1..warmup) does not depend on the horizon, so it can be fixed now.
            # An epoch resumed part-way took only its remaining part in this session.
            epoch_s = (time.time() - t_epoch) / max(1.0 - resumed_fraction, 0.05)
            horizon = horizon_from_budget(epoch, a.epochs, time.time() - t_start, epoch_s, a.time_budget)
            log(f"time budget {a.time_budget:.0f} s: {time.time() - t_epoch:.1f} s per epoch, "
                f"horizon {a.epochs} -> {horizon} epochs")
            a.epochs = horizon
            rec["horizon"] = horizon
        swa_epoch = swa_start_epoch(a.epochs, a.swa_start, a.warmup_epochs)  # the horizon may just have moved
        if swa_epoch is not None and epoch > swa_epoch and not stop:
            swa = swa_update(swa, swa_n, model)
            swa_n += 1
            rec["swa_n"] = swa_n
        if a.snapshots and ends_cycle(epoch, a.epochs, a.cycle_start, a.cycle_epochs):
            # Before last.pt: a run stopped between the two writes redoes this epoch and its snapshot.
            atomic_save({"model": model.state_dict(), "epoch": epoch}, run_dir / f"snapshot-e{epoch}.pt")
        if stop or epoch >= a.epochs or (a.last_every and epoch % a.last_every == 0):
            atomic_save(resume_state(epoch), last_p)
        with open(log_p, "a") as f:
            f.write(json.dumps(rec) + "\n")
        log("EPOCH " + json.dumps(rec))
    log("done")


if __name__ == "__main__":
    main()
