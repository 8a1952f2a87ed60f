"""Train on a lent GPU machine in one call, and bring the result back.

On the device (one `run` of the device tool, the packed data carried in .device/; training/README.md
gives the whole procedure):

    python3 training/device_run.py --data .device/fer2013-tp.ferpack --out $OUT --budget 450
    # or on the FER+ annotators' votes, chosen on the PublicTest top vote:
    python3 training/device_run.py --data .device/fer2013-tp.ferpack --ferplus .device/fer2013plus.csv --out $OUT --budget 450

trains from-scratch runs of train.py side by side on the GPU (`--run` once per run; by default two:
the recipe's cosine to 0, and the same with SWA over its last quarter at a constant lr; seeds 0, 1,
...), each fitting its schedule (at most `--epochs`) into the time budget. Then it scores every run's
candidates on PublicTest with 10-crop: the EMA with the best centre-crop accuracy (best.pt), the final
EMA, the SWA mean where there is one, each also with BatchNorm recalibrated on clean Training crops
(average.recalibrate_bn; the SWA mean only so), and keeps the best. The device tool brings back at most 8 files of 16 MiB, so the f16
weights (40 MB) leave in parts, with summary.json (every run's learning curve, every candidate's
scores, the choice, the parts' sha256).

Here, afterwards:

    python3 training/device_run.py --join <files_at> --to ~/.cache/fer-stream/gpu.pt

checks and joins the parts into a checkpoint that evaluate.py, average.py and export.py read
(`--weights ema`). PrivateTest never travels: it is measured here, after the choice.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # the children share the host's cores

import argparse
import hashlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fer2013  # noqa: E402
import ferplus  # noqa: E402
from average import bn_sample, recalibrate_bn  # noqa: E402
from evaluate import metrics, predict_probs  # noqa: E402
from model import VGG19FER  # noqa: E402
from train import log  # noqa: E402

PART_BYTES = 15 * 2**20  # under the device tool's 16 MiB per file
SUMMARY = "summary.json"
DEFAULT_RUNS = ["", "--swa-start 0.75 --swa-lr 0.002"]
BN_ROWS = 10000


def split_bytes(blob: bytes, out: Path, stem: str) -> list[str]:
    names = []
    for k in range(0, max(len(blob), 1), PART_BYTES):
        name = f"{stem}.part{k // PART_BYTES}"
        (out / name).write_bytes(blob[k:k + PART_BYTES])
        names.append(name)
    return names


def join(src: Path, dst: Path) -> dict:
    """Reassemble the parts listed in src/summary.json, check their sha256, write a checkpoint."""
    summary = json.loads((src / SUMMARY).read_text())
    chosen = summary["chosen"]
    blob = b"".join((src / name).read_bytes() for name in chosen["parts"])
    digest = hashlib.sha256(blob).hexdigest()
    if digest != chosen["sha256"]:
        raise SystemExit(f"{src}: the parts do not add up to the weights the device wrote "
                         f"(sha256 {digest[:12]}…, expected {chosen['sha256'][:12]}…): fetch them again")
    sd = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    m = VGG19FER()
    m.load_state_dict({k: v.to(m.state_dict()[k].dtype) for k, v in sd.items()})
    ck = {"ema": m.state_dict(), "epoch": chosen["epoch"], "device_run": summary}
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, dst)
    return summary


def public_test(data: dict, votes: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The PublicTest faces and labels the candidates are chosen on: FER2013's, or with `votes` the
    FER+ top vote over the faces whose top vote is one of the 7 classes (as train.py checks each epoch)."""
    x, y = data["PublicTest"]
    if not votes:
        return x, y
    return ferplus.top_vote_faces(x, ferplus.load(votes, {k: len(v[1]) for k, v in data.items()})["PublicTest"])


