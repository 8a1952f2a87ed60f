"""CI-affordable tests for the training code (< 2 min on 2 cores).

Run from the repo root: python3 -m pytest training/tests -q
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parent.parent
REPO = TRAINING.parent
sys.path.insert(0, str(TRAINING))

import fer2013  # noqa: E402  (numpy only)


def _tiny_csv_text(rows):
    lines = ["emotion,pixels,Usage"]
    for emo, px, usage in rows:
        lines.append(f"{emo},{' '.join(str(int(v)) for v in px.ravel())},{usage}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_rows():
    rng = np.random.default_rng(0)
    usages = ["Training"] * 5 + ["PublicTest"] * 2 + ["PrivateTest"] * 3
    return [(i % 7, rng.integers(0, 256, (48, 48)), u) for i, u in enumerate(usages)]


def _check_parsed(d, rows):
    for split in fer2013.SPLITS:
        want = [(e, px) for e, px, u in rows if u == split]
        x, y = d[split]
        assert x.dtype == np.uint8 and x.shape == (len(want), 48, 48)
        assert y.dtype == np.int64 and y.tolist() == [e for e, _ in want]
        for got, (_, px) in zip(x, want):
            np.testing.assert_array_equal(got, px)


def test_csv_plain_and_gzip_detected_by_magic(tmp_path, monkeypatch, tiny_rows):
    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    text = _tiny_csv_text(tiny_rows)
    plain = tmp_path / "plain.csv.gz"  # misleading extension on purpose: plain text
    plain.write_text(text)
    gz = tmp_path / "packed.csv"  # gzip content without a .gz extension
    gz.write_bytes(gzip.compress(text.encode()))
    for p in (plain, gz):
        _check_parsed(fer2013.load(p), tiny_rows)
    caches = sorted((tmp_path / "cache").glob("fer2013-*.npz"))
    assert len(caches) == 2
    _check_parsed(fer2013.load(gz), tiny_rows)  # second load comes from the cache


def test_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("FER2013_CSV", raising=False)
    assert fer2013.resolve_path(None) == REPO.parent / "shared" / "data" / "fer2013.csv.gz"
    monkeypatch.setenv("FER2013_CSV", str(tmp_path / "x.csv"))
    assert fer2013.resolve_path(None) == tmp_path / "x.csv"
    assert fer2013.resolve_path(str(tmp_path / "y.csv")) == tmp_path / "y.csv"


def test_compact_npz(tmp_path, monkeypatch, tiny_rows):
    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    src = tmp_path / "f.csv"
    src.write_text(_tiny_csv_text(tiny_rows))
    dst = tmp_path / "compact.npz"
    fer2013.write_compact(str(src), str(dst))
    d = fer2013.load(dst)
    assert set(d) == {"Training", "PublicTest"}
    np.testing.assert_array_equal(d["Training"][0], fer2013.load(src)["Training"][0])


def test_packed_format_is_lossless_and_detected_by_magic(tmp_path, monkeypatch, tiny_rows):
    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    src = tmp_path / "f.csv"
    src.write_text(_tiny_csv_text(tiny_rows))
    dst = tmp_path / "fer.bin"  # no telling extension: load() goes by the magic bytes
    fer2013.write_packed(str(src), str(dst))
    d, want = fer2013.load(dst), fer2013.load(src)
    assert list(d) == ["Training", "PublicTest"]  # PrivateTest stays behind
    for s in d:
        np.testing.assert_array_equal(d[s][0], want[s][0])
        np.testing.assert_array_equal(d[s][1], want[s][1])
    # Edges of the predictor: flat, extreme and alternating images survive too.
    flat = np.zeros((3, 48, 48), np.uint8)
    flat[1] = 255
    flat[2, ::2, ::2] = 255
    flat[2, 1::2, 1::2] = 255
    u = fer2013.unpack(fer2013.pack({"Training": (flat, np.array([0, 6, 3]))}))
    np.testing.assert_array_equal(u["Training"][0], flat)
    # On smooth images (as faces are) the residuals compress far below the raw pixels.
    yy, xx = np.mgrid[:48, :48]
    smooth = np.stack([((xx * (i + 1) + yy * 2) % 256) for i in range(20)]).astype(np.uint8)
    assert len(fer2013.pack({"Training": (smooth, np.zeros(20, int))})) < smooth.nbytes / 10
    raw = dst.read_bytes()
    dst.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match="fer.bin: corrupt packed FER2013 file"):
        fer2013.load(dst)


# ---------------------------------------------------------------- torch-dependent tests

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install -r training/requirements.txt")

from evaluate import predict_probs  # noqa: E402
from export import export_model, tensor_names, write_golden, golden_logits44, sha256_file  # noqa: E402
from model import VGG19FER, load_safetensors  # noqa: E402
import train  # noqa: E402

DATA = fer2013.resolve_path(None)
need_data = pytest.mark.skipif(not DATA.exists(), reason=f"FER2013 not found at {DATA} (set FER2013_CSV)")


def test_augment_shapes_and_range():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
    out = train.augment(x, g)
    assert out.shape == (16, 1, 44, 44) and out.dtype == torch.float32
    assert out.min() >= -2.0 - 1e-5 and out.max() <= 2.0 + 1e-5
    plain = train.augment(x, g, **train.AUGMENTS["light"])
    # --augment light (no affine, no erasing): every output is an exact (possibly mirrored) crop of the input
    xf = (x.float() / 255 - 0.5) / 0.25
    for i in range(4):
        found = any(torch.equal(plain[i, 0], c) for t in range(5) for l in range(5)
                    for c in (xf[i, t:t + 44, l:l + 44], xf[i, t:t + 44, l:l + 44].flip(-1)))
        assert found


def test_lr_schedule():
    spe, ep = 10, 6
    lrs = [train.lr_at(s, spe, ep, 0.05, 2) for s in range(spe * ep)]
    assert lrs[0] < 0.01 and abs(lrs[19] - 0.05) < 1e-9
    assert max(lrs) <= 0.05 + 1e-12 and lrs[-1] < 1e-3
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))
    # a warm restart at epoch 4 of 6: back to the peak at once, then down to ~0 by the end
    rs = [train.lr_at(s, spe, ep, 0.003, 2, cycle_start=4) for s in range(40, spe * ep)]
    assert abs(rs[0] - 0.003) < 1e-12 and rs[-1] < 1e-4
    assert all(a > b for a, b in zip(rs, rs[1:]))
    # and with cycle_epochs=1 from epoch 3: a fresh cosine every epoch, each ending near 0
    cs = [train.lr_at(s, spe, ep, 0.003, 2, cycle_start=3, cycle_epochs=1) for s in range(30, spe * ep)]
    for c in range(3):
        one = cs[c * spe:(c + 1) * spe]
        assert abs(one[0] - 0.003) < 1e-12 and one[-1] < 1e-4
        assert all(a > b for a, b in zip(one, one[1:]))
        assert one == [train.lr_at(s, spe, 4, 0.003, 2, cycle_start=3) for s in range(30, 40)]


def test_curve_table_from_log(tmp_path):
    import curve
    log = tmp_path / "log.jsonl"
    recs = [{"epoch": 35, "lr": 0.0026, "train_loss": 0.93, "train_acc": 0.78, "img_per_s": 84.2, "public_center": 0.6654},
            {"epoch": 34, "lr": 0.0028, "train_loss": 0.95, "train_acc": 0.77, "img_per_s": 80.0},
            {"epoch": 35, "lr": 0.0025, "train_loss": 0.92, "train_acc": 0.79, "img_per_s": 85.0, "public_center": 0.6701}]
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    rows = curve.table(curve.read_log(log)).splitlines()
    # header + rule, then one row per epoch in order; a repeated epoch keeps the later line
    assert rows[2] == "| 34 | 0.0028 | 0.950 | 77.0% | 80 | – |"
    assert rows[3] == "| 35 | 0.0025 | 0.920 | 79.0% | 85 | 67.01% |"
    assert len(rows) == 4
    log.write_text(json.dumps(recs[0]) + '\n{"epoch": 1}\n')
    with pytest.raises(SystemExit, match="log.jsonl:2: not a train.py epoch record \\(missing lr, "):
        curve.read_log(log)
    log.write_text("not json\n")
    with pytest.raises(SystemExit, match="log.jsonl:1: not a train.py epoch record"):
        curve.read_log(log)


def test_checkpoint_weights_choice():
    from evaluate import checkpoint_weights
    ck = {"model": {"w": 1}, "ema": {"w": 2}}
    assert checkpoint_weights(ck, "ema", "x.pt") == {"w": 2}
    assert checkpoint_weights(ck, "raw", "x.pt") == {"w": 1}
    with pytest.raises(SystemExit, match="best.pt: no raw weights"):
        checkpoint_weights({"ema": {}}, "raw", "best.pt")


def test_precision_choice():
    assert train.use_bf16("bf16", "cpu") and not train.use_bf16("f32", "cuda")
    assert train.use_bf16("auto", "cuda")
    # auto on the CPU follows the AMX flag the kernel reports
    assert train.use_bf16("auto", "cpu") == ("amx_bf16" in open("/proc/cpuinfo").read())


@need_data
def test_few_steps_on_real_rows_reduce_loss():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, y = fer2013.load(None)["Training"]
    x, y = torch.from_numpy(x[:320]), torch.from_numpy(y[:320])
    g = torch.Generator().manual_seed(0)
    xb = train.augment(x[:48], g).contiguous(memory_format=torch.channels_last)
    yb = y[:48]
    m = VGG19FER().to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    losses = []
    for _ in range(8):
        loss, _ = train.train_step(m, opt, xb, yb, bf16=True, label_smoothing=0.1)
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert min(losses[-3:]) < losses[0], losses


@need_data
def test_train_checkpoint_and_resume(tmp_path):
    common = ["--limit", "64", "--batch", "32", "--no-eval", "--init", "", "--run-dir", str(tmp_path)]
    train.main(["--epochs", "1"] + common)
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ck["epoch"] == 1 and ck["step"] == 2
    train.main(["--epochs", "2"] + common)  # resumes from last.pt and runs epoch 2 only
    recs = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2] and recs[1]["step"] == 4
    assert all(np.isfinite(r["train_loss"]) for r in recs)


@need_data
def test_short_cycles_keep_a_snapshot_at_each_cycle_end(tmp_path):
    train.main(["--limit", "64", "--batch", "32", "--no-eval", "--init", "", "--run-dir", str(tmp_path),
                "--epochs", "4", "--cycle-start", "0", "--cycle-epochs", "2", "--snapshots", "--lr", "0.001"])
    assert sorted(p.name for p in tmp_path.glob("snapshot-*.pt")) == ["snapshot-e2.pt", "snapshot-e4.pt"]
    snap = torch.load(tmp_path / "snapshot-e4.pt", weights_only=False)
    last = torch.load(tmp_path / "last.pt", weights_only=False)
    assert snap["epoch"] == 4 and all(torch.equal(v, last["model"][k]) for k, v in snap["model"].items())
    recs = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in recs]  # the lr of each epoch's last step: down, restart, down again
    assert lrs[1] < lrs[0] < 0.001 and lrs[2] == lrs[0] and lrs[3] == lrs[1]


@need_data
def test_resume_inside_an_epoch_matches_an_uninterrupted_run(tmp_path):
    common = ["--limit", "128", "--batch", "32", "--no-eval", "--init", "", "--epochs", "1", "--ckpt-every", "2"]
    train.main(common + ["--run-dir", str(tmp_path / "a")])
    # Run b stops after 3 of 4 steps, as a stopped session would; its last checkpoint is after step 2.
    train.main(common + ["--run-dir", str(tmp_path / "b"), "--max-steps", "3"])
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ck["epoch"] == 0 and ck["step"] == 2 and ck["partial"]["i"] == 2
    train.main(common + ["--run-dir", str(tmp_path / "b")])
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 4 and "partial" not in b
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), atol=1e-5), k


@need_data
def test_warm_restart_draws_its_own_batches(tmp_path, monkeypatch):
    """A run started from weights of epoch E must not replay the data order and augmentations
    that a run from scratch (or from another epoch) drew."""
    seen = []
    real_augment = train.augment

    def recording_augment(px, gen, **kw):
        seen.append(px.clone())
        return real_augment(px, gen, **kw)

    monkeypatch.setattr(train, "augment", recording_augment)
    model = VGG19FER().state_dict()
    for e in (3, 5):
        export_model(model, tmp_path / f"e{e}.safetensors", {"epoch": e})

    def first_batch(init, run):
        seen.clear()
        train.main(["--limit", "64", "--batch", "32", "--no-eval", "--epochs", "9", "--max-steps", "1",
                    "--init", init, "--run-dir", str(tmp_path / run)])
        return seen[0]

    scratch = first_batch("", "s")
    e3, e3_again, e5 = (first_batch(str(tmp_path / f), r) for f, r in
                        (("e3.safetensors", "a"), ("e3.safetensors", "b"), ("e5.safetensors", "c")))
    assert torch.equal(e3, e3_again)  # still reproducible
    assert not torch.equal(e3, scratch) and not torch.equal(e3, e5)


def _random_model(seed=0):
    torch.manual_seed(seed)
    m = VGG19FER()
    for name, b in m.named_buffers():
        if name.endswith("running_mean"):
            b.normal_(0, 0.1)
        elif name.endswith("running_var"):
            b.uniform_(0.5, 2.0)
    return m.eval()


def test_export_round_trip(tmp_path):
    from safetensors import safe_open

    m = _random_model()
    out = tmp_path / "vgg19-fer2013.safetensors"
    export_model(m.state_dict(), out, {"epoch": 3, "public_test_center": "0.5000"})
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        assert sorted(f.keys()) == sorted(tensor_names())
        assert f.get_tensor("conv0.weight").shape == (64, 1, 3, 3)
        assert f.get_tensor("conv15.weight").shape == (512, 512, 3, 3)
        assert f.get_tensor("bn15.running_var").shape == (512,)
        assert f.get_tensor("classifier.weight").shape == (7, 512)
        assert f.get_tensor("classifier.bias").shape == (7,)
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    assert meta["format"] == "fer-stream-vgg19"
    assert meta["classes"] == "angry,disgust,fear,happy,sad,surprise,neutral"
    assert meta["channels"] == "64,64,M,128,128,M,256,256,256,256,M,512,512,512,512,M,512,512,512,512,M"
    assert (meta["input_size"], meta["crop_from"], meta["norm_mean"], meta["norm_std"], meta["bn_eps"]) == \
        ("44", "48", "0.5", "0.25", "1e-05")
    assert meta["epoch"] == "3" and meta["public_test_center"] == "0.5000"
    m2, meta2 = load_safetensors(out)
    for k, v in m.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(m2.state_dict()[k], v.half().float(), rtol=0, atol=0)


def _check_golden(model_path: Path, golden_path: Path):
    from safetensors import safe_open

    with safe_open(str(golden_path), "pt") as f:
        meta = f.metadata()
        g = {k: f.get_tensor(k) for k in f.keys()}
    assert meta["model_sha256"] == sha256_file(model_path)
    assert g["inputs44"].shape == (8, 44, 44) and g["logits44"].shape == (8, 7)
    assert g["faces48"].shape == (4, 48, 48) and g["probs10crop"].shape == (4, 7)
    for k in ("inputs44", "faces48"):
        assert g[k].dtype == torch.float32
        assert torch.equal(g[k], g[k].round()) and g[k].min() >= 0 and g[k].max() <= 255
    m, _ = load_safetensors(model_path)
    torch.testing.assert_close(golden_logits44(m, g["inputs44"]), g["logits44"], rtol=1e-4, atol=1e-4)
    p = predict_probs(m, g["faces48"], "10crop", bf16=False)
    torch.testing.assert_close(p, g["probs10crop"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(p.sum(1), torch.ones(4))


def test_golden_reproducible_from_export(tmp_path):
    m = _random_model(1)
    out = tmp_path / "vgg19-fer2013.safetensors"
    export_model(m.state_dict(), out, {"epoch": 1})
    golden = tmp_path / "vgg19-fer2013.golden.safetensors"
    write_golden(out, golden)
    _check_golden(out, golden)


COMMITTED = REPO / "Models" / "vgg19-fer2013.safetensors"


@pytest.mark.parametrize("name", ["vgg19-fer2013", "vgg19-ferplus", "resnet18-fer2013", "student-ferplus"])
def test_committed_golden_matches_committed_model(name):
    model = REPO / "Models" / f"{name}.safetensors"
    if not model.exists():
        pytest.skip(f"no {model.name} in Models/")
    _check_golden(model, model.with_name(f"{name}.golden.safetensors"))


def test_activation_maxima_are_the_largest_conv_outputs():
    from export import activation_maxima

    m = _random_model()
    pixels = np.random.default_rng(1).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    maxima = activation_maxima(m, pixels, batch=4)
    assert len(maxima) == 16 and all(v >= 0 for v in maxima)
    # The first conv by hand: centre crops and their mirrors, BN, ReLU.
    x = torch.from_numpy(pixels)[:, None, 2:46, 2:46]
    x = torch.cat([x, x.flip(3)])
    with torch.no_grad():
        first = torch.relu(m.bn0(m.conv0((x.float() / 255 - 0.5) / 0.25))).max().item()
    assert abs(maxima[0] - first) < 1e-5


def test_average_state_dicts_is_the_elementwise_mean():
    from average import average_state_dicts, parse_source

    a, b, c = (_random_model(s).state_dict() for s in (0, 1, 2))
    avg = average_state_dicts([a, b, c])
    for k, v in avg.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (a[k] + b[k] + c[k]) / 3)
        else:
            assert torch.equal(v, a[k])  # num_batches_tracked: taken, not averaged
    # A state dict that is itself a mean of two snapshots weighs two.
    ab = average_state_dicts([a, b])
    for k, v in average_state_dicts([ab, c], counts=[2, 1]).items():
        if v.is_floating_point():
            torch.testing.assert_close(v, avg[k])
    with pytest.raises(ValueError, match="differ in keys"):
        average_state_dicts([a, {k: v for k, v in b.items() if k != "classifier.bias"}])
    with pytest.raises(ValueError, match="positive count"):
        average_state_dicts([a, b], counts=[1, 0])
    assert parse_source("r/last.pt:raw") == ("r/last.pt", "raw")
    assert parse_source("Models/x.safetensors") == ("Models/x.safetensors", "ema")
    assert parse_source("swa.pt:swa") == ("swa.pt", "swa")
    assert parse_source("run/snapshot-e60.pt", "raw") == ("run/snapshot-e60.pt", "raw")


def test_bn_recalibration_sets_the_exact_statistics_of_clean_crops():
    from average import recalibrate_bn

    m = _random_model()
    m.bn0.momentum = 0.1
    # Images constant per image: every 44x44 crop and mirror is the same, so the statistics the
    # first BN layer must hold are computable here, whatever crop the recalibration draws.
    levels = torch.tensor([0, 40, 90, 128, 200, 255], dtype=torch.uint8)
    pixels = levels[:, None, None].expand(6, 48, 48).contiguous().numpy()
    recalibrate_bn(m, pixels, batch=256)
    assert not m.training and m.bn0.momentum == 0.1  # back in eval mode, momentum restored
    x = ((levels.float() / 255 - 0.5) / 0.25)[:, None, None, None].expand(6, 1, 44, 44)
    with torch.no_grad():
        y = m.conv0(x)
    torch.testing.assert_close(m.bn0.running_mean, y.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m.bn0.running_var, y.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-5)
    # And the model now predicts with those statistics: eval output == train-mode (batch-stat) output.
    with torch.no_grad():
        m.train()
        want = m.bn0(y)
        m.eval()
        torch.testing.assert_close(m.bn0(y), want, rtol=1e-3, atol=1e-3)


def test_average_cli_writes_a_checkpoint_export_reads(tmp_path, monkeypatch, tiny_rows):
    import average
    from evaluate import load_any

    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    csv = tmp_path / "tiny.csv"
    csv.write_text(_tiny_csv_text(tiny_rows))
    srcs = []
    for s in (0, 1):
        p = tmp_path / f"s{s}.pt"
        torch.save({"model": _random_model(s).state_dict(), "ema": _random_model(s + 5).state_dict(),
                    "epoch": 10 + s}, p)
        srcs.append(str(p))
    out = tmp_path / "swa.pt"
    average.main([srcs[0] + ":raw", srcs[1] + ":raw", "--out", str(out), "--data", str(csv), "--bn-rows", "0"])
    ck = torch.load(out, weights_only=False)
    assert ck["epoch"] == 11 and ck["bn_rows"] == 5 and len(ck["sources"]) == 2
    m, info = load_any(str(out), "cpu", "swa")
    a, b = _random_model(0).state_dict(), _random_model(1).state_dict()
    torch.testing.assert_close(m.conv3.weight, (a["conv3.weight"] + b["conv3.weight"]) / 2)
    assert not torch.allclose(m.bn3.running_mean, (a["bn3.running_mean"] + b["bn3.running_mean"]) / 2)
    # Averaging that mean with a third snapshot continues the running mean over all three.
    p2 = tmp_path / "s2.pt"
    torch.save({"model": _random_model(2).state_dict(), "epoch": 12}, p2)
    out3 = tmp_path / "swa3.pt"
    average.main([f"{out}:swa", f"{p2}:raw", "--out", str(out3), "--data", str(csv), "--bn-rows", "0"])
    ck3 = torch.load(out3, weights_only=False)
    assert ck3["sources"] == ck["sources"] + [f"{p2} (raw)"] and ck3["epoch"] == 12
    m3, _ = load_any(str(out3), "cpu", "swa")
    c = _random_model(2).state_dict()
    torch.testing.assert_close(m3.conv3.weight, (a["conv3.weight"] + b["conv3.weight"] + c["conv3.weight"]) / 3)


def test_swa_curve_rows_follow_the_running_mean(tmp_path, monkeypatch, tiny_rows):
    import average
    import swa_curve
    from evaluate import metrics, predict_probs

    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    csv = tmp_path / "tiny.csv"
    csv.write_text(_tiny_csv_text(tiny_rows))
    snaps = []
    for s, e in ((1, 9), (2, 10), (3, 100)):
        p = tmp_path / f"snapshot-e{e}.pt"
        torch.save({"model": _random_model(s).state_dict(), "epoch": e}, p)
        snaps.append(f"{p}:raw")
    base = tmp_path / "base.pt"
    torch.save({"model": _random_model(0).state_dict(), "epoch": 8}, base)
    # Given out of epoch order (as a shell glob sorts e100 before e9): the curve adds e9, e10, e100.
    # Snapshots named without ":raw" take --weights (a shell glob cannot carry the suffix).
    rows = swa_curve.main([f"{base}:raw", snaps[2], snaps[0].removesuffix(":raw"), snaps[1], "--at", "0,2",
                           "--weights", "raw", "--data", str(csv), "--bn-rows", "0"])
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    assert [c[:2] for c in cells] == [["1", "8"], ["3", "10"]]
    # Row 2 is exactly average.py's mean of base, e9 and e10, scored on PublicTest.
    srcs = [average.load_source(s) for s in (f"{base}:raw", snaps[0], snaps[1])]
    data = fer2013.load(str(csv))
    x, y = data["PublicTest"]
    m = average.swa_model(srcs, data["Training"][0])
    assert cells[1][2] == f"{100 * metrics(predict_probs(m, x, 'center', bf16=False), y)['accuracy']:.2f}%"
    with pytest.raises(SystemExit, match="--at"):
        swa_curve.main([f"{base}:raw", snaps[0], "--at", "2", "--data", str(csv)])


def test_horizon_fits_the_budget():
    # 1 epoch done at 100 s, 10 s per epoch, 500 s budget: 400 s left, 93% of it -> 37 more epochs.
    assert train.horizon_from_budget(1, 250, 100.0, 10.0, 500.0) == 38
    assert train.horizon_from_budget(1, 30, 100.0, 10.0, 500.0) == 30  # the cap wins
    assert train.horizon_from_budget(1, 250, 600.0, 10.0, 500.0) == 2  # over budget: one more at most


@pytest.fixture
def tiny_packed(tmp_path, monkeypatch):
    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    rng = np.random.default_rng(3)
    rows = [(i % 7, rng.integers(0, 256, (48, 48)), "Training") for i in range(40)]
    rows += [(i % 7, rng.integers(0, 256, (48, 48)), "PublicTest") for i in range(8)]
    csv = tmp_path / "tiny.csv"
    csv.write_text(_tiny_csv_text(rows))
    dst = tmp_path / "tiny.ferpack"
    fer2013.write_packed(str(csv), str(dst))
    return dst


def test_time_budget_stops_training_and_keeps_a_checkpoint(tmp_path, tiny_packed):
    rec = train.main(["--data", str(tiny_packed), "--batch", "8", "--init", "", "--run-dir", str(tmp_path / "r"),
                      "--epochs", "50", "--time-budget", "0.001", "--last-every", "0", "--no-eval"])
    recs = [json.loads(l) for l in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert rec is None and len(recs) == 1 and recs[0]["stopped_at_step"] == 1
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
    assert ck["epoch"] == 1 and ck["step"] == 1


def test_swa_schedule_and_running_mean():
    spe, ep = 10, 8
    k = train.swa_start_epoch(ep, 0.75, 2)
    assert k == 6 and train.swa_start_epoch(ep, 0.0, 2) is None
    lrs = [train.lr_at(s, spe, ep, 0.01, 2, swa_epoch=k, swa_lr=0.002) for s in range(spe * ep)]
    assert abs(lrs[19] - 0.01) < 1e-12  # the warm-up is as before
    assert all(a >= b for a, b in zip(lrs[20:60], lrs[21:60])) and abs(lrs[59] - 0.002) < 1e-4
    assert lrs[60:] == [0.002] * 20  # then constant: the SWA phase
    m = VGG19FER()
    snaps = []
    swa = None
    for n in range(3):
        with torch.no_grad():
            m.conv2.weight.normal_()
        snaps.append(m.conv2.weight.clone())
        swa = train.swa_update(swa, n, m)
    torch.testing.assert_close(swa["conv2.weight"], torch.stack(snaps).mean(0))
    assert "bn2.num_batches_tracked" not in swa


def test_swa_run_keeps_the_mean_of_its_last_epochs(tmp_path, tiny_packed):
    run = tmp_path / "r"
    train.main(["--data", str(tiny_packed), "--batch", "8", "--init", "", "--run-dir", str(run), "--epochs", "4",
                "--swa-start", "0.5", "--no-eval"])
    recs = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [r.get("swa_n") for r in recs] == [None, None, 1, 2]
    assert recs[2]["lr"] == recs[3]["lr"] == 0.002
    ck = torch.load(run / "last.pt", weights_only=False)
    assert ck["swa_n"] == 2 and set(ck["swa"]) == set(ck["model"])
    # epoch 4's weights are last.pt's; the mean is not (it holds epoch 3's too)
    assert not torch.equal(ck["swa"]["conv0.weight"], ck["model"]["conv0.weight"])


def test_device_run_trains_side_by_side_and_its_parts_join(tmp_path, tiny_packed):
    """The GPU command end to end on the CPU: runs, scoring, parts, summary; then the join here."""
    import average
    import device_run
    from evaluate import load_any

    out, work = tmp_path / "out", tmp_path / "work"
    s = device_run.main(["--data", str(tiny_packed), "--out", str(out), "--work", str(work), "--device", "cpu",
                         "--budget", "900", "--epochs", "3", "--batch", "8"])  # the cap ends it, not the clock
    assert [r["returncode"] for r in s["runs"]] == [0, 0]
    assert all([c["epoch"] for c in r["curve"]] == [1, 2, 3] for r in s["runs"])
    assert s["runs"][0]["curve"][0]["horizon"] == 3  # fixed after epoch 1, within the cap
    # two runs (seeds 0 and 1) drew different batches; the second is the SWA variant
    assert s["runs"][0]["curve"][0]["train_loss"] != s["runs"][1]["curve"][0]["train_loss"]
    assert s["runs"][1]["curve"][-1]["swa_n"] == 1
    names = sorted(c["name"] for c in s["candidates"])
    assert names == sorted([f"run{k}/{f}:ema{bn}" for k in (0, 1) for f in ("best.pt", "last.pt")
                            for bn in ("", " +bn")] + ["run1/last.pt:swa +bn"])
    best = max(s["candidates"], key=lambda c: (c["public_10crop"], c["public_center"]))
    assert s["chosen"]["public_10crop"] == best["public_10crop"]
    assert sorted(p.name for p in out.iterdir()) == sorted(s["chosen"]["parts"] + ["summary.json"])
    assert all(p.stat().st_size <= 16 * 2**20 for p in out.iterdir())
    ck_path = tmp_path / "joined.pt"
    device_run.main(["--join", str(out), "--to", str(ck_path)])
    m, info = load_any(str(ck_path), "cpu", "ema")
    # The joined weights are the chosen candidate's, f16-rounded, recalibrated as its name says.
    path, key = s["chosen"]["name"].split(" ")[0].split(":")
    want = VGG19FER()
    want.load_state_dict(torch.load(work / path, weights_only=False)[key])
    if s["chosen"]["bn_recalibrated"]:
        average.recalibrate_bn(want, fer2013.load(tiny_packed)["Training"][0])
    for k, v in want.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(m.state_dict()[k], v.half().float(), msg=k)
    # A part that went missing or changed is caught.
    part = out / s["chosen"]["parts"][0]
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    with pytest.raises(SystemExit, match="do not add up"):
        device_run.main(["--join", str(out), "--to", str(ck_path)])


# ---------------------------------------------------------------- ResNet18

def _random_resnet(seed=0):
    from model import ResNet18FER
    torch.manual_seed(seed)
    m = ResNet18FER()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def test_resnet18_is_the_reference_graph():
    m = _random_resnet()
    x = torch.randn(2, 1, 44, 44)
    assert m(x).shape == (2, 7)
    # Stages of two blocks, 1x1 projections where the shape changes, 6x6 before the pool.
    assert [getattr(m, f"layer{s}")[0].projects for s in range(1, 5)] == [False, True, True, True]
    with torch.no_grad():
        y = torch.relu(m.bn(m.conv(x)))
        for s in range(1, 5):
            y = getattr(m, f"layer{s}")(y)
    assert y.shape == (2, 512, 6, 6)
    # avg_pool2d(out, 4) on the 6x6 map is the mean of its top-left 4x4, as the reference has it.
    with torch.no_grad():
        want = m.classifier(y[:, :, :4, :4].mean((2, 3)))
    torch.testing.assert_close(m(x), want, rtol=1e-5, atol=1e-5)
    macs = 0
    hooks = []
    def count(mod, inp, out):
        nonlocal macs
        macs += mod.weight.numel() * out.shape[2] * out.shape[3]
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            hooks.append(mod.register_forward_hook(count))
    with torch.no_grad():
        m(torch.zeros(1, 1, 44, 44))
    assert 2.0e9 < 2 * macs < 2.3e9  # the issue's ~2.1 GFLOP per crop (a MAC counted as 2)


def test_resnet18_export_round_trip_names_its_architecture(tmp_path):
    from export import activation_maxima
    from model import arch_from_metadata, stored_outputs

    m = _random_resnet(2)
    out = tmp_path / "resnet18-fer2013.safetensors"
    export_model(m.state_dict(), out, {"epoch": 2}, arch="resnet18")
    m2, meta = load_safetensors(out)
    assert type(m2).__name__ == "ResNet18FER" and arch_from_metadata(meta) == "resnet18"
    assert meta["format"] == "fer-stream-resnet18" and meta["pool"] == "topleft4"
    assert meta["stages"] == "64:1,128:2,256:2,512:2" and meta["blocks"] == "2"
    for k, v in m.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(m2.state_dict()[k], v.half().float(), rtol=0, atol=0)
    golden = tmp_path / "resnet18-fer2013.golden.safetensors"
    write_golden(out, golden)
    _check_golden(out, golden)
    # int8 ranges: one per map the Swift engines keep (stem, 8 × conv1, 3 shortcuts, 8 block outputs;
    # outs[6] is layer2.0's shortcut).
    pixels = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    maxima = activation_maxima(m2, pixels, batch=4)
    assert len(maxima) == 20 and all(v > 0 for v in maxima)
    x = torch.from_numpy(pixels)[:, None, 2:46, 2:46]
    outs = stored_outputs(m2, (torch.cat([x, x.flip(3)]).float() / 255 - 0.5) / 0.25)
    assert (outs[6] < 0).any()  # layer2.0's shortcut has no ReLU: signed, its range a magnitude
    assert abs(maxima[6] - float(outs[6].abs().max())) < 1e-5


@need_data
def test_resnet18_trains_and_resumes(tmp_path):
    common = ["--arch", "resnet18", "--limit", "64", "--batch", "32", "--no-eval", "--init", "", "--run-dir", str(tmp_path)]
    train.main(["--epochs", "1"] + common)
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ck["args"]["arch"] == "resnet18" and "layer4.1.conv2.weight" in ck["model"]
    train.main(["--epochs", "2"] + common[2:])  # resumed: the network comes from last.pt, not --arch
    recs = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2]


# ---------------------------------------------------------------- FER+ votes

def _tiny_votes(path, rows):
    """rows: (row, usage, counts in FER+ column order)."""
    import ferplus
    lines = ["row,Usage,emotion,ferplus_image," + ",".join(ferplus.VOTE_COLUMNS)]
    lines += [f"{r},{u},0,x{r}.png," + ",".join(str(c) for c in counts) for r, u, counts in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ferplus_targets_majority_and_what_is_left_out(tmp_path):
    import ferplus
    votes = _tiny_votes(tmp_path / "v.csv", [
        (0, "Training", [8, 2, 0, 0, 0, 0, 0, 0, 0, 0]),   # neutral 8, happiness 2
        (1, "Training", [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]),   # a tie: neutral (the earlier column)
        (2, "Training", [0, 0, 0, 0, 0, 0, 0, 0, 7, 3]),   # unknown: left out
        (3, "Training", [0, 0, 0, 0, 0, 0, 0, 6, 0, 4]),   # contempt: not learnable by 7 classes
        (28709 + 12, "PublicTest", [0, 0, 10, 0, 0, 0, 0, 0, 0, 0]),
    ])
    d = ferplus.load(votes)
    tr = d["Training"]
    with pytest.raises(ValueError, match="outside"):
        ferplus.load(votes, {"Training": 28709, "PublicTest": 5, "PrivateTest": 5})  # its PublicTest has rows 0-4
    assert tr["index"].tolist() == [0, 1, 2, 3]
    assert tr["majority"].tolist() == [6, 6, -1, 7]            # FER2013 classes: neutral = 6, contempt = 7
    np.testing.assert_allclose(tr["targets"][0], [0, 0, 0, 0.2, 0, 0, 0.8])  # happy 0.2, neutral 0.8
    assert ferplus.trainable(tr).tolist() == [True, True, False, False]
    assert d["PublicTest"]["index"].tolist() == [12] and d["PublicTest"]["majority"].tolist() == [5]


def test_ferplus_training_with_frozen_convs_learns_the_votes(tmp_path, monkeypatch):
    """A short run on soft targets: frozen convolutions stay as loaded, the rest moves, the loss falls."""
    import ferplus
    import torch
    import train
    monkeypatch.setattr(fer2013, "CACHE_DIR", tmp_path / "cache")
    rng = np.random.default_rng(5)
    n_train, n_pub = 32, 8
    rows = [(i % 7, rng.integers(0, 256, (48, 48)), "Training") for i in range(n_train)]
    rows += [(i % 7, rng.integers(0, 256, (48, 48)), "PublicTest") for i in range(n_pub)]
    csv = tmp_path / "tiny.csv"
    csv.write_text(_tiny_csv_text(rows))
    vote_rows = [(i, "Training", [0] * (i % 3) + [10] + [0] * (9 - i % 3)) for i in range(n_train)]
    vote_rows += [(n_train + i, "PublicTest", [10] + [0] * 9) for i in range(n_pub)]
    votes = _tiny_votes(tmp_path / "v.csv", vote_rows)
    common = ["--data", str(csv), "--targets", "ferplus", "--ferplus", str(votes), "--batch", "16", "--init", "",
              "--run-dir", str(tmp_path / "r"), "--freeze-convs", "8", "--augment", "light", "--lr", "0.01",
              "--warmup-epochs", "0.1"]
    train.main(common + ["--epochs", "1", "--no-eval"])
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
    # Frozen: BatchNorm statistics of the first 8 layers did not move; layer 8 on did.
    assert ck["model"]["bn7.running_mean"].abs().max() == 0 and ck["model"]["bn7.running_var"].sub(1).abs().max() == 0
    assert ck["model"]["bn8.running_mean"].abs().max() > 0
    # Training further on the same votes lowers the loss; the PublicTest check runs against the top vote.
    train.main(common + ["--epochs", "6"])
    recs = [json.loads(l) for l in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert recs[-1]["train_loss"] < recs[0]["train_loss"]
    assert 0.0 <= recs[-1]["public_center"] <= 1.0


def test_device_run_on_the_votes_trains_on_them_and_chooses_on_the_top_vote(tmp_path, tiny_packed):
    """--ferplus: every run trains on the votes, and PublicTest is scored against the top vote."""
    import device_run
    # tiny_packed: Training rows 0-39 (FER2013 label i % 7), PublicTest rows 40-47 (label i % 7).
    rows = [(i, "Training", [0] * (i % 3) + [10] + [0] * (9 - i % 3)) for i in range(36)]
    rows += [(i, "Training", [0] * 8 + [10, 0]) for i in range(36, 40)]  # unknown: not trained on
    rows += [(40 + i, "PublicTest", [0] * 4 + [10] + [0] * 5) for i in range(6)]  # anger (FER2013 class 0)
    rows += [(46, "PublicTest", [0] * 9 + [10]), (47, "PublicTest", [0] * 7 + [10, 0, 0])]  # not-a-face, contempt
    votes = _tiny_votes(tmp_path / "v.csv", rows)
    data = fer2013.load(tiny_packed)
    x, y = device_run.public_test(data, str(votes))
    assert y.tolist() == [0] * 6  # the top vote, not FER2013's i % 7; the last two faces left out
    np.testing.assert_array_equal(x, data["PublicTest"][0][:6])
    assert device_run.public_test(data)[1].tolist() == data["PublicTest"][1].tolist()
    s = device_run.main(["--data", str(tiny_packed), "--ferplus", str(votes), "--out", str(tmp_path / "out"),
                         "--work", str(tmp_path / "work"), "--device", "cpu", "--run", "", "--budget", "900",
                         "--epochs", "1", "--batch", "8"])
    assert s["targets"] == "ferplus" and [r["returncode"] for r in s["runs"]] == [0]
    log = (tmp_path / "work" / "run0" / "train.log").read_text()
    assert "Training 36 images" in log and "PublicTest 6" in log
    assert all(c["public_10crop"] * 6 == round(c["public_10crop"] * 6) for c in s["candidates"])


def test_calibration_fits_the_temperature_that_minimises_nll():
    import torch
    import calibrate
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 7, (400,), generator=g)
    # Logits that are right 60% of the time but far too confident: the fitted T must soften them.
    base = torch.randn(400, 7, generator=g)
    base[torch.arange(400), torch.where(torch.rand(400, generator=g) < 0.6, y, (y + 1) % 7)] += 3
    logits = (base * 2.5).unsqueeze(0).repeat(10, 1, 1)
    t = calibrate.fit_temperature(logits, y)
    assert 1.5 < t < 10
    grid = [calibrate.nll(logits, y, x) for x in (t * 0.8, t, t * 1.25)]
    assert grid[1] <= grid[0] and grid[1] <= grid[2]
    assert calibrate.ece(calibrate.mean_probs(logits, t), y) < calibrate.ece(calibrate.mean_probs(logits, 1.0), y)


# ---------------------------------------------------------------- the distilled student

def test_student_layout_costs_a_tenth_of_the_vgg19_and_exports_its_layout(tmp_path):
    from model import CHANNELS, STUDENT_CHANNELS, arch_from_metadata, build, multiply_adds, parse_layout

    assert multiply_adds(CHANNELS) == 673_518_080  # the VGG19 at 44x44, classifier included
    assert multiply_adds(STUDENT_CHANNELS) * 10 <= multiply_adds(CHANNELS)
    torch.manual_seed(3)
    m = build("vgg")
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("running_var"):
                v.uniform_(0.5, 1.5)
            elif k.endswith("running_mean"):
                v.normal_(0, 0.1)
    out = tmp_path / "student.safetensors"
    export_model(m.state_dict(), out, {"epoch": 1}, arch="vgg")
    m2, meta = load_safetensors(out)
    assert meta["format"] == "fer-stream-vgg" and arch_from_metadata(meta) == "vgg"
    assert parse_layout(meta["channels"]) == STUDENT_CHANNELS and m2.channels == STUDENT_CHANNELS
    x = torch.randn(3, 1, 44, 44)
    m.eval()
    m2.eval()
    half = {k: (v.half().float() if v.is_floating_point() else v) for k, v in m.state_dict().items()}
    m.load_state_dict(half)
    torch.testing.assert_close(m2(x), m(x), rtol=1e-4, atol=1e-4)
    golden = tmp_path / "student.golden.safetensors"
    write_golden(out, golden)
    _check_golden(out, golden)


def test_distillation_targets_mix_labels_and_teacher(tmp_path):
    teacher_csv = tmp_path / "t.csv"
    teacher_csv.write_text("row,angry,disgust,fear,happy,sad,surprise,neutral\n"
                           "0,0.1,0,0,0.9,0,0,0\n3,0,0,0,0,0,0.5,0.5\n")
    teacher = train.load_teacher(str(teacher_csv))
    assert sorted(teacher) == [0, 3]
    labels = torch.tensor([6, 2])  # class indices (FER2013 labels)
    t = train.distillation_targets(labels, torch.tensor([0, 3]), teacher, 0.75)
    torch.testing.assert_close(t[0], torch.tensor([0.075, 0, 0, 0.675, 0, 0, 0.25]))
    torch.testing.assert_close(t[1], torch.tensor([0, 0, 0.25, 0, 0, 0.375, 0.375]))
    votes = torch.tensor([[0, 0, 0, 0.5, 0, 0, 0.5]])
    torch.testing.assert_close(train.distillation_targets(votes, torch.tensor([3]), teacher, 0.5)[0],
                               torch.tensor([0, 0, 0, 0.25, 0, 0.25, 0.5]))
    with pytest.raises(SystemExit, match="no probabilities for 1"):
        train.distillation_targets(labels, torch.tensor([0, 1]), teacher, 0.5)


def test_student_learns_from_a_teacher_file(tmp_path, tiny_packed):
    """A short distillation run of the student: it trains on the teacher's probabilities and resumes
    as a student."""
    teacher = tmp_path / "teacher.csv"
    teacher.write_text("row,angry,disgust,fear,happy,sad,surprise,neutral\n"
                       + "".join(f"{i},0,0,0,1,0,0,0\n" for i in range(40)))  # tiny_packed's 40 Training rows
    common = ["--data", str(tiny_packed), "--arch", "vgg", "--teacher", str(teacher), "--teacher-weight", "1",
              "--batch", "16", "--init", "", "--run-dir", str(tmp_path / "r"), "--augment", "light",
              "--lr", "0.05", "--warmup-epochs", "0.1", "--dropout", "0.1", "--no-eval"]
    train.main(common + ["--epochs", "1"])
    train.main(common + ["--epochs", "8"])
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
    assert ck["args"]["arch"] == "vgg" and "conv6.weight" in ck["model"] and "conv7.weight" not in ck["model"]
    recs = [json.loads(l) for l in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    # Every target says happy: the student learns to say it.
    assert recs[-1]["train_loss"] < recs[0]["train_loss"] and recs[-1]["train_acc"] == 1.0
