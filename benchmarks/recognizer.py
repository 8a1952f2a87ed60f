#!/usr/bin/env python3
"""Recognizer speed, fer-stream against PyTorch on the same weights, measured in the same run.

For each batch size, the engines take turns (round-robin, several rounds) so that a slow or fast
spell of this VM hits them alike; each figure is the median crops/s over the rounds, and the
ratio column divides by PyTorch CPU bf16 (autocast, channels_last) at the same batch size.

    python3 benchmarks/recognizer.py [--batches 1,10,64] [--rounds 3] [--seconds 2] [--models a,b]

By default both shipped networks are measured, the VGG19 and the ResNet18 (where its file exists),
one table each.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "active")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))


def swift_engine(binary, model, engine, precision, batch, seconds, threads):
    cmd = [binary, "bench", "--model", model, "--batch", str(batch), "--seconds", str(seconds),
           "--threads", str(threads), "--engine", engine]
    if precision:
        cmd += ["--precision", precision]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["crops_per_s"]


def torch_engine(python, model_path, batch, seconds, threads, bf16):
    """PyTorch in a process of its own, like fer-stream: an idle PyTorch in this process would
    keep its OpenMP threads spinning (OMP_WAIT_POLICY=active) and steal the cores from the
    fer-stream runs (measured: int8 at batch 10 ran at 375 crops/s beside it, 900 alone)."""
    cmd = [python, os.path.abspath(__file__), "--torch-worker", "bf16" if bf16 else "f32", "--model", model_path,
           "--batches", str(batch), "--seconds", str(seconds), "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["crops_per_s"]


def torch_worker(model_path, batch, seconds, threads, bf16):
    import torch
    torch.set_num_threads(threads)
    from model import load_safetensors  # the training code's own loader of the exported file
    m = load_safetensors(model_path)[0].eval()
    x = torch.randn(batch, 1, 44, 44)
    if bf16:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else (lambda: torch.no_grad())
    with torch.inference_mode(), ctx():
        m(x)  # warm-up
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds or len(times) < 3:
            t0 = time.perf_counter()
            m(x)
            times.append(time.perf_counter() - t0)
    print(json.dumps({"crops_per_s": batch / statistics.median(times)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(p for p in (os.path.join(ROOT, f"Models/{n}-fer2013.safetensors")
                                                                for n in ("vgg19", "resnet18")) if os.path.exists(p)),
                    help="model files, comma-separated (default: the shipped VGG19 and ResNet18)")
    ap.add_argument("--model", help=argparse.SUPPRESS)  # the worker's one model
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--batches", default="1,10,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--engines", default="onednn:f32,onednn:bf16,onednn:int8,reference",
                    help="fer-stream engines as engine[:precision], comma-separated")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--torch-worker", choices=["f32", "bf16"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        return torch_worker(a.model, int(a.batches), a.seconds, a.threads, a.torch_worker == "bf16")

    everything = {}
    for model in a.models.split(","):
        print(f"\n{os.path.basename(model)}")
        everything[os.path.basename(model)] = measure(a, model)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)


def measure(a, model):
    engines = [e.split(":") + [None] * (2 - len(e.split(":"))) for e in a.engines.split(",")]
    names = [f"fer-stream {e}" + (f" {p}" if p else "") for e, p in engines] + ["PyTorch f32", "PyTorch bf16 autocast"]
    results = {}
    for batch in [int(b) for b in a.batches.split(",")]:
        samples = {n: [] for n in names}
        for _ in range(a.rounds):
            for (engine, precision), name in zip(engines, names):
                if engine == "reference" and batch > 10:
                    continue  # minutes per call at large batches; its figure at batch 10 says enough
                samples[name].append(swift_engine(a.binary, model, engine, precision, batch, a.seconds, a.threads))
            samples["PyTorch f32"].append(torch_engine(sys.executable, model, batch, a.seconds, a.threads, bf16=False))
            samples["PyTorch bf16 autocast"].append(torch_engine(sys.executable, model, batch, a.seconds, a.threads, bf16=True))
        results[batch] = {n: (statistics.median(v), min(v), max(v)) for n, v in samples.items() if v}

    batches = list(results)
    print(f"crops/s, median of {a.rounds} interleaved rounds [min–max]; ratio = ÷ PyTorch bf16 autocast at the same batch")
    print("| engine | " + " | ".join(f"batch {b}" for b in batches) + " |")
    print("|---|" + "---|" * len(batches))
    for n in names:
        cells = []
        for b in batches:
            if n not in results[b]:
                cells.append("–")
                continue
            med, lo, hi = results[b][n]
            ratio = med / results[b]["PyTorch bf16 autocast"][0]
            cells.append(f"{med:.0f} [{lo:.0f}–{hi:.0f}] ×{ratio:.2f}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    return {str(b): {n: v[0] for n, v in r.items()} for b, r in results.items()}


if __name__ == "__main__":
    main()
