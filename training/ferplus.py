"""FER+ (Barsoum et al. 2016): ten annotators' votes per FER2013 face, joined to our FER2013 rows.

`../shared/data/ferplus/fer2013plus.csv` has a `row` column (0-based data row of fer2013.csv.gz,
whose rows are ordered Training, PublicTest, PrivateTest) and the vote counts in FER+'s own column
order. Here the votes become, per split:
- `targets`: the annotators' distribution over FER2013's 7 classes (contempt, unknown and
  not-a-face votes dropped, the rest renormalised) — the soft target the network trains against;
- `majority`: the top vote in FER+'s column order (ties go to the earlier column, as `np.argmax` in
  FER+'s own tools), as a FER2013 class index, 7 for contempt (no 7-class network can say it, so it
  counts as wrong), -1 where the top vote is unknown or not-a-face (left out).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO_ROOT.parent / "shared" / "data" / "ferplus" / "fer2013plus.csv"

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
# FER+ column -> FER2013 class (angry, disgust, fear, happy, sad, surprise, neutral); contempt = 7.
TO_FER2013 = (6, 3, 5, 4, 0, 1, 2, 7)
# The data rows before each split in FER2013's canonical CSV (Training, PublicTest, PrivateTest).
SPLIT_SIZES = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}


def load(path: str | Path | None = None, split_sizes: dict[str, int] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{split: {"index": row within the split, "votes": (N,10) int, "targets": (N,7) f32, "majority": (N,) int}}.

    `split_sizes`: the FER2013 file's rows per split (its rows are ordered by split), to turn the
    votes' `row` into an index within the split; FER2013's own sizes by default."""
    sizes = split_sizes or SPLIT_SIZES
    starts = {"Training": 0, "PublicTest": sizes["Training"], "PrivateTest": sizes["Training"] + sizes["PublicTest"]}
    p = Path(path) if path else DEFAULT_CSV
    rows: dict[str, list] = {s: [] for s in starts}
    with open(p, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("row", "Usage", *VOTE_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{p}: missing columns {missing}")
        for r in reader:
            usage = r["Usage"].strip()
            if usage not in rows:
                raise ValueError(f"{p}: unknown Usage {usage!r}")
            rows[usage].append((int(r["row"]), [int(r[c]) for c in VOTE_COLUMNS]))
    out = {}
    for split, items in rows.items():
        index = np.array([r - starts[split] for r, _ in items], dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= sizes.get(split, np.iinfo(np.int64).max)):
            raise ValueError(f"{p}: a {split} row outside that split of the FER2013 file")
        votes = np.array([v for _, v in items], dtype=np.int64).reshape(-1, len(VOTE_COLUMNS))
        out[split] = {"index": index, "votes": votes, "targets": targets(votes), "majority": majority(votes)}
    return out


def targets(votes: np.ndarray) -> np.ndarray:
    t = np.zeros((votes.shape[0], 7), np.float32)
    for col, cls in enumerate(TO_FER2013[:7]):
        t[:, cls] = votes[:, col]
    s = t.sum(1, keepdims=True)
    return np.divide(t, s, out=np.zeros_like(t), where=s > 0)


def majority(votes: np.ndarray) -> np.ndarray:
    top = votes.argmax(1)
    lut = np.array(list(TO_FER2013) + [-1, -1])
    return lut[top]


def trainable(split: dict[str, np.ndarray]) -> np.ndarray:
    """Faces a 7-class network can learn from: a top vote among the 7 classes."""
    m = split["majority"]
    return (m >= 0) & (m < 7) & (split["targets"].sum(1) > 0)


def top_vote_faces(x: np.ndarray, split: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The faces of `x` (one FER2013 split's images, in file order) that a 7-class network is scored
    on against the votes (`trainable`), and their top vote as a FER2013 class."""
    keep = trainable(split)
    return x[split["index"][keep]], split["majority"][keep]
