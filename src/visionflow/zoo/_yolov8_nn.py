"""PyTorch modules of the YOLOv8 detector (Ultralytics ``yolov8.yaml``, layer for layer).

torch is imported at module level: library code reaches this module through
:mod:`visionflow.zoo.yolov8`, which checks that torch is installed first.
Module names and defaults follow Ultralytics (``Conv``, ``Bottleneck``, ``C2f``, ``SPPF``,
``DFL``, ``Detect``) so that parameter counts and exported graphs can be compared one to one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

REG_MAX = 16
"""Bins of the distribution-focal box regression (DFL) per box side in YOLOv8."""
STRIDES = (8, 16, 32)


def make_divisible(channels: float, divisor: int = 8) -> int:
    """Round ``channels`` up to a multiple of ``divisor``."""
    return int(math.ceil(channels / divisor) * divisor)


class Conv(nn.Module):
    """Conv2d (no bias, 'same' padding) → BatchNorm2d → SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs with an optional residual connection."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 1.0) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 3)
        self.cv2 = Conv(hidden, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two convolutions: split, ``n`` chained Bottlenecks, concat every output."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools, concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1)
        self.cv2 = Conv(hidden * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """Expected value of a softmax over ``bins`` bins: ``(N, 4*bins, A)`` → ``(N, 4, A)``."""

    def __init__(self, bins: int = REG_MAX) -> None:
        super().__init__()
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1)
        self.bins = bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, a = x.shape
        probs = x.view(n, 4, self.bins, a).transpose(2, 1).softmax(1)
        return self.conv(probs).view(n, 4, a)


def make_anchors(
    feats: list[torch.Tensor], strides: tuple[int, ...], offset: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid-cell centres ``(A, 2)`` in feature units and their strides ``(A, 1)``."""
    points, stride_column = [], []
    for feat, stride in zip(feats, strides, strict=True):
        h, w = feat.shape[2:]
        sx = torch.arange(w, dtype=feat.dtype, device=feat.device) + offset
        sy = torch.arange(h, dtype=feat.dtype, device=feat.device) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        stride_column.append(torch.full((h * w, 1), stride, dtype=feat.dtype, device=feat.device))
    return torch.cat(points), torch.cat(stride_column)


def _branch(c1: int, hidden: int, c2: int, bias: float) -> nn.Sequential:
    """Two 3x3 Convs and a 1x1 output convolution whose bias starts at ``bias``."""
    out = nn.Conv2d(hidden, c2, 1)
    nn.init.constant_(out.get_parameter("bias"), bias)
    return nn.Sequential(Conv(c1, hidden, 3), Conv(hidden, hidden, 3), out)


class Detect(nn.Module):
    """Decoupled, anchor-free head: a box branch (DFL) and a class branch per pyramid level.

    In training mode ``forward`` returns the raw per-level maps ``(N, 4*reg_max + nc, H, W)``;
    in eval mode it returns ``(N, 4 + nc, A)``: ``cx, cy, w, h`` in input pixels, then sigmoid
    class scores, ``A = sum(H*W)`` over the levels.
    """

    def __init__(
        self,
        nc: int,
        ch: tuple[int, ...],
        strides: tuple[int, ...] = STRIDES,
        reg_max: int = REG_MAX,
    ) -> None:
        super().__init__()
        self.nc = nc
        self.reg_max = reg_max
        self.strides = strides
        c2 = max(16, ch[0] // 4, 4 * reg_max)
        c3 = max(ch[0], min(nc, 100))
        # Ultralytics' bias prior: box logits 1.0, class logits for ~5 objects per 640² image
        self.cv2 = nn.ModuleList(_branch(x, c2, 4 * reg_max, 1.0) for x in ch)
        self.cv3 = nn.ModuleList(
            _branch(x, c3, nc, math.log(5 / nc / (640 / s) ** 2))
            for x, s in zip(ch, strides, strict=True)
        )
        self.dfl = DFL(reg_max)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        x = [
            torch.cat((box(f), cls(f)), 1)
            for f, box, cls in zip(x, self.cv2, self.cv3, strict=True)
        ]
        if self.training:
            return x
        anchors, stride = make_anchors(x, self.strides)
        flat = torch.cat([f.flatten(2) for f in x], 2)
        box, cls = flat.split((4 * self.reg_max, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        centres = anchors.T.unsqueeze(0)
        x1y1, x2y2 = centres - lt, centres + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * stride.T
        return torch.cat((xywh, cls.sigmoid()), 1)


class YOLOv8(nn.Module):
    """YOLOv8 detection network: backbone (P3–P5), PAN neck and :class:`Detect` head.

    ``depth`` scales the number of Bottlenecks, ``width`` the channels, capped at
    ``max_channels`` before scaling (Ultralytics' ``[depth, width, max_channels]``).
    ``reg_max`` is the number of DFL bins per box side (16 in YOLOv8).
    """

    def __init__(
        self, nc: int, depth: float, width: float, max_channels: int, reg_max: int = REG_MAX
    ) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return make_divisible(min(c, max_channels) * width)

        def n(k: int) -> int:
            return max(round(k * depth), 1)

        self.stem = nn.Sequential(Conv(3, ch(64), 3, 2), Conv(ch(64), ch(128), 3, 2))
        self.b2 = C2f(ch(128), ch(128), n(3), True)
        self.b3 = nn.Sequential(Conv(ch(128), ch(256), 3, 2), C2f(ch(256), ch(256), n(6), True))
        self.b4 = nn.Sequential(Conv(ch(256), ch(512), 3, 2), C2f(ch(512), ch(512), n(6), True))
        self.b5 = nn.Sequential(
            Conv(ch(512), ch(1024), 3, 2),
            C2f(ch(1024), ch(1024), n(3), True),
            SPPF(ch(1024), ch(1024)),
        )
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top_down4 = C2f(ch(1024) + ch(512), ch(512), n(3))
        self.top_down3 = C2f(ch(512) + ch(256), ch(256), n(3))
        self.down3 = Conv(ch(256), ch(256), 3, 2)
        self.bottom_up4 = C2f(ch(256) + ch(512), ch(512), n(3))
        self.down4 = Conv(ch(512), ch(512), 3, 2)
        self.bottom_up5 = C2f(ch(512) + ch(1024), ch(1024), n(3))
        self.detect = Detect(nc, (ch(256), ch(512), ch(1024)), reg_max=reg_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        p3 = self.b3(self.b2(self.stem(x)))
        p4 = self.b4(p3)
        p5 = self.b5(p4)
        t4 = self.top_down4(torch.cat((self.up(p5), p4), 1))
        o3 = self.top_down3(torch.cat((self.up(t4), p3), 1))
        o4 = self.bottom_up4(torch.cat((self.down3(o3), t4), 1))
        o5 = self.bottom_up5(torch.cat((self.down4(o4), p5), 1))
        return self.detect([o3, o4, o5])
