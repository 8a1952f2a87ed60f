"""The reference work's CIFAR-style networks for 1-channel 44x44 FER input: VGG19 and ResNet18.

Module names match the exported tensor names. VGG19: conv{i}, bn{i} (i = 0..15), classifier.
ResNet18: conv, bn (the stem), layer{s}.{b}.conv1/bn1/conv2/bn2 (s = 1..4, b = 0..1), and where a
block changes the shape layer{s}.0.shortcut_conv/shortcut_bn; classifier.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CHANNELS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
            512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
INPUT_SIZE = 44
CROP_FROM = 48
NORM_MEAN = 0.5
NORM_STD = 0.25
BN_EPS = 1e-5


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """pixels in 0..255 (any float/uint8 tensor) -> model input."""
    return (pixels.float() / 255.0 - NORM_MEAN) / NORM_STD


# The distilled student (--arch vgg): the same chain of 3x3 conv+BN+ReLU and 2x2 max-pools, 7
# convolutions, 60.7 M multiply-adds a 44x44 crop against the VGG19's 673.5 M (1/11). Pooling
# right after the first convolution is what keeps the 44x44 stage cheap.
STUDENT_CHANNELS = [32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, "M"]


def parse_layout(text: str) -> list:
    """"64,64,M,..." -> [64, 64, "M", ...] (the metadata's `channels`)."""
    return [c if c == "M" else int(c) for c in (t.strip() for t in text.split(","))]


def multiply_adds(layout: list, side: int = INPUT_SIZE, c_in: int = 1, classes: int = 7) -> int:
    """Multiply-adds of one crop through a VGG layout and its classifier."""
    total = 0
    for c in layout:
        if c == "M":
            side //= 2
            continue
        total += side * side * 9 * c_in * c
        c_in = c
    return total + c_in * side * side * classes


class VGG19FER(nn.Module):
    """The reference VGG19, or with `channels` any VGG layout (numbers: conv widths, "M": pool)."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.5, channels=None):
        super().__init__()
        self.channels = list(channels or CHANNELS)
        c_in = in_channels
        i = 0
        side = INPUT_SIZE
        for c in self.channels:
            if c == "M":
                side //= 2
            if c == "M":
                continue
            setattr(self, f"conv{i}", nn.Conv2d(c_in, c, 3, padding=1, bias=True))
            setattr(self, f"bn{i}", nn.BatchNorm2d(c, eps=BN_EPS))
            c_in = c
            i += 1
        self.num_convs = i
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 44, 44) normalised input -> (N, 7) logits."""
        i = 0
        for c in self.channels:
            if c == "M":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)), inplace=True)
                i += 1
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, the identity (or a 1x1 conv + BN where the shape changes) added, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.projects = stride != 1 or c_in != c_out
        if self.projects:
            self.shortcut_conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        short = self.shortcut_bn(self.shortcut_conv(x)) if self.projects else x
        return F.relu(out + short, inplace=True)


RESNET_STAGES = [(64, 1), (128, 2), (256, 2), (512, 2)]  # (channels, stride of the first block)
RESNET_BLOCKS = 2
# The reference pools with avg_pool2d(out, 4): on a 44x44 input the last map is 6x6, so this is the
# mean of its top-left 4x4 (the rest is dropped). Kept as the reference has it; the exported
# metadata names it ("pool": "topleft4") so the Swift engines do the same.
RESNET_POOL = 4


class ResNet18FER(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(64, eps=BN_EPS)
        c_in = 64
        for s, (c, stride) in enumerate(RESNET_STAGES, start=1):
            blocks = []
            for b in range(RESNET_BLOCKS):
                blocks.append(BasicBlock(c_in, c, stride if b == 0 else 1))
                c_in = c
            setattr(self, f"layer{s}", nn.Sequential(*blocks))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 44, 44) normalised input -> (N, 7) logits."""
        x = F.relu(self.bn(self.conv(x)), inplace=True)
        for s in range(1, len(RESNET_STAGES) + 1):
            x = getattr(self, f"layer{s}")(x)
        x = F.avg_pool2d(x, RESNET_POOL)  # 6x6 -> 1x1 from the top-left 4x4 (floor mode)
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


class VGGFER(VGG19FER):
    """A VGG of another layout (the student by default): `--arch vgg`, format fer-stream-vgg."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.5, channels=None):
        super().__init__(num_classes, in_channels, dropout, channels or STUDENT_CHANNELS)


ARCHS = {"vgg19": VGG19FER, "resnet18": ResNet18FER, "vgg": VGGFER}
FORMATS = {"vgg19": "fer-stream-vgg19", "resnet18": "fer-stream-resnet18", "vgg": "fer-stream-vgg"}


def build(arch: str = "vgg19", **kw) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")
    if arch != "vgg":
        kw.pop("channels", None)
    return ARCHS[arch](**kw)


def arch_of(model: nn.Module) -> str:
    return next(k for k, v in reversed(list(ARCHS.items())) if isinstance(model, v))


def arch_from_metadata(meta: dict) -> str:
    """Older VGG19 files have no "architecture" entry; their format says it."""
    if "architecture" in meta:
        return meta["architecture"]
    return next((k for k, f in FORMATS.items() if f == meta.get("format")), "vgg19")


def load_safetensors(path, device: str = "cpu"):
    """Load an exported model (f16 on disk) into an f32 network of the architecture its metadata
    names. Returns (model, metadata)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    classes = meta.get("classes")
    layout = parse_layout(meta["channels"]) if "channels" in meta else None
    m = build(arch_from_metadata(meta), num_classes=len(classes.split(",")) if classes else 7, channels=layout)
    sd = m.state_dict()
    for k in list(sd):
        if k.endswith("num_batches_tracked"):
            state[k] = sd[k]
    # A calibrated file's temperature, folded into the classifier as fer-stream folds it:
    # softmax(logits / T) is what the file's network means.
    t = float(meta.get("temperature", "1"))
    if t != 1.0:
        state["classifier.weight"] = state["classifier.weight"] / t
        state["classifier.bias"] = state["classifier.bias"] / t
    m.load_state_dict(state, strict=True)
    return m.to(device), meta


@torch.no_grad()
def stored_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every map the Swift engines keep, in their order of convolutions (Sources/Recognizer/
    NetworkWeights.swift): VGG19, each conv's output after its ReLU (before any pool); ResNet18,
    the stem's output, then per block conv1's (after ReLU), the projection shortcut's (no ReLU,
    signed) where there is one, and the block's output (after the sum and ReLU)."""
    outs = []
    if isinstance(model, VGG19FER):
        i = 0
        for c in model.channels:
            if c == "M":
                x = F.max_pool2d(x, 2, 2)
                continue
            x = F.relu(getattr(model, f"bn{i}")(getattr(model, f"conv{i}")(x)))
            outs.append(x)
            i += 1
        return outs
    x = F.relu(model.bn(model.conv(x)))
    outs.append(x)
    for s in range(1, len(RESNET_STAGES) + 1):
        for block in getattr(model, f"layer{s}"):
            first = F.relu(block.bn1(block.conv1(x)))
            outs.append(first)
            if block.projects:
                short = block.shortcut_bn(block.shortcut_conv(x))
                outs.append(short)
            else:
                short = x
            x = F.relu(block.bn2(block.conv2(first)) + short)
            outs.append(x)
    return outs
