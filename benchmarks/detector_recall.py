#!/usr/bin/env python3
"""Recall and precision per face size of fer-stream's face detectors, on generated scenes.

Real faces (FER2013 PublicTest, 48×48 grey, enlarged) are pasted into 720p, 1080p and 4K frames
over real photographs without people (Debian python3-skimage's sample images), at random sizes
(24–400 px, log-uniform), turned ±30°, some blurred (σ up to 2.5 px) and some partly covered (a
flat bar over 20–35% of the face, as a hand or microphone). Each scene is held for three frames
of a lossless video (FFV1) so that the trackers' confirmation rules can pass, and `fer-stream`
runs on it as a user runs it (`--detect-every 1`, its default tracker, `--tta center`); the faces
of each scene's third frame are matched to the truth (IoU ≥ 0.3, one to one).

usage: benchmarks/detector_recall.py [--scenes N] [--min-face PX] [--detectors yunet,haar]
       (needs ../shared/data/fer2013.csv.gz or $FER2013_CSV, ffmpeg, a release build)
Prints a Markdown table: per size bin, recall of each detector and the precision of what it
reported in that bin.
"""
import argparse, csv, gzip, json, math, os, subprocess, sys, tempfile
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
BACKGROUNDS = ["brick.png", "coffee.png", "grass.png", "gravel.png", "moon.png", "motorcycle_left.png",
               "rocket.jpg", "page.png", "text.png", "hubble_deep_field.jpg", "retina.jpg", "coins.png"]
SIZES = [(1280, 720), (1920, 1080), (3840, 2160)]
BINS = [24, 32, 48, 64, 96, 128, 192, 256, 401]


def grey(path, w, h):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={w}:{h}:flags=bicubic", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w).astype(np.float32)


def faces(limit):
    path = os.environ.get("FER2013_CSV") or os.path.join(ROOT, "..", "shared", "data", "fer2013.csv.gz")
    if not os.path.exists(path):
        sys.exit(f"detector_recall: no FER2013 at {path} (set FER2013_CSV)")
    out = []
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        for row in csv.DictReader(f):
            if row["Usage"] == "PublicTest":
                out.append(np.array(row["pixels"].split(), np.float32).reshape(48, 48))
                if len(out) >= limit:
                    break
    return out


def bilinear(img, xs, ys):
    h, w = img.shape
    xs = np.clip(xs, 0, w - 1.001); ys = np.clip(ys, 0, h - 1.001)
    x0 = xs.astype(int); y0 = ys.astype(int); ax = xs - x0; ay = ys - y0
    return (img[y0, x0] * (1 - ax) * (1 - ay) + img[y0, x0 + 1] * ax * (1 - ay)
            + img[y0 + 1, x0] * (1 - ax) * ay + img[y0 + 1, x0 + 1] * ax * ay)


def blur(img, sigma):
    r = int(3 * sigma) + 1
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma)); k /= k.sum()
    img = np.apply_along_axis(lambda v: np.convolve(np.pad(v, r, mode="edge"), k, "valid"), 1, img)
    return np.apply_along_axis(lambda v: np.convolve(np.pad(v, r, mode="edge"), k, "valid"), 0, img)


def paste(frame, face, cx, cy, side, angle, rng):
    """The face scaled to `side`, turned by `angle`, blended in with a soft elliptical edge."""
    r = int(side * 0.75)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    c, s = math.cos(-angle), math.sin(-angle)
    u = (c * xx - s * yy) / side * 48 + 24; v = (s * xx + c * yy) / side * 48 + 24
    patch = bilinear(face, u - 0.5, v - 0.5)
    # An ellipse a little larger than the face square, fading over 8% of the side.
    d = np.sqrt(((u - 24) / 30) ** 2 + ((v - 24) / 30) ** 2)
    alpha = np.clip((1 - d) / 0.12, 0, 1) * ((u > -2) & (u < 50) & (v > -2) & (v < 50))
    y0, x0 = int(cy) - r, int(cx) - r
    H, W = frame.shape
    ys, xs = slice(max(0, y0), min(H, y0 + 2 * r + 1)), slice(max(0, x0), min(W, x0 + 2 * r + 1))
    py, px = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
    frame[ys, xs] = frame[ys, xs] * (1 - alpha[py, px]) + patch[py, px] * alpha[py, px]


def scenes(n, rng, pool):
    backgrounds = [os.path.join(SKIMAGE, b) for b in BACKGROUNDS if os.path.exists(os.path.join(SKIMAGE, b))]
    out = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        frame = grey(backgrounds[i % len(backgrounds)], w, h)
        truth, boxes = [], []
        for _ in range(60):
            if len(truth) >= 8:
                break
            side = math.exp(rng.uniform(math.log(24), math.log(400)))
            cx, cy = rng.uniform(0.6 * side, w - 0.6 * side), rng.uniform(0.6 * side, h - 0.6 * side)
            box = (cx - side / 2, cy - side / 2, side, side)
            if any(iou(box, b, margin=0.4) > 0 for b in boxes):
                continue
            face = pool[rng.integers(len(pool))]
            if rng.random() < 0.3:
                face = blur(face, rng.uniform(0.6, 2.5) * 48 / side if side < 96 else rng.uniform(0.3, 1.0))
            face = face.copy()
            if rng.random() < 0.25:  # a bar over the lower face or one side
                k = int(48 * rng.uniform(0.2, 0.35))
                if rng.random() < 0.5:
                    face[48 - k:, :] = rng.uniform(20, 230)
                else:
                    face[:, :k] = rng.uniform(20, 230)
            paste(frame, face, cx, cy, side, math.radians(rng.uniform(-30, 30)), rng)
            boxes.append(box)
            truth.append(box)
        out.append((w, h, np.clip(frame, 0, 255).astype(np.uint8), truth))
    return out


