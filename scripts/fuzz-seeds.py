#!/usr/bin/env python3
"""Writes the seed corpora of scripts/fuzz.sh into DIR/<target>/, generated here (no data set images):

- safetensors: small valid files (F32, F16, BF16; metadata), a VGG-shaped header with tiny tensors;
- cascade: a one-stage cut of Debian's Haar cascade (its features renumbered), when opencv-data is installed;
- csv: FER2013-layout CSVs of random pixels, plain and gzip, with and without a header;
- imagefolder: folder trees, one `folder/file` per line;
- writers: random bytes (the target reads typed values off them).

    python3 scripts/fuzz-seeds.py DIR
"""
import gzip
import json
import os
import random
import struct
import sys
import xml.etree.ElementTree as ET

CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def safetensors(tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, values) in sorted(tensors.items()):
        if dtype == "F32":
            blob = struct.pack(f"<{len(values)}f", *values)
        elif dtype == "F16":
            blob = struct.pack(f"<{len(values)}e", *values)
        else:  # BF16: the top half of each f32
            blob = b"".join(struct.pack("<f", v)[2:] for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def tiny_cascade():
    """The first stage of the Debian cascade with only the features it uses, renumbered from 0."""
    if not os.path.exists(CASCADE):
        return None
    tree = ET.parse(CASCADE)
    cascade = tree.getroot().find("cascade")
    stages, features = cascade.find("stages"), cascade.find("features")
    for extra in list(stages)[1:]:
        stages.remove(extra)
    cascade.find("stageNum").text = "1"
    used, all_features = {}, list(features)
    for node in stages.iter("internalNodes"):
        parts = node.text.split()
        old = int(parts[2])
        used.setdefault(old, len(used))
        parts[2] = str(used[old])
        node.text = " ".join(parts)
    for f in all_features:
        features.remove(f)
    for old, _ in sorted(used.items(), key=lambda kv: kv[1]):
        features.append(all_features[old])
    return ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True)


def fer_csv(rng, rows, header=True):
    lines = ["emotion,pixels,Usage"] if header else []
    for i in range(rows):
        pixels = " ".join(str(rng.randrange(256)) for _ in range(48 * 48))
        lines.append(f"{rng.randrange(7)},{pixels},{['Training', 'PublicTest', 'PrivateTest'][i % 3]}")
    return ("\n".join(lines) + "\n").encode()


def main():
    out = sys.argv[1]
    rng = random.Random(0)
    seeds = {t: {} for t in ["safetensors", "cascade", "csv", "imagefolder", "writers"]}
    vals = lambda n: [rng.uniform(-1, 1) for _ in range(n)]  # noqa: E731
    seeds["safetensors"]["f32"] = safetensors({"a": ("F32", [2, 3], vals(6))}, {"format": "pt"})
    seeds["safetensors"]["mixed"] = safetensors(
        {"conv0.weight": ("F16", [4, 1, 3, 3], vals(36)), "conv0.bias": ("BF16", [4], vals(4)),
         "classifier.weight": ("F32", [7, 4], vals(28)), "classifier.bias": ("F32", [7], vals(7))},
        {"format": "fer-stream-vgg19", "classes": "angry,disgust,fear,happy,sad,surprise,neutral", "channels": "4"})
    seeds["safetensors"]["resnet"] = safetensors(
        {"stem.weight": ("F16", [8, 1, 3, 3], vals(72))},
        {"format": "fer-stream-resnet18", "stages": "8", "blocks": "1", "pool": "4"})
    cascade = tiny_cascade()
    if cascade:
        seeds["cascade"]["stage1"] = cascade
    seeds["cascade"]["minimal"] = b'<?xml version="1.0"?><opencv_storage><cascade><width>24</width><height>24</height></cascade></opencv_storage>'
    seeds["csv"]["plain"] = fer_csv(rng, 3)
    seeds["csv"]["gzip"] = gzip.compress(fer_csv(rng, 2))
    seeds["csv"]["noheader"] = fer_csv(rng, 1, header=False)
    seeds["imagefolder"]["classes"] = b"happy/a.png\nSad/b.jpg\n3_anger/c\ncontempt/d.png\n.hidden/e\nneutral\n"
    seeds["imagefolder"]["odd"] = "Überrascht/x\n 01 - fear /y\nHAPPY FACE/z\n".encode()
    for i in range(4):
        seeds["writers"][f"random{i}"] = bytes(rng.randrange(256) for _ in range(64 + 96 * i))
    total = 0
    for target, files in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += 1
    print(f"fuzz-seeds: {total} seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
