#!/usr/bin/env python3
"""Where the int8 VGG19's time goes, layer by layer: fer-stream's oneDNN primitives against
OpenVINO's compiled graph of the same network (the QDQ int8 ONNX file benchmarks/recognizer.py
makes and caches), at one batch size, on this machine.

fer-stream: `ONEDNN_VERBOSE=1 fer-stream bench --precision int8`; every executed primitive's line
is kept and, per position in the call (the calls repeat one sequence), the median time over the
calls. OpenVINO: the CPU plugin with PERF_COUNT on, the same threads and LATENCY hint as the
recognizer benchmark, per node the median of its real time over the calls. Both print their steps
(kind, implementation, shape) and the sum by kind: convolution, pooling, reorder, inner product.
The totals are sums of per-step medians (not a call's wall time; the recognizer benchmark has those).

    python3 benchmarks/layer_profile.py [--model Models/vgg19-ferplus.safetensors] [--batch 10] [--calls 60]

Needs a release build and `pip install -r benchmarks/requirements.txt`; run
benchmarks/recognizer.py once first (it writes the ONNX files to ~/.cache/fer-stream/onnx/).
"""
import argparse
import collections
import glob
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kind_of(text):
    t = text.lower()
    for k in ("convolution", "pooling", "reorder", "inner_product", "fullyconnected", "subgraph", "eltwise"):
        if k in t:
            return "inner_product" if k == "fullyconnected" else k
    return t


def onednn_steps(binary, model, batch, calls, threads):
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    # Enough seconds for `calls` calls at ~100 calls/s; the warm-up call is dropped below.
    out = subprocess.run([binary, "bench", "--model", model, "--precision", "int8", "--batch", str(batch),
                          "--threads", str(threads), "--seconds", "1"],
                         env=env, capture_output=True, text=True, check=True).stdout
    lines = [l.split(",") for l in out.splitlines() if l.startswith("onednn_verbose,") and ",exec," in l]
    # onednn_verbose,exec,cpu,KIND,IMPL,PROP,MEMORY,ATTR,AUX,SHAPE,TIME (2.x); newer versions add a
    # timestamp field after the marker: take fields from the end and find "exec".
    rows = []
    for f in lines:
        i = f.index("exec")
        rows.append((f[i + 2], f[i + 3], f[-2], float(f[-1])))
    # The call's sequence: the steps between two occurrences of the first step's (kind, shape).
    first = (rows[-1][0], rows[-1][2])
    seq_len = next(n for n in range(1, len(rows)) if (rows[-1 - n][0], rows[-1 - n][2]) == first)
    seq = rows[-seq_len:]
    ncalls = min(calls, len(rows) // seq_len - 1)
    times = collections.defaultdict(list)
    for c in range(ncalls):
        base = len(rows) - (c + 1) * seq_len
        for j in range(seq_len):
            times[j].append(rows[base + j][3])
    return [(k, impl, shape, statistics.median(times[j])) for j, (k, impl, shape, _) in enumerate(seq)], ncalls


def openvino_steps(onnx, batch, calls, threads):
    import numpy as np
    import openvino as ov
    core = ov.Core()
    m = core.read_model(onnx)
    m.reshape({m.inputs[0]: ov.PartialShape([batch, 1, 44, 44])})
    compiled = core.compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY",
                                             "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": "YES"})
    req = compiled.create_infer_request()
    x = np.random.default_rng(0).uniform(-2, 2, (batch, 1, 44, 44)).astype(np.float32)
    req.infer({0: x})
    times = collections.defaultdict(list)
    meta = {}
    for _ in range(calls):
        req.infer({0: x}, share_inputs=True)
        for p in req.get_profiling_info():
            if p.status != p.Status.EXECUTED:
                continue
            times[p.node_name].append(p.real_time.total_seconds() * 1000)
            meta[p.node_name] = (p.node_type, p.exec_type)
    return [(meta[n][0], meta[n][1], n, statistics.median(v)) for n, v in times.items()]


def table(title, steps):
    print(f"\n### {title}\n")
    print("| # | kind | implementation | shape / node | ms (median) |")
    print("|---|---|---|---|---|")
    by_kind = collections.Counter()
    for i, (k, impl, shape, ms) in enumerate(steps):
        print(f"| {i} | {k} | {impl} | {shape} | {ms:.3f} |")
        by_kind[kind_of(k)] += ms
    print(f"\nsum of step medians: {sum(by_kind.values()):.2f} ms — "
          + ", ".join(f"{k} {v:.2f}" for k, v in by_kind.most_common()))
    return by_kind


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "Models", "vgg19-ferplus.safetensors"))
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "fer-stream"))
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--onnx-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "fer-stream", "onnx"))
    a = ap.parse_args()
    steps, n = onednn_steps(a.binary, a.model, a.batch, a.calls, a.threads)
    ours = table(f"fer-stream oneDNN int8, batch {a.batch}, {n} calls", steps)
    stem = os.path.basename(a.model).replace(".safetensors", "")
    found = sorted(glob.glob(os.path.join(a.onnx_dir, f"{stem}-*-qdq-*.onnx")))
    if not found:
        print(f"\nno int8 ONNX file for {stem} in {a.onnx_dir}: run benchmarks/recognizer.py --models {a.model} first")
        return
    theirs = table(f"OpenVINO int8 ({os.path.basename(found[0])}), batch {a.batch}, {a.calls} calls",
                   openvino_steps(found[0], a.batch, a.calls, a.threads))
    print("\n| kind | fer-stream ms | OpenVINO ms |")
    print("|---|---|---|")
    for k in sorted(set(ours) | set(theirs)):
        print(f"| {k} | {ours.get(k, 0):.2f} | {theirs.get(k, 0):.2f} |")


if __name__ == "__main__":
    main()
