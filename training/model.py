"""CIFAR-style VGG19 for 1-channel 44x44 FER input.

Module names match the exported tensor names: conv{i}, bn{i} (i = 0..15), classifier.
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


class VGG19FER(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        c_in = in_channels
        i = 0
        for c in CHANNELS:
            if c == "M":
                continue
            setattr(self, f"conv{i}", nn.Conv2d(c_in, c, 3, padding=1, bias=True))
            setattr(self, f"bn{i}", nn.BatchNorm2d(c, eps=BN_EPS))
            c_in = c
            i += 1
        self.num_convs = i
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 44, 44) normalised input -> (N, 7) logits."""
        i = 0
        for c in CHANNELS:
            if c == "M":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)), inplace=True)
                i += 1
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


def load_safetensors(path, device: str = "cpu"):
    """Load an exported model (f16 on disk) into an f32 VGG19FER. Returns (model, metadata)."""
    from safetensors import safe_open

    m = VGG19FER()
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    sd = m.state_dict()
    for k in list(sd):
        if k.endswith("num_batches_tracked"):
            state[k] = sd[k]
    m.load_state_dict(state, strict=True)
    return m.to(device), meta
