#!/usr/bin/env python3
"""Mutated media through fer-stream: small clips made here (mp4, mkv, webm, avi, MPEG-TS) with bytes
flipped, cut or duplicated, each run through the fer-stream binary. A finding is a crash (a signal),
a hang (no exit within --timeout), a sanitizer report, an exit status other than 0 or 1, or more
than one line on stderr. Findings are kept in OUT/findings/ with the command that shows them.

    scripts/fuzz-media.py --seconds 60 [--binary PATH] [--out DIR] [--seed N]

Exit status: 0 when nothing was found, 1 otherwise. Prints one summary line (runs, per container,
exit statuses seen, findings).
"""
import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTAINERS = {  # extension: ffmpeg encoder options
    "mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "webm": ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k"],
    "avi": ["-c:v", "mpeg4", "-q:v", "5"],
    "ts": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts"],
}


def default_binary():
    for b in (".build-asan/debug/fer-stream", ".build/release/fer-stream", ".build/debug/fer-stream"):
        p = os.path.join(ROOT, b)
        if os.access(p, os.X_OK):
            return p
    sys.exit("fuzz-media: no fer-stream binary (swift build -c release, or --binary)")


def make_clips(work):
    """One second of a moving test pattern with a drawn face-like blob, 160×120, per container."""
    clips = {}
    for ext, opts in CONTAINERS.items():
        path = os.path.join(work, f"seed.{ext}")
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1",
               "-g", "5", *opts, path]
        subprocess.run(cmd, check=True)
        with open(path, "rb") as f:
            clips[ext] = f.read()
    return clips


def mutate(data, rng):
    """Flip some bytes, cut a range out, duplicate a range, or truncate: one to three of these."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "flip", "cut", "dup", "truncate", "zero"])
        n = len(b)
        if n < 16:
            break
        if kind == "flip":
            for _ in range(rng.randint(1, 16)):
                b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            i = rng.randrange(n)
            del b[i:i + rng.randint(1, max(1, n // 8))]
        elif kind == "dup":
            i = rng.randrange(n)
            chunk = b[i:i + rng.randint(1, 4096)]
            j = rng.randrange(n)
            b[j:j] = chunk
        elif kind == "truncate":
            del b[rng.randrange(n // 2, n):]
        else:
            i = rng.randrange(n)
            b[i:i + rng.randint(1, 256)] = bytes(min(256, n - i))
    return bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--out", default=None, help="where findings are kept (default: a temporary directory)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one run may take before it counts as a hang")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary or default_binary())
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="fer-fuzz-media.")
    out = a.out or work
    findings_dir = os.path.join(out, "findings")
    clips = make_clips(work)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
    runs, statuses, per_container, findings = 0, collections.Counter(), collections.Counter(), []
    deadline = time.time() + a.seconds
    while time.time() < deadline:
        ext = rng.choice(sorted(clips))
        data = mutate(clips[ext], rng)
        path = os.path.join(work, f"input.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        # --tta center keeps each run short; detection and decoding are what the bytes reach.
        cmd = [binary, "--tta", "center", "--no-progress", "--output", os.path.join(work, "out.ndjson"), path]
        problem = None
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=a.timeout, env=env, cwd=work)
            err = p.stderr.decode("utf-8", "replace")
            statuses[p.returncode] += 1
            if p.returncode < 0:
                problem = f"killed by signal {-p.returncode}"
            elif "Sanitizer" in err or "runtime error" in err:
                problem = "sanitizer report"
            elif p.returncode not in (0, 1):
                problem = f"exit status {p.returncode}"
            elif len(err.strip().splitlines()) > 1:
                problem = f"{len(err.strip().splitlines())} stderr lines"
        except subprocess.TimeoutExpired:
            statuses["hang"] += 1
            problem, err = f"no exit within {a.timeout:.0f} s", ""
        runs += 1
        per_container[ext] += 1
        if problem:
            os.makedirs(findings_dir, exist_ok=True)
            kept = os.path.join(findings_dir, f"finding-{len(findings)}.{ext}")
            shutil.copyfile(path, kept)
            with open(kept + ".txt", "w") as f:
                f.write(f"{problem}\n{binary} --tta center {kept}\n\n{err}")
            findings.append(f"{problem}: {kept}")
    containers = " ".join(f"{k}:{v}" for k, v in sorted(per_container.items()))
    seen = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    print(f"media: {runs} runs in {a.seconds:.0f} s (seed {seed}; {containers}); exit statuses {seen}; "
          f"{len(findings)} findings" + (f" in {findings_dir}" if findings else ""))
    for f in findings:
        print("  " + f)
    if not a.out:
        if findings:
            print(f"  (kept in {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
