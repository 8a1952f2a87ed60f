#!/usr/bin/env python3
"""Recognizer speed: fer-stream against the CPU runtimes people would use instead, on the same
graph and weights, measured in the same run.

Contenders (each call in a process of its own, so that no runtime's idle threads spin beside
another's turn):
  fer-stream   `fer-stream bench --engine onednn --precision f32|int8` (bf16 with --engines)
  OpenVINO     CPU plugin, f32 and int8, from the ONNX export below
  ONNX Runtime CPU execution provider, f32 and int8, the same ONNX files
  PyTorch      eager f32 (channels_last), and bf16 autocast as an extra row

The ONNX graph is the PyTorch model of training/model.py exported with torch.onnx.export (opset 17,
dynamic batch, BatchNorm folded into the convolutions), cached under ~/.cache/fer-stream/onnx/
(--onnx-dir). On every run its logits are checked against PyTorch's on random inputs (max |Δ| <
1e-3, asserted, ONNX Runtime and OpenVINO alike). The int8 model is ONNX Runtime's quantize_static
of that graph: QDQ, u8 activations, s8 per-channel weights, MinMax ranges calibrated on the same
2000 FER2013 *Training* rows (centre crop and mirror) that fer-stream's own int8 ranges came from
(training/export.py), or, without ../shared/data/fer2013.csv.gz, on seeded synthetic images. Both
ONNX Runtime and OpenVINO run that one QDQ file (OpenVINO turns the Q/DQ pairs into int8
convolutions; the worker counts them in the compiled graph). Top-1 agreement of int8 with PyTorch
f32 on 1000 other Training rows (centre crops) is printed for each runtime, and for the QDQ graph
run unfused (int8 rounding in f32 arithmetic: what the quantisation itself costs). On a CPU without
VNNI, ONNX Runtime's u8s8 kernels (VPMADDUBSW, int16 sums that can saturate) agree far less than
the unfused graph does; its documentation's remedy is reduce_range or u8u8, not measured here.

Threads: --threads (default: all cores) for every contender: fer-stream --threads, OpenVINO
INFERENCE_NUM_THREADS with PERFORMANCE_HINT=LATENCY (one stream using all the threads, which is
what one synchronous call at a time needs; THROUGHPUT splits the cores into streams that a single
request cannot use), INFERENCE_PRECISION_HINT=f32 (so that a CPU with AMX does not quietly run the
"f32" row in bf16), the input shape fixed to the batch size; ONNX Runtime intra_op_num_threads,
sequential, all graph optimisations, the batch dimension fixed per session; PyTorch
torch.set_num_threads.

Each call runs the network on random inputs for --seconds after a warm-up (as `fer-stream bench`
does) and reports batch / median call time. For each batch size the contenders take turns
(round-robin, the order rotated each round) so that a slow or fast spell of the VM hits them alike;
each figure is the median crops/s over the rounds [min–max]. The ratio rows divide fer-stream's
figure by the best anchor at the same precision and batch size.

    python3 benchmarks/recognizer.py [--batches 1,10,64] [--rounds 3] [--seconds 2] [--models a,b]

Needs `swift build -c release --product fer-stream` and `pip install -r benchmarks/requirements.txt`
(a runtime whose wheel is missing is skipped, with a message). By default both shipped networks
are measured, the VGG19 and the ResNet18, one table each.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))

OPSET = 17
INSTALL = f"pip install -r {os.path.relpath(os.path.join(ROOT, 'benchmarks/requirements.txt'))}"
CALIBRATION_ROWS = 2000  # as training/export.py's --calibration-rows, the same rows (seed 0)
AGREEMENT_ROWS = 1000


def has(module):
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------------------------
# Workers: one process per measured call (and one for the export), run as this script with a flag.


def time_calls(call, batch, seconds):
    """One warm-up call, then calls for `seconds` (at least 3): batch / median call time."""
    call()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def random_input(batch):
    import numpy as np
    return np.random.default_rng().uniform(-2, 2, (batch, 1, 44, 44)).astype(np.float32)  # as fer-stream bench


def torch_worker(model_path, batch, seconds, threads, bf16):
    import torch
    torch.set_num_threads(threads)
    from model import load_safetensors  # the training code's own loader of the exported file
    m = load_safetensors(model_path)[0].eval().to(memory_format=torch.channels_last)
    x = torch.from_numpy(random_input(batch)).contiguous(memory_format=torch.channels_last)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.no_grad()
    with torch.inference_mode(), ctx:
        return {"crops_per_s": time_calls(lambda: m(x), batch, seconds)}


def ort_session(onnx_path, threads, batch=None, optimise=True):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if batch:
        so.add_free_dimension_override_by_name("batch", batch)
    return ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])


def ort_worker(onnx_path, batch, seconds, threads):
    import onnxruntime as ort
    s = ort_session(onnx_path, threads, batch)
    x = random_input(batch)
    name = s.get_inputs()[0].name
    return {"crops_per_s": time_calls(lambda: s.run(None, {name: x}), batch, seconds), "version": ort.__version__}


def ov_compile(onnx_path, threads, batch, hint="LATENCY"):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(onnx_path)
    if batch:
        model.reshape({model.inputs[0]: ov.PartialShape([batch, 1, 44, 44])})
    return core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": hint,
                                             "INFERENCE_PRECISION_HINT": "f32"})


def ov_int8_convolutions(compiled):
    """Convolutions the compiled graph runs with 8-bit inputs (u8/i8 runtime precision)."""
    n = 0
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) == "Convolution":
            n += info["runtimePrecision"].astype(str).lower() in ("u8", "i8")
    return n


def ov_worker(onnx_path, batch, seconds, threads, hint):
    import openvino as ov
    compiled = ov_compile(onnx_path, threads, batch, hint)
    req = compiled.create_infer_request()
    x = random_input(batch)
    rate = time_calls(lambda: req.infer({0: x}, share_inputs=True), batch, seconds)
    return {"crops_per_s": rate, "int8_convolutions": ov_int8_convolutions(compiled), "version": ov.__version__}


def centre_crops(pixels, mirror=False):
    import numpy as np
    from model import normalize, CROP_FROM, INPUT_SIZE
    import torch
    c = (CROP_FROM - INPUT_SIZE) // 2
    x = torch.from_numpy(np.asarray(pixels))[:, None, c:c + INPUT_SIZE, c:c + INPUT_SIZE]
    if mirror:
        x = torch.cat([x, x.flip(3)])
    return normalize(x).numpy()


def calibration_images():
    """(calibration 48×48 images, agreement images, which): FER2013 Training rows only, never a
    test split; seeded synthetic images where the data is absent."""
    import numpy as np
    import fer2013
    try:
        x, _ = fer2013.load()["Training"]
    except FileNotFoundError:
        import torch
        import torch.nn.functional as F
        g = torch.Generator().manual_seed(0)
        n = CALIBRATION_ROWS + AGREEMENT_ROWS
        low = torch.rand(n, 1, 5, 5, generator=g) * 255
        imgs = F.interpolate(low, size=(48, 48), mode="bicubic", align_corners=False)[:, 0]
        imgs = (imgs + torch.randn(n, 48, 48, generator=g) * 6).round().clamp(0, 255).to(torch.uint8).numpy()
        return imgs[:CALIBRATION_ROWS], imgs[CALIBRATION_ROWS:], "synthetic"
    rows = np.sort(np.random.default_rng(0).choice(len(x), size=min(CALIBRATION_ROWS, len(x)), replace=False))
    rest = np.setdiff1d(np.arange(len(x)), rows)
    others = np.sort(np.random.default_rng(1).choice(rest, size=min(AGREEMENT_ROWS, len(rest)), replace=False))
    return x[rows], x[others], "fer2013-training"


def export_worker(model_path, onnx_dir, threads):
    """Export (once, cached), check parity, quantise (once, cached). Prints the paths as JSON."""
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    from model import load_safetensors
    m = load_safetensors(model_path)[0].eval()
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    stem = os.path.basename(model_path).removesuffix(".safetensors")
    os.makedirs(onnx_dir, exist_ok=True)
    f32 = os.path.join(onnx_dir, f"{stem}-{digest}-opset{OPSET}.onnx")
    log = []
    if not os.path.exists(f32):
        tmp = f32 + f".tmp{os.getpid()}.onnx"
        # The TorchScript exporter: plain ONNX ops, BatchNorm folded, no onnxscript needed.
        torch.onnx.export(m, (torch.randn(2, 1, 44, 44),), tmp, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        os.replace(tmp, f32)
        log.append(f"exported {f32}")

    # Parity, every run: the ONNX graph's logits against PyTorch's, 4 random batches of 3.
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(3, 1, 44, 44, generator=g) * 1.5 for _ in range(4)]
    with torch.no_grad():
        ref = [m(x).numpy() for x in xs]
    parity = {}
    if has("onnxruntime"):
        s = ort_session(f32, threads)
        parity["ONNX Runtime"] = max(float(np.abs(s.run(None, {"input": x.numpy()})[0] - r).max()) for x, r in zip(xs, ref))
    if has("openvino"):
        c = ov_compile(f32, threads, None)
        parity["OpenVINO"] = max(float(np.abs(c(x.numpy())[0] - r).max()) for x, r in zip(xs, ref))
    for runtime, d in parity.items():
        assert d < 1e-3, f"{runtime}: ONNX f32 logits differ from PyTorch's by {d:.3g} (> 1e-3)"
    log.append("ONNX f32 logits vs PyTorch, max |Δ| on 4×3 random inputs: "
               + ", ".join(f"{k} {v:.1e}" for k, v in parity.items()))

    out = {"f32": f32, "parity": parity}
    if has("onnxruntime"):
        import onnxruntime
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
        cal, held_out, source = calibration_images()
        int8 = f32.removesuffix(".onnx") + f"-qdq-u8s8-{source}{len(cal)}-ort{onnxruntime.__version__}.onnx"
        if not os.path.exists(int8):
            pre = int8 + ".pre.onnx"
            quant_pre_process(f32, pre)
            crops = centre_crops(cal, mirror=True)

            batches = [{"input": crops[i:i + 100]} for i in range(0, len(crops), 100)]

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.batches = iter(batches)

                def get_next(self):
                    return next(self.batches, None)

            # The calibrator keeps every tensor of every batch until it merges the ranges, every
            # k batches (all of them at once would be ~16 GB for the VGG19); ORT 1.32 raises "No
            # data is collected" when the last merge leaves nothing, so k must not divide the count.
            k = next(k for k in range(3, len(batches) + 3) if len(batches) % k)
            tmp = int8 + f".tmp{os.getpid()}.onnx"
            try:
                quantize_static(pre, tmp, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                extra_options={"CalibMaxIntermediateOutputs": k})
                os.replace(tmp, int8)
            finally:
                for f in (pre, tmp):
                    if os.path.exists(f):
                        os.remove(f)
            log.append(f"quantised {int8} (calibrated on {len(crops)} crops: {source}, centre crop and mirror)")
        out["int8"] = int8
        out["calibration"] = source

        # int8 against f32: top-1 agreement on other Training rows (centre crop).
        x = centre_crops(held_out)
        with torch.no_grad():
            top = m(torch.from_numpy(x)).argmax(1).numpy()
        agree = {}
        for key, level in (("ONNX Runtime", None), ("the QDQ graph unfused (ONNX Runtime, no graph optimisation: "
                                                    "int8 rounding, f32 arithmetic)", "none")):
            s = ort_session(int8, threads, optimise=level is None)
            agree[key] = float((np.concatenate([s.run(None, {"input": x[i:i + 100]})[0]
                                                for i in range(0, len(x), 100)]).argmax(1) == top).mean())
        if has("openvino"):
            c = ov_compile(int8, threads, None)
            agree["OpenVINO"] = float((np.concatenate([c(x[i:i + 100])[0] for i in range(0, len(x), 100)]).argmax(1)
                                       == top).mean())
        log.append(f"int8 top-1 agreement with PyTorch f32 on {len(x)} other {source} crops: "
                   + ", ".join(f"{k} {v:.1%}" for k, v in agree.items()))
        out["int8_agreement"] = agree
    out["log"] = log
    return out


# ---------------------------------------------------------------------------------------------
# The parent: which contenders exist, the rounds, the table.


class Failed(Exception):
    pass


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Failed(f"failed ({p.returncode}): {' '.join(cmd)}: {last}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def worker_cmd(a, kind, model, batch, onnx=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", model, "--batches", str(batch),
           "--seconds", str(a.seconds), "--threads", str(a.threads), "--ov-hint", a.ov_hint]
    return cmd + (["--onnx", onnx] if onnx else [])


def cpu_busy(seconds=1.0):
    """Fraction of all cores busy over `seconds` (from /proc/stat); 0 where it cannot be read."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1 - (i1 - i0) / max(1, t1 - t0)


