#!/usr/bin/env python3
"""The baseline fer-stream is measured against: the same job done the usual Python way.

OpenCV decodes and runs its Haar cascade (same cascade, scale factor, neighbours and minimum size,
on a copy downscaled to 320 px wide, as fer-stream does), faces are cropped square to 48×48, and
PyTorch (CPU, bf16 autocast, channels_last) scores the crops of every face of a frame in one call
with the same test-time augmentation and weights. Prints one JSON line.

    python3 benchmarks/baseline_pipeline.py CLIP [--tta 10crop|center] [--model PATH]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "active")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))

import cv2  # noqa: E402  (pip: opencv-python-headless<5)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from model import load_safetensors, normalize  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--model", default=os.path.join(ROOT, "Models/vgg19-fer2013.safetensors"))
    ap.add_argument("--cascade", default="/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
    ap.add_argument("--tta", default="10crop", choices=["10crop", "center"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    model = load_safetensors(a.model)[0].eval().to(memory_format=torch.channels_last)
    cascade = cv2.CascadeClassifier(a.cascade)
    offsets = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)] if a.tta == "10crop" else [(2, 2)]
    cap = cv2.VideoCapture(a.clip)
    frames = faces = 0
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames += 1
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            scale = min(1.0, 320 / grey.shape[1])
            small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
            boxes = cascade.detectMultiScale(small, 1.1, 4, minSize=(max(1, int(40 * scale)),) * 2)
            crops = []
            for (x, y, w, h) in boxes:
                x, y, w, h = (int(v / scale) for v in (x, y, w, h))
                side = int(max(w, h) * 1.1)
                cx, cy = x + w // 2, y + h // 2
                x0, y0 = max(cx - side // 2, 0), max(cy - side // 2, 0)
                face = cv2.resize(grey[y0:y0 + side, x0:x0 + side], (48, 48), interpolation=cv2.INTER_LINEAR)
                for dx, dy in offsets:
                    c = face[dy:dy + 44, dx:dx + 44]
                    crops.append(c)
                    if a.tta == "10crop":
                        crops.append(c[:, ::-1])
            faces += len(boxes)
            if crops:
                x = normalize(torch.from_numpy(np.ascontiguousarray(np.stack(crops)))).unsqueeze(1)
                probs = model(x.contiguous(memory_format=torch.channels_last)).float().softmax(1)
                probs.view(len(boxes), -1, 7).mean(1)
    wall = time.perf_counter() - start
    print(json.dumps({"frames": frames, "faces": faces, "wall_s": round(wall, 3), "frames_per_s": round(frames / wall, 2)}))


if __name__ == "__main__":
    main()
