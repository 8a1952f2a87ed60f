#!/usr/bin/env python3
"""libfacedetection's own YuNet output on grey PGM images, for the parity test.

usage: scripts/yunet-reference.py IMAGE.pgm [...]   (needs `pip install yuface==2023.5.1`)
Prints one JSON line per image: [[score·100, x, y, w, h, 10 landmark coordinates], …], the
integers `facedetect_cnn` writes (truncated toward zero), every face scoring at least 0.2. Each
grey image is given as BGR with B = G = R.
"""
import json, sys
import numpy as np
import yuface


def read_pgm(path):
    data = open(path, "rb").read()
    parts, i = [], 0
    while len(parts) < 4:  # magic, width, height, maxval
        while data[i:i + 1].isspace():
            i += 1
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        parts.append(data[i:j])
        i = j
    if parts[0] != b"P5" or parts[3] != b"255":
        sys.exit(f"{path}: not an 8-bit binary PGM")
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(data[i + 1:i + 1 + w * h], np.uint8).reshape(h, w)


for path in sys.argv[1:]:
    grey = read_pgm(path)
    bgr = np.ascontiguousarray(np.stack([grey] * 3, axis=2))
    confs, boxes, landmarks = yuface.detect(bgr, conf=0.2)
    print(json.dumps([[int(c), *map(int, b), *map(int, l)] for c, b, l in zip(confs, boxes, landmarks)]))
