"""Tests of training/ckplus.py (CK+ 10-fold cross-validation) on a tiny generated CK+-like folder.

Run from the repo root: python3 -m pytest -q training/tests/test_ckplus.py
"""
from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

TRAINING = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TRAINING))

import ckplus  # noqa: E402
from evaluate import predict_probs  # noqa: E402
from export import export_model  # noqa: E402
from model import arch_from_metadata, build, load_safetensors  # noqa: E402

torch.set_num_threads(1)

N_SUBJECTS = 12


def _make_folder(root: Path) -> Path:
    """12 subjects S001..S012; subject i shows classes i and i+1 (mod 7), one 48x48 frame each; some
    subjects get a second sequence so the class sizes differ."""
    rng = np.random.default_rng(0)
    for i in range(N_SUBJECTS):
        for j, c in enumerate((i % 7, (i + 1) % 7)):
            d = root / ckplus.CLASSES[c]
            d.mkdir(parents=True, exist_ok=True)
            frames = 2 if i % 4 == 0 and j == 0 else 1
            for f in range(frames):
                img = rng.integers(0, 256, (48, 48)).astype(np.uint8)
                img[:, :24] = np.clip(img[:, :24] // 2 + 30 * c, 0, 255)  # a little class signal
                ckplus.write_png_grey(d / f"S{i + 1:03d}_{j + 1:03d}_{f + 1:08d}.png", img)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("ck")
    data = _make_folder(base / "ckplus48")
    torch.manual_seed(0)
    weights = base / "tiny-fer.safetensors"
    export_model(build("vgg19").state_dict(), weights, {"epoch": 0})
    return {"data": data, "weights": weights, "base": base}


# ---------------------------------------------------------------- PNG

def _png(pixels: np.ndarray, filters) -> bytes:
    """A grey PNG whose rows use the given filter types (0..4), encoded here independently."""
    h, w = pixels.shape
    p = pixels.astype(np.int64)
    raw = b""
    for r in range(h):
        ft = filters[r % len(filters)]
        prev = p[r - 1] if r else np.zeros(w, np.int64)
        out = []
        for x in range(w):
            a = p[r, x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            pa, pb, pc = abs(a + b - c - a), abs(a + b - c - b), abs(a + b - c - c)
            pred = [0, a, b, (a + b) // 2, a if pa <= pb and pa <= pc else (b if pb <= pc else c)][ft]
            out.append((p[r, x] - pred) % 256)
        raw += bytes([ft]) + bytes(out)

    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF)

    return (ckplus.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_png_reader_undoes_every_filter(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (9, 13)).astype(np.uint8)
    p = tmp_path / "f.png"
    p.write_bytes(_png(img, [0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(ckplus.read_png_grey(p), img)
    ckplus.write_png_grey(p, img)
    np.testing.assert_array_equal(ckplus.read_png_grey(p), img)


# ---------------------------------------------------------------- folds

def test_reference_folds_are_contiguous_per_class_and_cover_once():
    sizes = [13, 5, 27, 10, 31, 9, 40]
    y = np.repeat(np.arange(7), sizes)
    folds = ckplus.reference_folds(y)
    assert len(folds) == 10
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(len(y)))  # every image exactly once
    for c, n in enumerate(sizes):
        start = int(np.flatnonzero(y == c)[0])
        pos = start
        for f in folds:  # fold k holds the k-th contiguous range of the class
            part = f[y[f] == c]
            assert part.tolist() == list(range(pos, pos + len(part)))
            assert len(part) in (n // 10, n // 10 + 1)
            pos += len(part)
        assert pos == start + n


def test_subject_folds_never_share_a_subject_and_cover_once():
    rng = np.random.default_rng(2)
    subjects = [f"S{s:03d}" for s in rng.integers(0, 40, 400)]
    folds = ckplus.subject_folds(subjects)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(subjects)))
    for f in folds:
        test_s = {subjects[i] for i in f}
        train_s = {subjects[i] for i in ckplus.train_indices(f, len(subjects))}
        assert test_s and not (test_s & train_s)
    # deterministic, and balanced to within the largest subject's image count
    assert [f.tolist() for f in ckplus.subject_folds(subjects)] == [f.tolist() for f in folds]
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= max(np.unique(subjects, return_counts=True)[1])


def test_real_data_folds():
    if not ckplus.DEFAULT_DATA.is_dir():
        pytest.skip(f"no CK+ data at {ckplus.DEFAULT_DATA}")
    d = ckplus.load_ckplus()
    assert d.x.shape == (981, 48, 48) and len(set(d.subjects)) == 118
    assert np.bincount(d.y).tolist() == [135, 54, 177, 75, 207, 84, 249]
    for protocol in ckplus.PROTOCOLS:
        folds = ckplus.make_folds(protocol, d)
        assert sorted(np.concatenate(folds).tolist()) == list(range(981))
    for f in ckplus.make_folds("subject", d):
        train_s = {d.subjects[i] for i in ckplus.train_indices(f, 981)}
        assert not ({d.subjects[i] for i in f} & train_s)


def test_the_committed_results_add_up():
    """Models/ckplus-10fold.json, as committed: each complete entry's mean, pooled accuracy and confusion
    matrix follow from its folds, the folds cover the 981 faces once, and no subject-split fold tests a
    subject it trained on."""
    doc = json.loads((ckplus.REPO_ROOT / "Models" / "ckplus-10fold.json").read_text())
    assert doc["protocols"]
    for e in doc["protocols"]:
        what = (e["protocol"], e["init"], e.get("network", "vgg19"))
        assert e["complete"] and len(e["folds"]) == 10, what
        assert sum(f["n"] for f in e["folds"]) == e["n"] == 981, what
        assert e["mean"] == pytest.approx(np.mean([f["accuracy"] for f in e["folds"]]), abs=1e-4), what
        cm = np.array(e["confusion"])
        assert cm.shape == (7, 7) and cm.sum() == 981 and cm.sum(1).tolist() == [135, 54, 177, 75, 207, 84, 249], what
        right = sum(round(f["accuracy"] * f["n"]) for f in e["folds"])
        assert np.trace(cm) == right and e["pooled_accuracy"] == pytest.approx(right / 981, abs=1e-4), what
        if e["protocol"] == "subject":
            assert all(f["test_subjects_also_in_train"] == 0 for f in e["folds"]), what
            tested = [s for f in e["folds"] for s in f["test_subjects"]]
            assert len(tested) == len(set(tested)) == 118, what


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no CK\\+ data at"):
        ckplus.main(["--data", str(tmp_path / "nope"), "--out", ""])


# ---------------------------------------------------------------- 10-crop

def test_tencrop_probabilities_and_the_feature_path_agree(tiny):
    d = ckplus.load_ckplus(tiny["data"])
    torch.manual_seed(3)
    m = build("vgg19", num_classes=7).eval()
    x = d.x[:4]
    p = ckplus.tencrop_probs(m, x)
    assert p.shape == (4, 7)
    torch.testing.assert_close(p.sum(1), torch.ones(4))
    # the frozen-feature path (features of the 10 crops, then the head) gives the same numbers
    feats = ckplus.crop_features(m, x)
    assert feats.shape == (4, 10, 512)
    torch.testing.assert_close(ckplus.head_probs(m.classifier, feats), p, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ckplus.head_probs(m.classifier, feats[:, 8:9]),
                               predict_probs(m, x, "center", bf16=False), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- end to end

def _run(tiny, tmp, *args):
    return ckplus.main(["--data", str(tiny["data"]), "--weights", str(tiny["weights"]), "--threads", "1",
                        "--cache-dir", str(tmp / "cache"), "--out", str(tmp / "ck.json"), *args])


def test_protocols_write_and_merge_the_json(tiny, tmp_path):
    out = tmp_path / "ck.json"
    e1 = _run(tiny, tmp_path, "--protocol", "reference", "--folds", "0,1", "--epochs", "1", "--max-steps", "1",
              "--batch", "16")
    doc = json.loads(out.read_text())
    assert [(e["protocol"], e["init"]) for e in doc["protocols"]] == [("reference", "scratch")]
    ref = doc["protocols"][0]
    assert ref["complete"] is False and "mean" not in ref and [f["fold"] for f in ref["folds"]] == [0, 1]
    assert ref["classes"] == list(ckplus.CLASSES) and ref["epochs"] == 1
    assert np.array(ref["confusion"]).shape == (7, 7) and np.array(ref["confusion"]).sum() == ref["n"]
    assert ref["n"] == sum(f["n"] for f in ref["folds"]) and ref["command"].startswith("python3 training/ckplus.py")
    assert e1["folds"] == ref["folds"]

    # all 10 folds of the frozen-feature protocol: a mean; the reference entry stays
    e2 = _run(tiny, tmp_path, "--protocol", "subject", "--head-only", "--epochs", "2")
    doc = json.loads(out.read_text())
    assert [(e["protocol"], e["init"]) for e in doc["protocols"]] == [("reference", "scratch"),
                                                                       ("subject", "fer2013-frozen")]
    sub = doc["protocols"][1]
    assert sub["complete"] is True and len(sub["folds"]) == 10
    assert sub["mean"] == pytest.approx(np.mean([f["accuracy"] for f in sub["folds"]]), abs=1e-4)
    assert sum(f["n"] for f in sub["folds"]) == sub["n"] == len(list(tiny["data"].rglob("*.png")))
    assert all(f["test_subjects_also_in_train"] == 0 for f in sub["folds"])
    assert doc["protocols"][0] == ref

    # a fine-tune fold from the (tiny) FER2013 weights; then a resumed run trains nothing again
    _run(tiny, tmp_path, "--protocol", "subject", "--folds", "0", "--epochs", "1", "--max-steps", "1", "--batch", "16")
    fold_json = tmp_path / "cache" / "subject-fer2013" / "fold-0.json"
    stamp = fold_json.stat().st_mtime_ns
    e3 = _run(tiny, tmp_path, "--protocol", "subject", "--folds", "0,1", "--epochs", "1", "--max-steps", "1",
              "--batch", "16")
    assert fold_json.stat().st_mtime_ns == stamp and [f["fold"] for f in e3["folds"]] == [0, 1]
    doc = json.loads(out.read_text())
    assert [(e["protocol"], e["init"]) for e in doc["protocols"]] == [
        ("reference", "scratch"), ("subject", "fer2013"), ("subject", "fer2013-frozen")]
    assert doc["protocols"][2]["folds"] == e2["folds"]

    # a resumed run with another configuration is refused
    with pytest.raises(SystemExit, match="another configuration"):
        _run(tiny, tmp_path, "--protocol", "subject", "--folds", "2", "--epochs", "2", "--max-steps", "1")


def test_export_fold_writes_a_ckplus_model(tiny, tmp_path):
    dst = tmp_path / "ck-fold3.safetensors"
    e = _run(tiny, tmp_path, "--protocol", "subject", "--head-only", "--folds", "3", "--epochs", "1",
             "--export-fold", "3", "--export-out", str(dst))
    m, meta = load_safetensors(dst)
    assert meta["classes"] == "anger,contempt,disgust,fear,happy,sadness,surprise"
    assert meta["protocol"] == "subject" and meta["fold"] == "3" and len(meta["int8_act_max"].split(",")) == 16
    assert m.classifier.out_features == 7
    # the exported (f16) model scores its fold's test images as the run did
    d = ckplus.load_ckplus(tiny["data"])
    test = ckplus.make_folds("subject", d)[3]
    acc = float((predict_probs(m, d.x[test], "10crop", bf16=False).argmax(1) == torch.from_numpy(d.y[test])).float().mean())
    assert acc == pytest.approx(e["folds"][0]["accuracy"], abs=1 / len(test) + 1e-6)


def test_a_resnet18_gets_its_own_entries(tiny, tmp_path):
    """Another network's frozen features and its fine-tune get their own entries beside the VGG19's
    (which stays as it was); a fine-tuned fold exports as a ResNet18 with CK+'s classes."""
    torch.manual_seed(1)
    rn = tmp_path / "tiny-rn18.safetensors"
    export_model(build("resnet18").state_dict(), rn, {"epoch": 0}, arch="resnet18")
    out = tmp_path / "ck.json"
    _run(tiny, tmp_path, "--protocol", "subject", "--head-only", "--epochs", "1", "--folds", "0")
    vgg = json.loads(out.read_text())["protocols"]
    e = _run(tiny, tmp_path, "--protocol", "subject", "--head-only", "--epochs", "1", "--folds", "0", "--weights", str(rn))
    doc = json.loads(out.read_text())
    assert e["network"] == "resnet18"
    assert [(p.get("network", "vgg19"), p["protocol"], p["init"]) for p in doc["protocols"]] == [
        ("vgg19", "subject", "fer2013-frozen"), ("resnet18", "subject", "fer2013-frozen")]
    assert doc["protocols"][0] == vgg[0]
    assert (tmp_path / "cache" / "subject-fer2013-frozen-resnet18" / "fold-0.json").exists()
    dst = tmp_path / "rn-fold0.safetensors"
    f = _run(tiny, tmp_path, "--protocol", "subject", "--folds", "0", "--epochs", "1", "--max-steps", "1",
             "--batch", "16", "--weights", str(rn), "--export-fold", "0", "--export-out", str(dst))
    assert f["network"] == "resnet18" and f["init"] == "fer2013"
    doc = json.loads(out.read_text())
    assert [(p.get("network", "vgg19"), p["protocol"], p["init"]) for p in doc["protocols"]] == [
        ("vgg19", "subject", "fer2013-frozen"), ("resnet18", "subject", "fer2013"),
        ("resnet18", "subject", "fer2013-frozen")]
    assert (tmp_path / "cache" / "subject-fer2013-resnet18" / "fold-0.json").exists()
    m, meta = load_safetensors(dst)
    assert arch_from_metadata(meta) == "resnet18" and m.classifier.out_features == 7
    assert meta["classes"] == "anger,contempt,disgust,fear,happy,sadness,surprise"