def iou(a, b, margin=0.0):
    ax0, ay0, aw, ah = a; bx0, by0, bw, bh = b
    ax0 -= margin * aw; ay0 -= margin * ah; aw *= 1 + 2 * margin; ah *= 1 + 2 * margin
    iw = max(0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0)); ih = max(0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0


def encode(group, path):
    w, h = group[0][0], group[0][1]
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}", "-r", "3",
                          "-i", "-", "-c:v", "ffv1", path], stdin=subprocess.PIPE)
    for _, _, frame, _ in group:
        for _ in range(3):
            p.stdin.write(frame.tobytes())
    p.stdin.close()
    if p.wait() != 0:
        sys.exit("detector_recall: ffmpeg failed")


def run(binary, clip, detector, min_face):
    p = subprocess.run([binary, "--detector", detector, "--min-face", str(min_face), "--detect-every", "1", "--tta", "center",
                        "--no-progress", "--stats", clip], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"detector_recall: fer-stream failed on {clip}: {p.stderr.strip()}")
    stats = json.loads([l for l in p.stderr.splitlines() if l.startswith('{"frames_decoded"')][-1])
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()], stats["busy_s"]["detect"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=36)
    ap.add_argument("--min-face", type=int, default=24)
    ap.add_argument("--detectors", default="yunet,haar")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "fer-stream"))
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    made = scenes(args.scenes, rng, faces(2000))
    detectors = args.detectors.split(",")
    hits = {d: np.zeros(len(BINS) - 1) for d in detectors}
    reported = {d: np.zeros(len(BINS) - 1) for d in detectors}
    correct = {d: np.zeros(len(BINS) - 1) for d in detectors}
    busy = {d: 0.0 for d in detectors}
    total = np.zeros(len(BINS) - 1)
    frames = 0

    def bin_of(side):
        return next((k for k in range(len(BINS) - 1) if BINS[k] <= side < BINS[k + 1]), None)

    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            group = [s for s in made if (s[0], s[1]) == size]
            if not group:
                continue
            clip = os.path.join(tmp, f"{size[0]}x{size[1]}.mkv")
            encode(group, clip)
            frames += 3 * len(group)
            for _, _, _, truth in group:
                for t in truth:
                    total[bin_of(t[2])] += 1
            for d in detectors:
                lines, seconds = run(args.binary, clip, d, args.min_face)
                busy[d] += seconds
                for k, (_, _, _, truth) in enumerate(group):
                    found = [f["box"] for f in lines[3 * k + 2]["faces"]] if 3 * k + 2 < len(lines) else []
                    pairs = sorted(((iou(t, f), ti, fi) for ti, t in enumerate(truth) for fi, f in enumerate(found)), reverse=True)
                    matched = {}  # detection → true face
                    for v, ti, fi in pairs:
                        if v < 0.3 or ti in matched.values() or fi in matched:
                            continue
                        matched[fi] = ti
                        hits[d][bin_of(truth[ti][2])] += 1
                    # A detection counts in its true face's size bin, a false one in its own.
                    for fi, f in enumerate(found):
                        side = truth[matched[fi]][2] if fi in matched else max(f[2], f[3])
                        b = bin_of(side)
                        if b is None:
                            b = 0 if side < BINS[0] else len(BINS) - 2
                        reported[d][b] += 1
                        correct[d][b] += fi in matched

    head = "| face size (px) | faces | " + " | ".join(f"{d} recall | {d} precision" for d in detectors) + " |"
    print(f"{args.scenes} scenes ({', '.join(f'{w}×{h}' for w, h in SIZES)}), {int(total.sum())} faces, --min-face {args.min_face}\n")
    print(head)
    print("|" + "---|" * (2 + 2 * len(detectors)))
    for k in range(len(BINS) - 1):
        cells = [f"{BINS[k]}–{BINS[k + 1] - 1}", str(int(total[k]))]
        for d in detectors:
            cells.append(f"{100 * hits[d][k] / total[k]:.0f}%" if total[k] else "–")
            cells.append(f"{100 * correct[d][k] / reported[d][k]:.0f}% of {int(reported[d][k])}" if reported[d][k] else "–")
        print("| " + " | ".join(cells) + " |")
    cells = ["all", str(int(total.sum()))]
    for d in detectors:
        cells += [f"{100 * hits[d].sum() / total.sum():.1f}%", f"{100 * correct[d].sum() / max(1, reported[d].sum()):.1f}% of {int(reported[d].sum())}"]
    print("| " + " | ".join(cells) + " |")
    print("\ndetect busy s per frame: " + ", ".join(f"{d} {busy[d] / frames:.3f}" for d in detectors))


if __name__ == "__main__":
    main()