def machine_line(a):
    """Date, CPU, the instruction sets that matter here, versions, load: for the table's caption."""
    from importlib.metadata import PackageNotFoundError, version
    model, flags = "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = [x for x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if x in flags]
    vers = []
    for name, dist in (("PyTorch", "torch"), ("ONNX Runtime", "onnxruntime"), ("OpenVINO", "openvino"), ("onnx", "onnx")):
        try:
            vers.append(f"{name} {version(dist)}")
        except PackageNotFoundError:
            pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, CPU: {model} ({os.cpu_count()} cores; {' '.join(isa) or 'no AVX2'}), "
            f"{'; '.join(vers)}; {a.threads} threads, OMP_WAIT_POLICY {a.omp_wait_policy}; load average {load}\n"
            f"command: {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}")


class Contender:
    def __init__(self, name, family, precision, cmd):
        self.name, self.family, self.precision, self.cmd = name, family, precision, cmd  # cmd(batch) -> argv


def contenders(a, model, onnx):
    out = []
    for spec in a.engines.split(","):
        engine, _, precision = spec.partition(":")
        cmd = (lambda b, e=engine, p=precision: [a.binary, "bench", "--model", model, "--batch", str(b), "--seconds",
                                                 str(a.seconds), "--threads", str(a.threads), "--engine", e]
               + (["--precision", p] if p else []))
        out.append(Contender(f"fer-stream {engine}" + (f" {precision}" if precision else ""), "fer-stream",
                             precision or "f32", cmd))
    for family, kind, module in (("OpenVINO", "ov", "openvino"), ("ONNX Runtime", "ort", "onnxruntime")):
        if not has(module):
            continue
        for precision in ("f32", "int8"):
            if precision in onnx:
                out.append(Contender(f"{family} {precision}", family, precision,
                                     lambda b, k=kind, p=onnx[precision]: worker_cmd(a, k, model, b, p)))
    if has("torch"):
        out.append(Contender("PyTorch f32 (channels_last)", "PyTorch", "f32",
                             lambda b: worker_cmd(a, "torch-f32", model, b)))
        out.append(Contender("PyTorch bf16 autocast (channels_last)", "PyTorch", "bf16",
                             lambda b: worker_cmd(a, "torch-bf16", model, b)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(p for p in (os.path.join(ROOT, f"Models/{n}-fer2013.safetensors")
                                                                for n in ("vgg19", "resnet18")) if os.path.exists(p)),
                    help="model files, comma-separated (default: the shipped VGG19 and ResNet18)")
    ap.add_argument("--model", help=argparse.SUPPRESS)  # a worker's one model
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/fer-stream"))
    ap.add_argument("--batches", default="1,10,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--engines", default="onednn:f32,onednn:int8",
                    help="fer-stream engines as engine[:precision], comma-separated (also onednn:bf16, reference)")
    ap.add_argument("--onnx-dir", default=os.path.join(os.path.expanduser("~"), ".cache/fer-stream/onnx"),
                    help="where the exported and quantised ONNX files are cached")
    ap.add_argument("--ov-hint", default="LATENCY", choices=["LATENCY", "THROUGHPUT"],
                    help="OpenVINO PERFORMANCE_HINT (LATENCY: one stream over all threads)")
    ap.add_argument("--omp-wait-policy", default="active", choices=["active", "passive", "unset"],
                    help="OMP_WAIT_POLICY for every contender (fer-stream's oneDNN and PyTorch run on OpenMP; "
                         "unset = libgomp's default, which spins a while first). Default active: fastest on idle "
                         "cores (fer-stream int8 at batch 1 ~25%% faster than passive here). On cores shared with "
                         "another busy process, active and unset make the OpenMP contenders' threads spin while "
                         "their partner waits for a core (fer-stream int8 3× slower than passive beside one "
                         "other job, here), which OpenVINO's and ONNX Runtime's pools shrug off: measure on an "
                         "idle machine (the load average is printed), or pass passive")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", choices=["torch-f32", "torch-bf16", "ort", "ov", "export"], help=argparse.SUPPRESS)
    ap.add_argument("--onnx", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        if a.worker == "export":
            r = export_worker(a.model, a.onnx_dir, a.threads)
        elif a.worker.startswith("torch"):
            r = torch_worker(a.model, int(a.batches), a.seconds, a.threads, a.worker == "torch-bf16")
        elif a.worker == "ort":
            r = ort_worker(a.onnx, int(a.batches), a.seconds, a.threads)
        else:
            r = ov_worker(a.onnx, int(a.batches), a.seconds, a.threads, a.ov_hint)
        print(json.dumps(r))
        return

    if a.omp_wait_policy == "unset":
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = a.omp_wait_policy  # the workers inherit it
    if not os.path.exists(a.binary):
        raise SystemExit(f"{a.binary} not found: swift build -c release --product fer-stream")
    missing = [m for m in ("torch", "safetensors", "onnx", "onnxruntime", "openvino") if not has(m)]
    if "torch" in missing or "safetensors" in missing:
        print("PyTorch/safetensors not installed: no ONNX export, so no OpenVINO, ONNX Runtime or PyTorch rows "
              f"({INSTALL})")
    else:
        for m, what in (("onnx", "ONNX export, so the OpenVINO and ONNX Runtime rows"), ("openvino", "OpenVINO rows"),
                        ("onnxruntime", "ONNX Runtime rows and the int8 ONNX model (quantize_static)")):
            if m in missing:
                print(f"{m} not installed: skipping the {what} ({INSTALL})")
    print(machine_line(a))
    busy = cpu_busy()
    if busy > 0.25:
        print(f"warning: the cores were {busy:.0%} busy in the second before this run: other processes will "
              "skew the figures (the OpenMP contenders most, see --omp-wait-policy)", flush=True)
    everything = {}
    for model in a.models.split(","):
        print(f"\n{os.path.basename(model)}", flush=True)
        onnx = {}
        if not {"torch", "safetensors", "onnx"} & set(missing) and (has("onnxruntime") or has("openvino")):
            try:  # the parity assertion's message ends the run here
                onnx = run_json(worker_cmd(a, "export", model, 0) + ["--onnx-dir", a.onnx_dir])
            except Failed as e:
                raise SystemExit(str(e))
            for line in onnx.pop("log"):
                print(line, flush=True)
        everything[os.path.basename(model)] = measure(a, model, onnx)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)


def measure(a, model, onnx):
    cs = contenders(a, model, onnx)
    batches = [int(b) for b in a.batches.split(",")]
    results, notes, failed = {}, {}, set()
    for batch in batches:
        samples = {c.name: [] for c in cs}
        for r in range(a.rounds):
            for c in cs[r % len(cs):] + cs[:r % len(cs)]:
                if c.name == "fer-stream reference" and batch > 10:
                    continue  # minutes per call at large batches; its figure at batch 10 says enough
                if c.name in failed:
                    continue
                try:
                    out = run_json(c.cmd(batch))
                except Failed as e:  # e.g. bf16 on a CPU without AVX-512: the row shows "–"
                    print(f"{c.name}: {e}", flush=True)
                    failed.add(c.name)
                    continue
                samples[c.name].append(out["crops_per_s"])
                if "int8_convolutions" in out and c.precision == "int8":
                    notes[c.name] = f"{out['int8_convolutions']} convolutions run in int8 (compiled graph)"
        results[batch] = {n: (statistics.median(v), min(v), max(v)) for n, v in samples.items() if v}

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"crops/s (44×44 crops per call = batch), {a.threads} threads, median of {a.rounds} interleaved rounds "
          f"[min–max]; load average at the end {load}")
    print("| engine | " + " | ".join(f"batch {b}" for b in batches) + " |")
    print("|---|" + "---|" * len(batches))
    for c in cs:
        cells = []
        for b in batches:
            if c.name in results[b]:
                med, lo, hi = results[b][c.name]
                cells.append(f"{med:.0f} [{lo:.0f}–{hi:.0f}]")
            else:
                cells.append("–")
        print(f"| {c.name} | " + " | ".join(cells) + " |")
    ratios = {}
    for c in cs:
        if c.family != "fer-stream":
            continue
        anchors = [d for d in cs if d.family != "fer-stream" and d.precision == c.precision]
        if not anchors:
            continue
        cells = []
        for b in batches:
            best = max((d for d in anchors if d.name in results[b]), key=lambda d: results[b][d.name][0], default=None)
            if best is None or c.name not in results[b]:
                cells.append("–")
                continue
            ratio = results[b][c.name][0] / results[b][best.name][0]
            ratios.setdefault(c.name, {})[str(b)] = {"ratio": ratio, "anchor": best.name}
            cells.append(f"×{ratio:.2f} ({best.name})")
        print(f"| **{c.name} / best {c.precision} anchor** | " + " | ".join(cells) + " |")
    for name, note in notes.items():
        print(f"{name}: {note}")
    return {"crops_per_s": {str(b): {n: v[0] for n, v in r.items()} for b, r in results.items()},
            "ratios": ratios, "onnx": onnx, "notes": notes}


if __name__ == "__main__":
    main()