def candidates(run_dir: Path) -> list[tuple[str, dict, int, bool]]:
    """(name, weights, epoch, whether its BN statistics are usable as they are)."""
    out = []
    for name, key in (("best.pt", "ema"), ("last.pt", "ema"), ("last.pt", "swa")):
        p = run_dir / name
        if p.exists():
            ck = torch.load(p, map_location="cpu", weights_only=False)
            if key in ck:
                out.append((f"{run_dir.name}/{name}:{key}", ck[key], int(ck["epoch"]), key != "swa"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="FER2013 in any form fer2013.load reads (the packed file on a device)")
    ap.add_argument("--out", help="where the parts and summary.json go ($OUT on the device)")
    ap.add_argument("--budget", type=float, default=450.0,
                    help="seconds from start to the end of training; scoring and writing take ~30 s more")
    ap.add_argument("--run", action="append", dest="runs", metavar="ARGS",
                    help="one from-scratch run side by side with the others: extra train.py arguments "
                         "('' for the plain recipe); repeat per run (seeds 0, 1, ...). "
                         f"Default: {DEFAULT_RUNS}")
    ap.add_argument("--ferplus", metavar="VOTES",
                    help="train every run on the FER+ votes (train.py --targets ferplus) and choose on the "
                         "PublicTest top vote instead of FER2013's label")
    ap.add_argument("--epochs", type=int, default=250, help="cap on each run's horizon (the reference's 250)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--work", default="/tmp/fer-device-run", help="run directories")
    ap.add_argument("--limit", type=int, default=0, help="Training rows per run (tests)")
    ap.add_argument("--join", metavar="DIR", help="here: join the parts that came back in DIR ...")
    ap.add_argument("--to", metavar="CHECKPOINT", help="... into this checkpoint")
    a, extra = ap.parse_known_args(argv)  # the rest goes to every train.py run

    if a.join:
        if not a.to:
            ap.error("--join needs --to")
        s = join(Path(a.join), Path(a.to).expanduser())
        c = s["chosen"]
        print(f"{a.to}: {c['name']} (epoch {c['epoch']}), PublicTest 10-crop {100 * c['public_10crop']:.2f}% "
              f"centre {100 * c['public_center']:.2f}% on the device")
        return s
    if not (a.data and a.out):
        ap.error("--data and --out are needed (or --join)")

    t_start = time.time()
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    dev = a.device
    a.runs = a.runs if a.runs is not None else DEFAULT_RUNS
    info = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__}
    log(f"{info}; budget {a.budget:.0f} s, {a.runs} run(s), at most {a.epochs} epochs each")

    # Decode the packed file once (~10 s) for all runs.
    data = fer2013.load(a.data)
    x_pub, y_pub = public_test(data, a.ferplus)
    if a.ferplus:
        extra = ["--targets", "ferplus", "--ferplus", str(a.ferplus)] + extra
    info["targets"] = "ferplus" if a.ferplus else "fer2013"
    x_bn = bn_sample(data["Training"][0], BN_ROWS, 0)
    npz = work / "data.npz"
    np.savez(npz, **fer2013._to_npz_dict({s: data[s] for s in ("Training", "PublicTest")}))
    del data

    procs = []
    for k, run_args in enumerate(a.runs):
        run_dir = work / f"run{k}"
        run_dir.mkdir(exist_ok=True)
        for stale in run_dir.glob("*"):
            stale.unlink()
        cmd = [sys.executable, str(HERE / "train.py"), "--device", dev, "--data", str(npz), "--init", "",
               "--run-dir", str(run_dir), "--seed", str(k), "--epochs", str(a.epochs),
               "--time-budget", str(max(a.budget - (time.time() - t_start), 1.0)),
               "--ckpt-every", "0", "--last-every", "0", "--threads", "2"]
        if a.limit:
            cmd += ["--limit", str(a.limit)]
        cmd += run_args.split() + extra
        logf = open(run_dir / "train.log", "w")
        procs.append((run_dir, subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT), logf))
        log(f"started run{k}: {' '.join(cmd[1:])}")

    # train.py stops itself at the budget; the watchdog only catches a run that hangs.
    deadline = t_start + a.budget + 120
    for run_dir, p, logf in procs:
        try:
            p.wait(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            log(f"{run_dir.name} overran its budget: killed")
            p.kill()
            p.wait()
        logf.close()
    log(f"training done after {time.time() - t_start:.0f} s")

    runs, scored = [], []
    for run_dir, p, _ in procs:
        lp = run_dir / "log.jsonl"
        curve = [json.loads(l) for l in lp.read_text().splitlines()] if lp.exists() else []
        tail = (run_dir / "train.log").read_text().splitlines()[-5:]
        runs.append({"run": run_dir.name, "returncode": p.returncode, "curve": curve, "log_tail": tail})
        kw = {"device": dev, "bf16": False}
        for name, sd, epoch, bn_usable in candidates(run_dir):
            for recal in ([False, True] if bn_usable else [True]):
                m = VGG19FER()
                m.load_state_dict(sd)
                m.to(dev)
                if recal:
                    recalibrate_bn(m, x_bn)
                res = {"name": name + (" +bn" if recal else ""), "epoch": epoch, "bn_recalibrated": recal,
                       "public_center": metrics(predict_probs(m, x_pub, "center", **kw), y_pub)["accuracy"],
                       "public_10crop": metrics(predict_probs(m, x_pub, "10crop", **kw), y_pub)["accuracy"]}
                log(f"{res['name']} (epoch {epoch}): PublicTest 10-crop {100 * res['public_10crop']:.2f}%, "
                    f"centre {100 * res['public_center']:.2f}%")
                scored.append((res, {k: v.cpu() for k, v in m.state_dict().items()}))
    summary = {**info, "budget_s": a.budget, "runs": runs, "candidates": [r for r, _ in scored],
               "args": sys.argv[1:]}
    if scored:
        # Chosen on PublicTest 10-crop (the shipped metric), ties to the centre crop.
        res, sd = max(scored, key=lambda t: (t[0]["public_10crop"], t[0]["public_center"]))
        buf = io.BytesIO()
        torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}, buf)
        blob = buf.getvalue()
        res = dict(res, sha256=hashlib.sha256(blob).hexdigest(), parts=split_bytes(blob, out, "weights.pt"))
        summary["chosen"] = res
        log(f"chosen: {res['name']} (epoch {res['epoch']}) -> {', '.join(res['parts'])}")
    summary["wall_s"] = round(time.time() - t_start, 1)
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    log(f"wrote {out / SUMMARY} after {summary['wall_s']:.0f} s")
    if not scored:
        raise SystemExit("no run left a checkpoint: see the log tails in summary.json")
    return summary


if __name__ == "__main__":
    main()
